#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// One line of the events file (`train --events FILE`): what happened to a run, for supervisors
/// and tests to read instead of the human messages, which are free to change. Docs/cli.md lists
/// the events and their fields.
public struct RunEvent: Codable, Hashable, Sendable {
    /// What happened.
    public enum Kind: String, Codable, Sendable {
        /// Every rank is up and the data is loaded: training begins (rank 0).
        case started
        /// A checkpoint file is complete on disk (rank 0).
        case checkpoint
        /// The run ended on its own terms: finished, stopped by a signal, or its last checkpoint
        /// failed (rank 0).
        case stopped
        /// The rank that writes it ends the job: an error, or its step watchdog fired.
        case aborted
    }

    /// What happened.
    public var event: Kind
    /// When, as seconds since 1970 (UTC).
    public var time: Double
    /// The rank that wrote the line.
    public var rank: Int
    /// `started`: the model's name.
    public var model: String?
    /// `started`: the model's parameter count.
    public var parameters: Int?
    /// `started`: the number of ranks.
    public var worldSize: Int?
    /// `started`: the run id (the same across restarts of one run).
    public var runID: String?
    /// `started`: the global step training starts from (0, or a resumed checkpoint's);
    /// `checkpoint`: the checkpoint's global step.
    public var step: Int?
    /// `checkpoint`: the file's path.
    public var path: String?
    /// `checkpoint`: the epochs completed when it was saved, as in its file name (named so that
    /// `event` stays the first key of a line).
    public var trainingEpoch: Int?
    /// `stopped`: finished, signal or checkpoint-failed; `aborted`: error or step-timeout.
    public var reason: String?
    /// `stopped`, `aborted`: the exit status the process ends with.
    public var exitStatus: Int32?
    /// `aborted`: the error, as the message on standard error says it.
    public var message: String?
    /// `started`: DDPT-64 of the initial parameters and buffers, in hex (equal for bitwise-equal
    /// weights, e.g. those of `--init-from` and of the file they were exported from).
    public var weightsHash: String?

    /// An event of kind `event` written by `rank` now; the other fields are set by the caller.
    public init(_ event: Kind, rank: Int) {
        self.event = event
        self.rank = rank
        time = Date().timeIntervalSince1970
    }
}

/// Appends `RunEvent`s as JSON lines to a file, each with one `write` on a descriptor opened with
/// `O_APPEND`, so that the lines of several ranks (and of restarted runs) never interleave.
///
/// The file is the user's: it is created if missing, and an existing one is only appended to when
/// it already holds events (or is empty). A write that fails is reported once on standard error
/// and the run goes on: events describe the run, the checkpoints keep it.
public final class EventLog: @unchecked Sendable {
    /// The file.
    public let path: String
    private let descriptor: Int32
    private let lock = NSLock()
    private var warned = false

    /// Opens (or creates) `path` for appending.
    ///
    /// - Throws: `RunDirectoryError.output` naming `--events` when `path` is not a file the run
    ///   may write (`PathCheck.checkNewFile`: not a directory, not in the data or among the run
    ///   directory's own files), is an existing file that does not hold ddptrain events, or cannot
    ///   be opened.
    public init(path: String, dataDirectory: String, runDirectory: String?) throws {
        self.path = path
        try PathCheck.checkNewFile(path, flag: "--events", dataDirectory: dataDirectory, runDirectory: runDirectory,
                                   mayExist: true)
        var info = stat()
        if stat(path, &info) == 0 && info.st_size > 0 {
            let head = FileHandle(forReadingAtPath: path).map { handle in
                defer { try? handle.close() }
                return (try? handle.read(upToCount: 10)) ?? Data()
            } ?? Data()
            guard head == Data(#"{"event":""#.utf8) else {
                throw RunDirectoryError.output(flag: "--events", path: path,
                                               reason: "exists and does not hold ddptrain events; it is left alone: give a new file")
            }
        }
        descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw RunDirectoryError.output(flag: "--events", path: path,
                                           reason: "cannot be opened for appending: \(String(cString: strerror(errno)))")
        }
    }

    deinit { close(descriptor) }

    /// Appends `event` as one line.
    public func record(_ event: RunEvent) {
        let encoder = JSONEncoder()
        // Sorted keys put `event` first (every other key sorts after it), so a reader, and `init`'s
        // check, tells an events file by how it starts.
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let line = ((try? encoder.encode(event)) ?? Data()) + Data("\n".utf8)
        lock.withLock {
            let written = line.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if written != line.count && !warned {
                warned = true
                FileHandle.standardError.write(Data("warning: --events \(path): writing an event failed (\(String(cString: strerror(errno)))); training goes on\n".utf8))
            }
        }
    }
}
