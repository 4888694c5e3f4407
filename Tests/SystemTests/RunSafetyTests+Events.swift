import Foundation
import Models
import TestSupport
import XCTest

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
