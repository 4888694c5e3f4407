#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import Foundation

/// Writes checkpoints into a run directory atomically and keeps the newest `keep`.
///
/// A checkpoint only ever appears under its final name complete and on disk: it is written to a
/// hidden temporary file, flushed, and renamed; `latest` is replaced the same way afterwards.
/// A crash, a kill or a full disk at any moment therefore leaves the previous checkpoint and
/// `latest` as they were, plus at most a hidden `.…tmp` file that `candidates` ignores and the
/// next successful write removes.
///
/// Test hook: when the environment variable `DDPTRAIN_CHECKPOINT_WRITE_DELAY_MS` holds a positive
/// number, `write` writes the temporary file in 16 chunks and sleeps that many milliseconds
/// between them, so that a test can kill the process in the middle of a write.
public final class CheckpointWriter: @unchecked Sendable {
    /// The run directory the checkpoints go to (it must exist).
    public let directory: String
    /// How many checkpoint files (`ckpt-e…-s….ddpt`) to keep, newest by step.
    public let keep: Int

    /// The environment variable of the kill-during-write test hook.
    public static let writeDelayVariable = "DDPTRAIN_CHECKPOINT_WRITE_DELAY_MS"

    /// The background queue: one write at a time, in call order.
    private let queue = DispatchQueue(label: "ddptrain.checkpoint.writer")
    /// Entered by `writeInBackground`, left after its completion has run.
    private let pending = DispatchGroup()
    /// Serialises `write` between the caller's thread and the background queue.
    private let lock = NSLock()

    /// A writer for `directory` that keeps the newest `keep` (at least 1) checkpoint files.
    public init(directory: String, keep: Int) {
        precondition(keep >= 1, "a checkpoint writer must keep at least one checkpoint (keep = \(keep))")
        self.directory = directory
        self.keep = keep
    }

    /// Synchronous: writes `bytes` to `<dir>/.<name>.tmp`, fsyncs it, renames it to `<dir>/<name>`,
    /// fsyncs the directory, then atomically replaces `<dir>/latest` (a small text file holding the
    /// file name, written the same tmp+fsync+rename way), then deletes checkpoints beyond the newest
    /// `keep` (only files matching the naming pattern; never `latest`'s or `best`'s target nor the
    /// file just written) and stale temporary files of earlier writes. With `best`, `<dir>/best`
    /// is replaced the same way to name this file, before pruning. Pruning is best effort: a file that
    /// cannot be deleted is left in place and does not fail the write.
    ///
    /// On any failure (e.g. ENOSPC, EIO) it removes its temporary file, leaves the previous
    /// checkpoint and `latest` untouched, and throws `CheckpointError.io` naming the path and the
    /// system's reason.
    public func write(_ bytes: Data, name: String, best: Bool = false) throws {
        lock.lock()
        defer { lock.unlock() }
        let target = POSIXFile.join(directory, name)
        guard CheckpointDirectory.isPlainName(name) else {
            throw CheckpointError.io(path: target, reason: "'\(name)' is not a plain file name: it must not be "
                                     + "empty, contain '/', start with '.', or be '\(CheckpointDirectory.latestName)' or '\(CheckpointDirectory.bestName)'")
        }
        guard POSIXFile.isDirectory(directory) else {
            throw CheckpointError.io(path: directory, reason: "the run directory does not exist or is not a directory")
        }
        try replace(target, with: bytes, chunkDelay: CheckpointWriter.writeDelay())
        try replace(POSIXFile.join(directory, CheckpointDirectory.latestName), with: Data((name + "\n").utf8),
                    chunkDelay: nil)
        if best {
            try replace(POSIXFile.join(directory, CheckpointDirectory.bestName), with: Data((name + "\n").utf8), chunkDelay: nil)
        }
        prune(keeping: name)
    }

    /// Asynchronous: runs `make()` (compression) and `write` on a private serial background queue;
    /// `completion` gets the outcome, the final path or the error (on that queue).
    ///
    /// At most one write is in flight: a second call while one is in flight waits (blocks the
    /// caller) until the first has completed, so call order is preserved and snapshots never pile
    /// up in memory. `make` runs later on another thread, so it must only use values captured
    /// at the call (copies of the weights), never buffers that training keeps changing.
    /// Do not call this from a completion handler (it would wait for itself).
    public func writeInBackground(name: String, best: Bool = false, make: @escaping @Sendable () throws -> Data,
                                  completion: @escaping @Sendable (Result<String, Error>) -> Void) {
        dispatchPrecondition(condition: .notOnQueue(queue))
        pending.wait()
        pending.enter()
        queue.async { [self] in
            let result = Result<String, Error> {
                try write(try make(), name: name, best: best)
                return POSIXFile.join(directory, name)
            }
            completion(result)
            pending.leave()
        }
    }

    /// Blocks until every background write has finished and its completion has run.
    public func waitForPending() {
        pending.wait()
    }

    // MARK: - Steps

    /// Writes `bytes` to the hidden temporary twin of `path`, flushes it, renames it over `path`
    /// and flushes the directory. The temporary file is removed if any step before the rename fails.
    private func replace(_ path: String, with bytes: Data, chunkDelay: Int?) throws {
        let name = String(path.split(separator: "/").last ?? "")
        let temporary = POSIXFile.join(directory, CheckpointDirectory.temporaryName(name))
        do {
            try bytes.withUnsafeBytes { try POSIXFile.writeDurably(temporary, $0, chunkDelay: chunkDelay) }
            try POSIXFile.move(temporary, to: path)
        } catch {
            POSIXFile.removeFile(temporary)
            throw error
        }
        try POSIXFile.syncDirectory(directory)
    }

    /// Deletes checkpoint files beyond the newest `keep` (except `written` and the targets of
    /// `latest` and `best`) and temporary files left by interrupted writes.
    private func prune(keeping written: String) {
        var protected: Set<String> = [written]
        for target in [CheckpointDirectory.latest(in: directory), CheckpointDirectory.best(in: directory)].compactMap({ $0 }) {
            protected.insert(String(target.split(separator: "/").last ?? ""))
        }
        for path in CheckpointDirectory.candidates(in: directory).dropFirst(keep) {
            let name = String(path.split(separator: "/").last ?? "")
            if !protected.contains(name) { POSIXFile.removeFile(path) }
        }
        for name in POSIXFile.entries(directory) where CheckpointDirectory.isTemporary(name) {
            POSIXFile.removeFile(POSIXFile.join(directory, name))
        }
    }

    /// The test hook's delay in milliseconds, if the environment sets a positive one.
    static func writeDelay() -> Int? {
        guard let text = getenv(writeDelayVariable).map({ String(cString: $0) }),
              let milliseconds = Int(text.trimmingCharacters(in: .whitespaces)), milliseconds > 0 else { return nil }
        return milliseconds
    }
}
