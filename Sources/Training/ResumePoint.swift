import Checkpoint
import Distributed
import Engine
import Foundation

/// A checkpoint chosen to resume from, read and verified, with its state decoded.
///
/// Rank 0 finds and reads the file and broadcasts its bytes, so every rank resumes from the same
/// checkpoint even when the run directory is not on a shared file system; every rank then
/// verifies and decodes the bytes itself.
public struct ResumePoint {
    /// The file resumed from.
    public let path: String
    /// Where the run stood.
    public let state: TrainingState
    /// Parameters, buffers and optimizer momentum.
    public let tensors: [NamedTensor]

    /// Decodes a checkpoint's bytes.
    public init(bytes: Data, path: String) throws {
        let file = try CheckpointFile.decode(bytes, path: path)
        state = try TrainingState.decode(file.metadata, path: path)
        self.path = path
        tensors = file.tensors
    }

    /// Copies the checkpoint's parameters and batch-norm buffers into `network` (for evaluation
    /// or resuming), checking every name and shape.
    public func restore(into network: Network) throws {
        try CheckpointTensors.restore(tensors, from: path, into: network, momentum: nil)
    }

    /// Resolves `--resume`: nil (fresh start), `auto` (the newest usable checkpoint of run
    /// `runID` in `runDirectory`, falling back past damaged ones; fresh when there is none), or a
    /// path: a checkpoint file, or a run directory for its newest usable checkpoint.
    public static func find(_ spec: String?, runDirectory: String, runID: String? = nil, communicator: Communicator,
                            say: (String) -> Void = { FileHandle.standardOutput.write(Data(($0 + "\n").utf8)) }) throws -> ResumePoint? {
        // Every rank takes part in the same collectives whatever its flag says, and ranks that
        // disagree about --resume stop instead of waiting for each other forever.
        let leaderSpec = communicator.leaders(spec ?? "")
        if communicator.anyRank(leaderSpec != (spec ?? "")) {
            communicator.abort("the ranks were given different --resume values (rank 0: '\(leaderSpec)', "
                               + "this rank: '\(spec ?? "")'); give every rank the same flags")
        }
        guard let spec else { return nil }
        var bytes: [UInt8] = []
        var chosen = ""
        var failure: Error?
        if communicator.isLeader {
            do {
                (bytes, chosen) = try leaderRead(spec, runDirectory: runDirectory, runID: runID, say: say)
            } catch {
                failure = error
            }
        }
        // Agree on success before the broadcast, so no rank waits for bytes that never come.
        let failed = communicator.anyRank(failure != nil)
        if let failure { throw failure }
        if failed { communicator.abort("rank 0 could not read the checkpoint to resume from") }
        let name = communicator.leaders(chosen)
        bytes = communicator.leaders(bytes)
        guard !bytes.isEmpty else { return nil }
        return try ResumePoint(bytes: Data(bytes), path: name)
    }

    /// Rank 0's side of `find`: the chosen file's bytes and path, or empty for a fresh start.
    static func leaderRead(_ spec: String, runDirectory: String, runID: String?, say: (String) -> Void) throws -> ([UInt8], String) {
        let found = spec == "auto"
            ? try newest(in: runDirectory, runID: runID, say: say)
            : try load(spec, say: say)
        guard let found else {
            say("--resume auto: no checkpoint in \(runDirectory); starting fresh")
            return ([], "")
        }
        say("resuming from \(found.point.path)")
        return ([UInt8](found.bytes), found.point.path)
    }

    /// A checkpoint named by a user (`--resume PATH`, `eval --checkpoint`, `inspect`): the file
    /// itself, or for a run directory its newest usable checkpoint, as `--resume auto` picks it.
    public static func load(_ path: String, say: (String) -> Void = { _ in }) throws -> (bytes: Data, point: ResumePoint) {
        if POSIXFile.isDirectory(path) {
            guard let found = try newest(in: path, runID: RunDirectory.runID(of: path), say: say) else {
                throw CheckpointError.notFound(path: POSIXFile.join(path, "ckpt-e*-s*.ddpt"))
            }
            return found
        }
        let bytes = try POSIXFile.readAll(path)
        return (bytes, try ResumePoint(bytes: bytes, path: path))
    }

    /// The newest usable checkpoint of run `runID` (any run when nil) in `directory`: the
    /// candidates newest step first, skipping, with a warning, files that are damaged, fail
    /// validation or belong to another run. Nil when there is no candidate at all. This is the
    /// one resolution `--resume auto`, `--resume DIR`, `eval` and `inspect` share.
    public static func newest(in directory: String, runID: String?,
                              say: (String) -> Void) throws -> (bytes: Data, point: ResumePoint)? {
        let candidates = CheckpointDirectory.candidates(in: directory)
        guard !candidates.isEmpty else { return nil }
        for (i, path) in candidates.enumerated() {
            let next = i + 1 < candidates.count ? "falling back to \(candidates[i + 1])" : "no older checkpoint left"
            do {
                let bytes = try POSIXFile.readAll(path)
                let point = try ResumePoint(bytes: bytes, path: path)
                let owner = point.state.configuration.runID
                if let runID, let owner, owner != runID {
                    say("warning: checkpoint \(path) belongs to run \(owner), not to this directory's run \(runID); \(next)")
                    continue
                }
                return (bytes, point)
            } catch {
                say("warning: checkpoint \(path) is unusable (\(error)); \(next)")
            }
        }
        throw ResumeError.noValidCheckpoint(directory: directory, tried: candidates.count)
    }

    /// The configuration to resume with: the checkpoint's, with the node-local and performance
    /// settings of `requested`, and the per-rank batch re-derived for `worldSize` ranks so that
    /// the global batch, and with it the sample order and schedule, stays the same.
    public func reconcile(_ requested: TrainingConfiguration, worldSize: Int,
                          explicitBatchSize: Int?) throws -> TrainingConfiguration {
        let saved = state.configuration
        var c = saved
        c.takeSessionSettings(from: requested)
        let global = state.globalBatchSize
        guard global % worldSize == 0 else {
            throw ResumeError.worldSizeMismatch(path: path, globalBatch: global, savedRanks: state.worldSize, ranks: worldSize)
        }
        c.batchSize = global / worldSize
        c.worldSize = worldSize
        if let explicitBatchSize, explicitBatchSize != c.batchSize {
            throw ResumeError.contradictingFlags(path: path, fields: [
                "--batch-size \(explicitBatchSize) (the checkpoint's global batch \(global) over \(worldSize) rank(s) needs \(c.batchSize))",
            ])
        }
        // Anything else the flags set must agree with the checkpoint.
        var mine = requested
        mine.batchSize = c.batchSize
        mine.worldSize = c.worldSize
        mine.takeSessionSettings(from: c)
        mine.checkpoint = c.checkpoint
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let differing = ConfigurationDifference.fields(try encoder.encode(c.sharedFields), try encoder.encode(mine.sharedFields))
        guard differing.isEmpty else { throw ResumeError.contradictingFlags(path: path, fields: differing) }
        return c
    }
}

/// Why a run cannot resume from a checkpoint.
public enum ResumeError: Error, CustomStringConvertible, Equatable {
    /// The metadata does not decode as a training state.
    case unreadableState(path: String, reason: String)
    /// The training state decodes but breaks a rule; `reason` names the file and the field.
    case invalidState(path: String, reason: String)
    /// `--resume auto` found checkpoints but none was usable.
    case noValidCheckpoint(directory: String, tried: Int)
    /// The global batch cannot be split over the new number of ranks.
    case worldSizeMismatch(path: String, globalBatch: Int, savedRanks: Int, ranks: Int)
    /// Flags given on the command line contradict the checkpoint.
    case contradictingFlags(path: String, fields: [String])
    /// A tensor of the checkpoint does not fit the model.
    case tensorMismatch(path: String, name: String, reason: String)

    public var description: String {
        switch self {
        case .unreadableState(let path, let reason):
            return "\(path): the training state in the checkpoint cannot be read: \(reason); was it written by another tool or ddptrain version?"
        case .invalidState(_, let reason):
            return reason
        case .noValidCheckpoint(let directory, let tried):
            return "--resume auto: all \(tried) checkpoint(s) in \(directory) are unusable (see the warnings above); "
                + "remove them or pass --resume PATH"
        case .worldSizeMismatch(let path, let globalBatch, let savedRanks, let ranks):
            return "\(path) was written by \(savedRanks) rank(s) with global batch \(globalBatch), which \(ranks) ranks cannot split "
                + "evenly; resume with a number of ranks that divides \(globalBatch) so the sample order and schedule stay the same"
        case .contradictingFlags(let path, let fields):
            return "flags contradict the checkpoint \(path) in: \(fields.joined(separator: ", ")). "
                + "Drop those flags to continue the saved run, or start a new run in another --run-dir"
        case .tensorMismatch(let path, let name, let reason):
            return "\(path): tensor \(name) \(reason); the checkpoint is of a different model"
        }
    }
}
