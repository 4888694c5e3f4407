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
