import Foundation
@testable import Models
@testable import Training
import XCTest

/// The events file (`train --events`): the contract scripts read instead of the human messages.
final class EventLogTests: XCTestCase {
    var directory: String!

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "ddptrain-events-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        if let directory { try? FileManager.default.removeItem(atPath: directory) }
    }

    func open(_ name: String) throws -> EventLog {
        try EventLog(path: directory + "/" + name, dataDirectory: directory + "/data", runDirectory: directory + "/run")
    }

    func testEventsAreJSONLinesThatStartWithTheirKindAndAreAppendedAcrossOpenings() throws {
        var started = RunEvent(.started, rank: 0)
        started.model = "resnet-8"
        started.parameters = 1234
        try open("events").record(started)
        var aborted = RunEvent(.aborted, rank: 1)
        aborted.reason = "step-timeout"
        aborted.exitStatus = 3
        try open("events").record(aborted)
        let text = try String(contentsOfFile: directory + "/events", encoding: .utf8)
        let lines = text.split(separator: "\n")
        XCTAssertEqual(lines.count, 2, text)
        XCTAssertTrue(lines[0].hasPrefix(#"{"event":"started","#), text)
        XCTAssertTrue(lines[1].hasPrefix(#"{"event":"aborted","#), text)
        let decoded = try lines.map { try JSONDecoder().decode(RunEvent.self, from: Data($0.utf8)) }
        XCTAssertEqual(decoded[0].parameters, 1234)
        XCTAssertEqual(decoded[1].rank, 1)
        XCTAssertEqual(decoded[1].exitStatus, 3)
    }

    func testAnExistingFileThatHoldsNoEventsIsRefusedAndLeftAsItWas() throws {
        let path = directory + "/notes.txt"
        try Data("my notes\n".utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try open("notes.txt")) { error in
            XCTAssertTrue("\(error)".contains("--events"), "\(error)")
            XCTAssertTrue("\(error)".contains("does not hold ddptrain events"), "\(error)")
        }
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "my notes\n")
    }

    func testADirectoryOrAFileInTheDataDirectoryIsRefused() throws {
        try FileManager.default.createDirectory(atPath: directory + "/data", withIntermediateDirectories: true)
        XCTAssertThrowsError(try open("data")) { XCTAssertTrue("\($0)".contains("directory"), "\($0)") }
        XCTAssertThrowsError(try open("data/events")) { XCTAssertTrue("\($0)".contains("data directory"), "\($0)") }
    }
}

extension RunSafetyTests {
    /// A finished run writes `started` (with the model's parameter count), one `checkpoint` per
    /// file it wrote, and `stopped` with reason finished and status 0, in that order; a run refused
    /// by its flags writes `aborted` with the usage status.
    func testTheEventsFileRecordsStartCheckpointsAndEndOfARun() throws {
        let data = try tinyData(), events = path("events")
        let result = try harness.single(train(data, run: path("run"), epochs: 2, ["--events", events]))
        XCTAssertEqual(result.status, 0, Self.report(result))
        let kinds = ((try? MPIHarness.jsonLines(events)) ?? []).compactMap { $0["event"] as? String }
        XCTAssertEqual(kinds, ["started", "checkpoint", "checkpoint", "stopped"], "events: \(kinds)")
        let started = MPIHarness.events(events, "started").first
        let expected = try ModelBuilder.graph(for: ModelConfiguration(name: "resnet-8").applying(ModelOverrides(stemChannels: 4)))
        XCTAssertEqual(started?["parameters"] as? Int, expected.parameterCount)
        let checkpoints = MPIHarness.events(events, "checkpoint").compactMap { $0["path"] as? String }
        for file in checkpoints { XCTAssertTrue(FileManager.default.fileExists(atPath: file), "\(file) is not on disk") }
        XCTAssertEqual(MPIHarness.events(events, "stopped", reason: "finished").first?["exitStatus"] as? Int, 0)

        let refused = try harness.single(train(data, run: path("run"), epochs: 2, ["--events", events]))
        XCTAssertEqual(refused.status, 64, Self.report(refused))
        XCTAssertEqual(MPIHarness.events(events, "aborted", reason: "error").last?["exitStatus"] as? Int, 64,
                       "no aborted event for the refused start")
    }
}
