import XCTest
@testable import Checkpoint

/// File names sort by global step, `candidates` lists only complete checkpoint files, and
/// `latest` resolves only to a file that is there.
final class CheckpointDirectoryTests: XCTestCase {
    func testFileNamesArePaddedAndParseBack() {
        XCTAssertEqual(CheckpointDirectory.fileName(epoch: 3, globalStep: 1170), "ckpt-e00003-s000001170.ddpt")
        XCTAssertEqual(CheckpointDirectory.fileName(epoch: 123_456, globalStep: 1_234_567_890),
                       "ckpt-e123456-s1234567890.ddpt")
        XCTAssertEqual(CheckpointDirectory.parse("ckpt-e00003-s000001170.ddpt")?.globalStep, 1170)
        XCTAssertEqual(CheckpointDirectory.parse("ckpt-e00003-s000001170.ddpt")?.epoch, 3)
        for name in ["ckpt-e3-s.ddpt", "ckpt-e-s1.ddpt", "ckpt-e00003-s000001170.ddpt.tmp", ".ckpt-e00003-s000001170.ddpt.tmp",
                     "ckpt-e00003-s00000117x.ddpt", "ckpt-e00003-000001170.ddpt", "latest", "ckpt-e1-s2-s3.ddpt"] {
            XCTAssertNil(CheckpointDirectory.parse(name), name)
        }
    }

    func testCandidatesAreNewestFirstByStepAndIgnoreEverythingElse() throws {
        let fixture = try CheckpointFixture()
        let names = [(2, 780), (10, 3900), (1, 390), (3, 1170)].map { CheckpointDirectory.fileName(epoch: $0.0, globalStep: $0.1) }
        for name in names { try fixture.write(name, bytes: Data([1])) }
        for other in ["latest", ".ckpt-e00011-s000004290.ddpt.tmp", "config.json", "ckpt-e00012-s000004680.ddpt.partial"] {
            try fixture.write(other, bytes: Data([1]))
        }
        try FileManager.default.createDirectory(atPath: fixture.path("ckpt-e00099-s000099999.ddpt"), withIntermediateDirectories: false)
        XCTAssertEqual(CheckpointDirectory.candidates(in: fixture.directory),
                       ["ckpt-e00010-s000003900.ddpt", "ckpt-e00003-s000001170.ddpt", "ckpt-e00002-s000000780.ddpt",
                        "ckpt-e00001-s000000390.ddpt"].map(fixture.path))
        XCTAssertEqual(CheckpointDirectory.candidates(in: fixture.path("absent")), [])
    }

    func testLatestResolvesOnlyToAnExistingPlainFile() throws {
        let fixture = try CheckpointFixture()
        XCTAssertNil(CheckpointDirectory.latest(in: fixture.directory))
        let name = CheckpointDirectory.fileName(epoch: 1, globalStep: 390)
        try fixture.write("latest", bytes: Data((name + "\n").utf8))
        XCTAssertNil(CheckpointDirectory.latest(in: fixture.directory), "target missing")
        try fixture.write(name, bytes: Data([1]))
        XCTAssertEqual(CheckpointDirectory.latest(in: fixture.directory), fixture.path(name))
        for bad in ["../etc/passwd", "", "latest", ".hidden"] {
            try fixture.write("latest", bytes: Data(bad.utf8))
            XCTAssertNil(CheckpointDirectory.latest(in: fixture.directory), bad)
        }
    }
}
