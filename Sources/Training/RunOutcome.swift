import Foundation

/// How a training run ended, with what is on disk, so the command can exit honestly: a run whose
/// last checkpoint failed never ends with status 0.
public enum RunOutcome: Equatable, Sendable {
    /// Every epoch trained and, when checkpoints are on, the final checkpoint written.
    case finished
    /// Stopped early by SIGTERM or SIGINT; `checkpoint` is the one written on the way out (nil
    /// when checkpoints are disabled).
    case stoppedBySignal(checkpoint: String?)
    /// The last checkpoint attempted (`name`) could not be written (`reason`); `onDisk` is the
    /// newest checkpoint of the run that is on disk, if any. `stopped` tells whether the run ended
    /// early because of it (`--on-checkpoint-failure stop`).
    case checkpointFailed(name: String, reason: String, onDisk: String?, stopped: Bool)

    /// What to tell the user, or nil for a run that finished.
    public var message: String? {
        switch self {
        case .finished:
            return nil
        case .stoppedBySignal(let checkpoint):
            return checkpoint.map { "stopped by a signal; checkpoint \($0) holds the run's state: continue with --resume auto" }
                ?? "stopped by a signal; checkpoints are disabled (--no-checkpoints), so this run's progress is not on disk"
        case .checkpointFailed(let name, let reason, let onDisk, let stopped):
            return "checkpoint \(name) could not be written: \(reason). "
                + (stopped ? "The run stopped (--on-checkpoint-failure stop). " : "")
                + (onDisk.map { "The newest checkpoint on disk is \($0): continue with --resume auto once the cause is fixed" }
                    ?? "No checkpoint of this run is on disk")
        }
    }
}

/// Rank 0's record of checkpoint writes, updated by the background writer's completions.
final class CheckpointLedger: @unchecked Sendable {
    private let lock = NSLock()
    private var written: String?
    private var failure: (name: String, reason: String)?
    private var lastFailed = false

    /// Records the outcome of the write of `name`.
    func record(_ name: String, _ result: Result<String, Error>) {
        lock.withLock {
            switch result {
            case .success(let path): written = path; lastFailed = false
            case .failure(let error): failure = (name, "\(error)"); lastFailed = true
            }
        }
    }

    /// The newest checkpoint written in this session, the latest failed write, and whether the
    /// last attempt was that failure.
    var state: (written: String?, failure: (name: String, reason: String)?, lastFailed: Bool) {
        lock.withLock { (written, failure, lastFailed) }
    }
}
