import Foundation
import Models
import TestSupport
import Training
import XCTest

/// Runs the release `ddptrain` binary, alone or under `mpirun`, for the distributed end-to-end
/// tests: finds both executables (skipping when either is missing), writes tiny CIFAR-format data
/// sets, and launches every job with a hard timeout so a hung collective fails the test instead of
/// blocking CI.
final class MPIHarness {
    /// Longest any single launch may take before it is killed and reported as hung: the test
    /// runner's default (a healthy run here takes about a second).
    static let timeout = TestProcess.defaultTimeout

    let binary: URL
    let mpirun: URL
    /// A fresh scratch directory, removed by `cleanUp()`.
    let scratch: URL

    /// The package's root directory.
    static let repository = TestBinaries.repository

    /// Finds the release binary and `mpirun` (see `TestBinaries`), or throws `XCTSkip` saying which
    /// is missing, and makes a fresh scratch directory.
    init() throws {
        binary = try TestBinaries.releaseBinary()
        mpirun = try TestBinaries.mpirun()
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("ddptrain-mpi-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    /// Removes the scratch directory.
    func cleanUp() { try? FileManager.default.removeItem(at: scratch) }

    /// A path inside the scratch directory.
    func path(_ name: String) -> String { scratch.appendingPathComponent(name).path }

    // MARK: Data

    /// Writes a CIFAR-10 binary data set into `scratch/name` (see `CIFARFixture.writeDataSet`):
    /// `trainingCount` images spread over the five training files and `testCount` test images.
    @discardableResult
    func writeDataSet(_ name: String, training trainingCount: Int, test testCount: Int) throws -> String {
        try CIFARFixture(at: scratch.appendingPathComponent(name, isDirectory: true))
            .writeDataSet(training: trainingCount, test: testCount)
    }

    /// Appends `extraBytes` bytes to `file` of the data set `name`, so its size is no longer a
    /// whole number of 3073-byte records.
    func appendPartialRecord(to name: String, file: String, extraBytes: Int = 100) throws {
        try CIFARFixture(at: scratch.appendingPathComponent(name)).appendPartialRecord(to: file, extraBytes: extraBytes)
    }

    // MARK: Launching

    typealias Result = TestProcess.Result

    /// This process's environment without Open MPI's and PMIx's variables, so that a binary
    /// started with it does not think it was started by `mpirun`.
    static var singleProcessEnvironment: [String: String] {
        ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("OMPI_") && !$0.key.hasPrefix("PMIX_") }
    }

    /// `ddptrain <arguments>` as a plain process (the single-process communicator).
    func single(_ arguments: [String]) throws -> Result {
        let (arguments, events) = withEventsFile(arguments)
        var result = try launch(binary.path, arguments, environment: Self.singleProcessEnvironment)
        result.events = events
        return result
    }

    /// `arguments` with `--events <scratch>/events-<id>.jsonl` right after the command when they
    /// are a `train` command without `--events`, and the events file (nil for other commands):
    /// tests ask the events whether training started (`Result.startedTraining`), never the human
    /// start line, whose wording is free to change.
    func withEventsFile(_ arguments: [String], file: String? = nil) -> (arguments: [String], events: String?) {
        guard arguments.first == "train" else { return (arguments, nil) }
        if let i = arguments.firstIndex(of: "--events"), i + 1 < arguments.count {
            let given = arguments[i + 1]
            return (arguments, given.hasPrefix("/") ? given : path(given))
        }
        let events = file ?? path("events-\(UUID().uuidString).jsonl")
        return (["train", "--events", events] + arguments.dropFirst(), events)
    }

    /// `mpirun --oversubscribe -np <ranks> ddptrain <arguments>`.
    func mpi(ranks: Int, _ arguments: [String]) throws -> Result {
        try mpmd([(ranks, arguments)])
    }

    /// MPMD launch: `mpirun --oversubscribe -np n1 ddptrain args1 : -np n2 ddptrain args2 …`.
    func mpmd(_ apps: [(ranks: Int, arguments: [String])]) throws -> Result {
        var arguments = ["--oversubscribe"]
        var events: String?
        for (k, app) in apps.enumerated() {
            if k > 0 { arguments.append(":") }
            // Every app of the job appends to the same events file.
            let (appArguments, appEvents) = withEventsFile(app.arguments, file: events)
            events = events ?? appEvents
            arguments += ["-np", String(app.ranks), binary.path] + appArguments
        }
        var environment = ProcessInfo.processInfo.environment
        environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        var result = try launch(mpirun.path, arguments, environment: environment)
        result.events = events
        return result
    }

    /// Runs a process in the scratch directory with its output in a file there, killing it and
    /// everything it started after `timeout`.
    func launch(_ executable: String, _ arguments: [String], environment: [String: String]) throws -> Result {
        try TestProcess.run(executable, arguments, environment: environment, directory: scratch,
                            log: scratch.appendingPathComponent("output-\(UUID().uuidString).log"), timeout: Self.timeout)
    }

    // MARK: Reading results

    /// The events of an `--events` file whose kind is `event` (and, when given, whose reason is
    /// `reason`): what a run reports for scripts, independent of its human messages.
    static func events(_ path: String, _ event: String, reason: String? = nil) -> [[String: Any]] {
        ((try? jsonLines(path)) ?? []).filter {
            $0["event"] as? String == event && (reason == nil || $0["reason"] as? String == reason)
        }
    }

    /// The JSON objects of a JSON-lines file.
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

extension TestProcess.Result {
    /// Whether the run's events file holds a `started` event: training began. Only for `train`
    /// commands launched through `MPIHarness` (or given `--events`), which know the file.
    var startedTraining: Bool {
        guard let events else { preconditionFailure("startedTraining needs the events file of a train command: \(command)") }
        return !MPIHarness.events(events, "started").isEmpty
    }
}
