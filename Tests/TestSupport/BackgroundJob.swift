import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A process started in the background with its output in a file, which a test can signal while
/// it runs. A timeout bounds it like every `TestProcess` run: when it passes, a watchdog
/// SIGKILLs the process and everything it started.
public final class BackgroundJob: @unchecked Sendable {
    /// The process.
    public let process = Process()
    /// The file its standard output and error go to.
    public let log: URL
    /// The command line, for messages.
    public let command: String
    private let done = DispatchGroup()
    private let lock = NSLock()
    /// Descendants seen so far with their start times (so a reused pid is never signalled).
    private var family: [Int32: UInt64] = [:]

    /// Starts `executable` with `arguments` in `directory`, its output in `log` (by default a new
    /// file in `directory`).
    public init(_ executable: String, _ arguments: [String], environment: [String: String], directory: URL,
                log: URL? = nil, timeout: TimeInterval = TestProcess.defaultTimeout) throws {
        command = ([executable] + arguments).joined(separator: " ")
        self.log = log ?? directory.appendingPathComponent("background-\(UUID().uuidString).log")
        let log = self.log
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        defer { try? handle.close() }
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = environment
        process.currentDirectoryURL = directory
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        done.enter()
        process.terminationHandler = { [done] _ in done.leave() }
        try process.run()
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout) { [weak self] in
            guard let self, !self.hasExited else { return }
            self.killEverything()
        }
    }

    /// Whether the process has ended.
    public var hasExited: Bool { done.wait(timeout: .now()) == .success }

    /// Waits up to `timeout` seconds for the end; true if it ended.
    public func wait(timeout: TimeInterval) -> Bool { done.wait(timeout: .now() + timeout) == .success }

    /// Standard output and error so far.
    public var output: String { TestProcess.read(log) }

    /// Current descendants, remembered with their start times.
    private func refreshFamily() -> [Int32: UInt64] {
        lock.withLock {
            if !hasExited { family.merge(ProcessTable.descendants(of: process.processIdentifier)) { old, _ in old } }
            return family
        }
    }

    /// The descendants whose command line contains `text` and `train` (the rank processes,
    /// found by their unique run directory).
    public func ranks(commandContaining text: String) -> [Int32] {
        refreshFamily().keys.filter { pid in
            let arguments = ProcessTable.arguments(of: pid)
            return arguments.contains(text) && arguments.contains("train")
        }.sorted()
    }

    /// Sends `signal` to `pids` if they are this job's process or still the descendants seen
    /// (same start time).
    public func kill(_ pids: [Int32], signal: Int32) {
        let known = refreshFamily()
        for pid in pids {
            if pid == process.processIdentifier {
                if !hasExited { ProcessTable.sendSignal(pid, signal) }
            } else if let started = known[pid] {
                ProcessTable.kill([pid: started], signal: signal)
            }
        }
    }

    /// Sends `signal` to `pids` and waits up to `timeout` seconds for the job to end: the seconds
    /// it took, or nil when it did not end in time (everything it started is then killed).
    public func signalAndWait(_ pids: [Int32], signal: Int32, timeout: TimeInterval) -> TimeInterval? {
        let signalled = Date()
        kill(pids, signal: signal)
        guard wait(timeout: timeout) else {
            killEverything()
            return nil
        }
        return Date().timeIntervalSince(signalled)
    }

    /// SIGKILL to the process and every descendant seen, then waits briefly for the end.
    public func killEverything() {
        let known = refreshFamily()
        if !hasExited { ProcessTable.sendSignal(process.processIdentifier, SIGKILL) }
        ProcessTable.kill(known, signal: SIGKILL)
        _ = wait(timeout: 5)
    }
}
