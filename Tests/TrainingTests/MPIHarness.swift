import Foundation
import Models
import Training
import XCTest
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs the release `ddptrain` binary, alone or under `mpirun`, for the distributed end-to-end
/// tests: finds both executables (skipping when either is missing), writes tiny CIFAR-format data
/// sets, and launches every job with a hard timeout so a hung collective fails the test instead of
/// blocking CI.
final class MPIHarness {
    /// Longest any single launch may take before it is killed and reported as hung. Generous,
    /// because a background job may be sharing the CPU; a healthy run here takes about a second.
    static let timeout: TimeInterval = 120

    let binary: URL
    let mpirun: URL
    /// A fresh scratch directory, removed by `cleanUp()`.
    let scratch: URL

    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// Finds the release binary (`DDPTRAIN_BINARY` or `.build/release/ddptrain`) and `mpirun` on
    /// `PATH`, or throws `XCTSkip` saying which is missing.
    init() throws {
        binary = try Self.releaseBinary()
        guard let found = Self.findOnPath("mpirun") else {
            throw XCTSkip("mpirun is not on PATH: install Open MPI (apt-get install openmpi-bin libopenmpi-dev) "
                          + "to run the distributed tests")
        }
        mpirun = found
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("ddptrain-mpi-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    func cleanUp() { try? FileManager.default.removeItem(at: scratch) }

    /// The release binary (`DDPTRAIN_BINARY` or `.build/release/ddptrain`), or `XCTSkip` saying how
    /// to build it.
    static func releaseBinary() throws -> URL {
        let path = ProcessInfo.processInfo.environment["DDPTRAIN_BINARY"]
            ?? repository.appendingPathComponent(".build/release/ddptrain").path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw XCTSkip("no release build at \(path): run `swift build -c release --product ddptrain` or set DDPTRAIN_BINARY "
                          + "(debug builds are too slow to train)")
        }
        return URL(fileURLWithPath: path)
    }

    static func findOnPath(_ name: String) -> URL? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") where !directory.isEmpty {
            let candidate = URL(fileURLWithPath: String(directory)).appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return nil
    }

    /// A path inside the scratch directory.
    func path(_ name: String) -> String { scratch.appendingPathComponent(name).path }

    // MARK: Data

    /// Writes a CIFAR-10 binary data set into `scratch/name`: `trainingCount` images spread over the
    /// five training files (each needs at least one) and `testCount` test images. Every pixel is a
    /// class-dependent colour plus deterministic noise, so the set is learnable but not trivial.
    @discardableResult
    func writeDataSet(_ name: String, training trainingCount: Int, test testCount: Int) throws -> String {
        precondition(trainingCount >= 5, "each of the five training files needs at least one record")
        let directory = scratch.appendingPathComponent(name, isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var next = 0
        for file in 0..<5 {
            let count = trainingCount * (file + 1) / 5 - trainingCount * file / 5
            try Self.records(next..<(next + count)).write(to: directory.appendingPathComponent("data_batch_\(file + 1).bin"))
            next += count
        }
        try Self.records(100_000..<(100_000 + testCount)).write(to: directory.appendingPathComponent("test_batch.bin"))
        return directory.path
    }

    /// Appends `extraBytes` bytes to `file` of the data set `name`, so its size is no longer a
    /// whole number of 3073-byte records.
    func appendPartialRecord(to name: String, file: String, extraBytes: Int = 100) throws {
        let url = scratch.appendingPathComponent(name).appendingPathComponent(file)
        var data = try Data(contentsOf: url)
        data.append(Data(repeating: 7, count: extraBytes))
        try data.write(to: url)
    }

    /// Records of images `ids`: label `id % 10`, each channel a brightness set by the label plus
    /// noise in ±48 from a SplitMix64 hash of (image, byte).
    static func records(_ ids: Range<Int>) -> Data {
        var data = Data(capacity: ids.count * 3073)
        for id in ids {
            let label = id % 10
            data.append(UInt8(label))
            for channel in 0..<3 {
                let base = 48 + (label * (channel + 3) * 23) % 160
                for position in 0..<1024 {
                    let noise = Int(splitMix(UInt64(id) << 20 | UInt64(channel * 1024 + position)) % 97) - 48
                    data.append(UInt8(clamping: base + noise))
                }
            }
        }
        return data
    }

    static func splitMix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    // MARK: Launching

    struct Result {
        var status: Int32
        /// Standard output and standard error, interleaved.
        var output: String
        var seconds: Double
        var command: String

        /// The last part of the output, for failure messages.
        var tail: String {
            let text = output.count > 6000 ? "…" + output.suffix(6000) : output
            return "$ \(command)\n(exit \(status) after \(String(format: "%.1f", seconds)) s)\n\(text)"
        }
    }

    struct Hung: Error, CustomStringConvertible {
        var command: String
        var output: String
        var description: String {
            "hung: no exit within \(Int(MPIHarness.timeout)) s, killed. Command: \(command)\nOutput so far:\n\(output.suffix(4000))"
        }
    }

    /// `ddptrain <arguments>` as a plain process (the single-process communicator).
    func single(_ arguments: [String]) throws -> Result {
        var environment = ProcessInfo.processInfo.environment
        // Make sure the binary does not think it was started by mpirun.
        for key in environment.keys where key.hasPrefix("OMPI_") || key.hasPrefix("PMIX_") { environment[key] = nil }
        return try launch(binary.path, arguments, environment: environment)
    }

    /// `mpirun --oversubscribe -np <ranks> ddptrain <arguments>`.
    func mpi(ranks: Int, _ arguments: [String]) throws -> Result {
        try mpmd([(ranks, arguments)])
    }

    /// MPMD launch: `mpirun --oversubscribe -np n1 ddptrain args1 : -np n2 ddptrain args2 …`.
    func mpmd(_ apps: [(ranks: Int, arguments: [String])]) throws -> Result {
        var arguments = ["--oversubscribe"]
        for (k, app) in apps.enumerated() {
            if k > 0 { arguments.append(":") }
            arguments += ["-np", String(app.ranks), binary.path] + app.arguments
        }
        var environment = ProcessInfo.processInfo.environment
        environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        return try launch(mpirun.path, arguments, environment: environment)
    }

    /// Runs a process with its output in a file (so ranks that outlive a killed mpirun cannot
    /// block a pipe), killing it and everything it started after `timeout`.
    func launch(_ executable: String, _ arguments: [String], environment: [String: String]) throws -> Result {
        try Self.run(executable, arguments, environment: environment, directory: scratch,
                     log: scratch.appendingPathComponent("output-\(UUID().uuidString).log"))
    }

    /// `launch` without a harness: runs in `directory` with the output in `log`.
    static func run(_ executable: String, _ arguments: [String], environment: [String: String], directory: URL,
                    log: URL) throws -> Result {
        let command = ([executable] + arguments).joined(separator: " ")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        defer { try? handle.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = environment
        process.currentDirectoryURL = directory
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        let start = Date()
        try process.run()
        if exited.wait(timeout: .now() + Self.timeout) == .timedOut {
            let pid = process.processIdentifier
            var family = Self.descendants(of: pid)
            kill(pid, SIGTERM)   // mpirun forwards this to its ranks and ends them
            let ended = exited.wait(timeout: .now() + 5) == .success
            if !ended {
                family.merge(Self.descendants(of: pid)) { first, _ in first }
                kill(pid, SIGKILL)
            }
            // Ranks still spinning in a collective (the same processes: start times are checked,
            // so a reused process id is never hit).
            for (child, started) in family where Self.processes()[child]?.started == started { kill(child, SIGKILL) }
            if !ended { _ = exited.wait(timeout: .now() + 5) }
            let output = String(decoding: (try? Data(contentsOf: log)) ?? Data(), as: UTF8.self)
            throw Hung(command: command, output: output)
        }
        let seconds = Date().timeIntervalSince(start)
        let output = String(decoding: (try? Data(contentsOf: log)) ?? Data(), as: UTF8.self)
        return Result(status: process.terminationStatus, output: output, seconds: seconds, command: command)
    }

    /// Every process's parent and start time (Linux `/proc`; empty elsewhere).
    static func processes() -> [Int32: (parent: Int32, started: UInt64)] {
        var table: [Int32: (parent: Int32, started: UInt64)] = [:]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry),
                  let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            // After "pid (comm) " come the state (field 3), the parent (4), … the start time (22).
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 19, let parent = Int32(fields[1]), let started = UInt64(fields[19]) {
                table[pid] = (parent, started)
            }
        }
        return table
    }

    /// The processes descended from `pid`, with their start times.
    static func descendants(of pid: Int32) -> [Int32: UInt64] {
        let table = processes()
        var found: [Int32: UInt64] = [:]
        var frontier: Set<Int32> = [pid]
        while !frontier.isEmpty {
            let children = table.filter { frontier.contains($0.value.parent) }
            for (child, info) in children { found[child] = info.started }
            frontier = Set(children.keys)
        }
        return found
    }

    // MARK: Reading results

    /// The JSON objects of a JSON-lines file.
    /// The events of an `--events` file whose kind is `event` (and, when given, whose reason is
    /// `reason`): what a run reports for scripts, independent of its human messages.
    static func events(_ path: String, _ event: String, reason: String? = nil) -> [[String: Any]] {
        ((try? jsonLines(path)) ?? []).filter {
            $0["event"] as? String == event && (reason == nil || $0["reason"] as? String == reason)
        }
    }

    static func jsonLines(_ path: String) throws -> [[String: Any]] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return try text.split(separator: "\n").map {
            guard let object = try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] else {
                throw CocoaError(.fileReadCorruptFile, userInfo: [NSFilePathErrorKey: path])
            }
            return object
        }
    }

    /// A `--dump-state` file: native float32 values, parameters then batch-norm buffers.
    static func floats(_ path: String) throws -> [Float] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        XCTAssertEqual(data.count % 4, 0, "\(path) is not a whole number of float32 values")
        return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    /// The trainable parameter count of the model a run trains, from its `config.json` (which
    /// splits a state dump into parameters and buffers); nil when the file cannot be read.
    static func parameterCount(runDirectory: String) -> Int? {
        let path = (runDirectory as NSString).appendingPathComponent(RunDirectory.configurationName)
        guard let data = FileManager.default.contents(atPath: path),
              let configuration = try? JSONDecoder().decode(TrainingConfiguration.self, from: data),
              let graph = try? ModelBuilder.graph(for: configuration.model) else { return nil }
        return graph.parameterCount
    }
}
