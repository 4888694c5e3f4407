import Foundation
import TestSupport
import XCTest
@testable import Checkpoint

/// A writer process killed (SIGKILL) in the middle of writing a checkpoint leaves the previous
/// checkpoint and `latest` intact and loadable; its temporary file is not a candidate and the
/// next successful write removes it.
///
/// The child is this test bundle run again (Linux's `.xctest` is an executable) with only
/// `testChildWritesSlowly` selected and the write-delay hook set.
final class KillDuringWriteTests: XCTestCase {
    static let childDirectoryVariable = "DDPTRAIN_CHECKPOINT_KILL_TEST_DIR"
    static let childName = CheckpointDirectory.fileName(epoch: 2, globalStep: 780)

    /// A checkpoint of `count` pseudo-random floats whose first value is `marker`.
    static func checkpoint(marker: Float, count: Int) throws -> Data {
        var values = (0..<count).map { Float(bitPattern: 0x3C00_0000 | UInt32(truncatingIfNeeded: $0 &* 2_654_435_761) >> 9) }
        values[0] = marker
        return try CheckpointFile.encode(metadata: Data("{}".utf8),
                                         tensors: [NamedTensor(name: "w", shape: [count], section: "parameters", values: values)],
                                         softwareVersion: "test", level: 1, shuffle: false)
    }

    /// The child's side: writes a 4 MB checkpoint slowly; skipped unless the parent started it.
    func testChildWritesSlowly() throws {
        guard let directory = ProcessInfo.processInfo.environment[Self.childDirectoryVariable] else {
            throw XCTSkip("helper of testKilledWriterLeavesThePreviousCheckpointAndLatestIntact; runs only as its child process")
        }
        try CheckpointWriter(directory: directory, keep: 5).write(try Self.checkpoint(marker: 2, count: 1 << 20), name: Self.childName)
    }

    func testKilledWriterLeavesThePreviousCheckpointAndLatestIntact() throws {
        #if os(Linux)
        let bundle = ProcessInfo.processInfo.arguments[0]
        guard bundle.hasSuffix(".xctest"), POSIXFile.isRegularFile(bundle) else {
            throw XCTSkip("cannot re-run the test bundle as a child process (\(bundle))")
        }
        let fixture = try CheckpointFixture()
        let previous = CheckpointDirectory.fileName(epoch: 1, globalStep: 390)
        try CheckpointWriter(directory: fixture.directory, keep: 5).write(try Self.checkpoint(marker: 1, count: 1000), name: previous)

        var environment = ProcessInfo.processInfo.environment
        environment[Self.childDirectoryVariable] = fixture.directory
        environment[CheckpointWriter.writeDelayVariable] = "200"
        // The child's output goes outside the checkpoint directory, whose listing is checked.
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("ddptrain-kill-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: log) }
        let child = try BackgroundJob(bundle, ["CheckpointTests.KillDuringWriteTests/testChildWritesSlowly"],
                                      environment: environment, directory: URL(fileURLWithPath: fixture.directory), log: log)

        // Wait until the temporary file has its first chunk, then kill the child mid-write.
        let temporary = fixture.path(CheckpointDirectory.temporaryName(Self.childName))
        let deadline = Date().addingTimeInterval(60)
        while (try? FileManager.default.attributesOfItem(atPath: temporary)[.size] as? Int).flatMap({ $0 > 0 ? $0 : nil }) == nil {
            guard !child.hasExited, Date() < deadline else {
                child.killEverything()
                return XCTFail("the child never started writing (exited: \(child.hasExited)):\n\(child.output)")
            }
            usleep(5_000)
        }
        child.kill([child.process.processIdentifier], signal: SIGKILL)
        XCTAssertTrue(child.wait(timeout: 30), "the killed child did not end")
        XCTAssertEqual(child.process.terminationReason, .uncaughtSignal)
        XCTAssertEqual(child.process.terminationStatus, SIGKILL)

        XCTAssertFalse(FileManager.default.fileExists(atPath: fixture.path(Self.childName)), "a partial checkpoint was published")
        XCTAssertEqual(CheckpointDirectory.latest(in: fixture.directory), fixture.path(previous))
        XCTAssertEqual(CheckpointDirectory.candidates(in: fixture.directory), [fixture.path(previous)])
        XCTAssertEqual(try CheckpointFile.read(path: fixture.path(previous)).tensors[0].values[0], 1)
        XCTAssertTrue(FileManager.default.fileExists(atPath: temporary), "the kill came after the write finished")

        // The next successful write cleans up what the killed one left.
        let next = CheckpointDirectory.fileName(epoch: 3, globalStep: 1170)
        try CheckpointWriter(directory: fixture.directory, keep: 5).write(try Self.checkpoint(marker: 3, count: 10), name: next)
        XCTAssertEqual(try fixture.listing(), [previous, next, "latest"].sorted())
        #else
        throw XCTSkip("the child process re-runs the .xctest executable, which exists on Linux only")
        #endif
    }
}
