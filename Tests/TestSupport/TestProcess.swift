import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs a subprocess for a test with a hard timeout: its output goes to a file (so processes that
/// outlive a killed parent cannot block a pipe), and when the timeout passes the process and
/// everything it started are killed and `Hung` is thrown, so a hang fails the test instead of
/// blocking CI.
public enum TestProcess {
    /// The default limit of one run. Generous, because a background job may share the CPU.
    public static let defaultTimeout: TimeInterval = 120

    /// What a finished process left.
    public struct Result {
        /// The exit status (or the signal number, for a process ended by one).
        public var status: Int32
        /// Standard output and standard error, interleaved (standard output alone when the run
        /// kept standard error apart).
        public var output: String
        /// Standard error, when the run kept it apart from the output; empty otherwise.
        public var error: String
        /// Wall time from start to exit.
        public var seconds: Double
        /// The command line, for messages.
        public var command: String
        /// The `--events` file of a `ddptrain train` command, when the launcher knows it: what the
        /// run reported for scripts (started, checkpoint, stopped, aborted).
        public var events: String?

        /// A result with these fields (`error` empty: standard error went into `output`).
        public init(status: Int32, output: String, error: String = "", seconds: Double, command: String) {
            self.status = status
            self.output = output
            self.error = error
            self.seconds = seconds
            self.command = command
        }

        /// The last part of the output with the command and status, for failure messages.
        public var tail: String {
            let text = output.count > 6000 ? "…" + output.suffix(6000) : output
            return "$ \(command)\n(exit \(status) after \(String(format: "%.1f", seconds)) s)\n\(text)"
        }
    }

    /// A process that did not exit within its timeout and was killed.
    public struct Hung: Error, CustomStringConvertible {
        /// The command line.
        public var command: String
        /// The output it wrote before it was killed.
        public var output: String
        /// The limit it overran.
        public var timeout: TimeInterval
        public var description: String {
            "hung: no exit within \(Int(timeout)) s, killed. Command: \(command)\nOutput so far:\n\(output.suffix(4000))"
        }
    }

    /// Runs `executable` with `arguments` in `directory` (the current one when nil), with
    /// `environment` (this process's when nil) and standard input from /dev/null. The output goes
    /// to `log` (a fresh temporary file, removed afterwards, when nil); `separateError` keeps
    /// standard error in a file of its own. Throws `Hung` after `timeout` seconds.
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                           directory: URL? = nil, log: URL? = nil, separateError: Bool = false,
                           timeout: TimeInterval = defaultTimeout) throws -> Result {
        let command = ([executable] + arguments).joined(separator: " ")
        let scratch = FileManager.default.temporaryDirectory
        let outputFile = log ?? scratch.appendingPathComponent("ddptrain-process-\(UUID().uuidString).log")
        let errorFile = scratch.appendingPathComponent("ddptrain-process-\(UUID().uuidString).err")
        defer {
            if log == nil { try? FileManager.default.removeItem(at: outputFile) }
            try? FileManager.default.removeItem(at: errorFile)
        }
        _ = FileManager.default.createFile(atPath: outputFile.path, contents: nil)
        let output = try FileHandle(forWritingTo: outputFile)
        defer { try? output.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let directory { process.currentDirectoryURL = directory }
        process.standardOutput = output
        if separateError {
            _ = FileManager.default.createFile(atPath: errorFile.path, contents: nil)
            process.standardError = try FileHandle(forWritingTo: errorFile)
        } else {
            process.standardError = output
        }
        process.standardInput = FileHandle.nullDevice
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        let start = Date()
        try process.run()
        if exited.wait(timeout: .now() + timeout) == .timedOut {
            let pid = process.processIdentifier
            var family = ProcessTable.descendants(of: pid)
            kill(pid, SIGTERM)   // mpirun forwards this to its ranks and ends them
            let ended = exited.wait(timeout: .now() + 5) == .success
            if !ended {
                family.merge(ProcessTable.descendants(of: pid)) { first, _ in first }
                kill(pid, SIGKILL)
            }
            // Children still running (the same processes: start times are checked, so a reused
            // process id is never hit).
            ProcessTable.kill(family, signal: SIGKILL)
            if !ended { _ = exited.wait(timeout: .now() + 5) }
            throw Hung(command: command, output: read(outputFile), timeout: timeout)
        }
        return Result(status: process.terminationStatus, output: read(outputFile),
                      error: separateError ? read(errorFile) : "", seconds: Date().timeIntervalSince(start),
                      command: command)
    }

    /// The text of `file`, empty when it cannot be read.
    static func read(_ file: URL) -> String {
        String(decoding: (try? Foundation.Data(contentsOf: file)) ?? Foundation.Data(), as: UTF8.self)
    }
}
