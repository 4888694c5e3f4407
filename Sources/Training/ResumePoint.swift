import Checkpoint
import Engine
import Foundation

/// A checkpoint chosen to resume from, read and verified, with its state decoded; and how a
/// user's path names one (a file, or a run directory's newest usable checkpoint).
///
/// Which checkpoint all ranks take is `find` (ResumePoint+Ranks.swift); the configuration the
/// session resumes with is `reconcile` (ResumePoint+Reconcile.swift).
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

    /// A resume point from a state in memory, for tests of what a resume derives from it.
    init(path: String, state: TrainingState, tensors: [NamedTensor] = []) {
        self.path = path
        self.state = state
        self.tensors = tensors
    }

    /// Copies the checkpoint's parameters and batch-norm buffers into `network` (for evaluation
    /// or resuming), checking every name and shape.
    public func restore(into network: Network) throws {
        try CheckpointTensors.restore(tensors, from: path, into: network, momentum: nil)
    }

    /// A checkpoint named by a user (`--resume PATH`, `eval --checkpoint`, `inspect`, `export`):
    /// the file itself; for a run directory its newest usable checkpoint, as `--resume auto`
    /// picks it; for `RUNDIR/best` or `RUNDIR/latest` the checkpoint that pointer names.
    public static func load(_ path: String, say: (String) -> Void = { _ in }) throws -> (bytes: Data, point: ResumePoint) {
        let name = String(path.split(separator: "/").last ?? "")
        if name == CheckpointDirectory.bestName || name == CheckpointDirectory.latestName, POSIXFile.isRegularFile(path) {
            guard let target = CheckpointDirectory.pointerTarget(path) else {
                throw CheckpointError.notFound(path: path + " (it names no checkpoint that is there)")
            }
            return try load(target, say: say)
        }
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
}
