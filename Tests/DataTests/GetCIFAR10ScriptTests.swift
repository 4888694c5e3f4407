import Foundation
import TestSupport
import XCTest

/// `Scripts/get-cifar10.sh` in the cases that need no network: files already present, and an
/// archive whose checksum is wrong.
final class GetCIFAR10ScriptTests: XCTestCase {
    /// The script, found from this file's place in the repository.
    let script = TestBinaries.repository.appendingPathComponent("Scripts/get-cifar10.sh").path

    func testDoesNothingWhenTheFilesAreAlreadyPresent() throws {
        let fixture = try CIFARFixture()
        try fixture.writeAll()
        let result = try run(arguments: [fixture.directory.path])
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.output.contains("nothing to do"), result.output)
    }

    func testArchiveWithTheWrongChecksumIsRejectedWithTheExpectedLayout() throws {
        let fixture = try CIFARFixture()
        let bogus = try fixture.write("bogus.tar.gz", bytes: Array("not an archive".utf8))
        let target = fixture.path("cifar")
        let result = try run(arguments: [target], environment: ["CIFAR10_TARBALL": bogus])
        XCTAssertNotEqual(result.status, 0)
        for phrase in ["MD5", "c32a1d4ab5d03f1284b67883e8d87530", target + "/data_batch_1.bin", target + "/test_batch.bin",
                       "cifar-10-batches-bin"] {
            XCTAssertTrue(result.output.contains(phrase), "output does not mention '\(phrase)':\n\(result.output)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: target + "/data_batch_1.bin"))
    }

    private func run(arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        let result = try TestProcess.run("/bin/bash", [script] + arguments,
                                         environment: ProcessInfo.processInfo.environment.merging(environment) { $1 })
        return (result.status, result.output)
    }
}
