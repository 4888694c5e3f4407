import Foundation
import TestSupport
import XCTest

/// `Scripts/get-cifar10.sh` and `Scripts/get-cifar100.sh` in the cases that need no network:
/// files already present, and an archive whose checksum is wrong.
final class GetCIFAR10ScriptTests: XCTestCase {
    /// The scripts, found from this file's place in the repository.
    let script = TestBinaries.repository.appendingPathComponent("Scripts/get-cifar10.sh").path
    let cifar100Script = TestBinaries.repository.appendingPathComponent("Scripts/get-cifar100.sh").path

    func testEachScriptDoesNothingWhenItsFilesAreAlreadyPresent() throws {
        let fixture = try CIFARFixture()
        try fixture.writeAll()
        try fixture.writeCIFAR100(training: 2, test: 1)
        for script in [script, cifar100Script] {
            let result = try run(script, arguments: [fixture.directory.path])
            XCTAssertEqual(result.status, 0, result.output)
            XCTAssertTrue(result.output.contains("nothing to do"), result.output)
        }
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

    func testCIFAR100ArchiveWithTheWrongChecksumIsRejectedWithItsLayout() throws {
        let fixture = try CIFARFixture()
        let bogus = try fixture.write("bogus.tar.gz", bytes: Array("not an archive".utf8))
        let target = fixture.path("cifar100")
        let result = try run(cifar100Script, arguments: [target], environment: ["CIFAR100_TARBALL": bogus])
        XCTAssertEqual(result.status, 1, result.output)
        for phrase in ["MD5", "03b5dce01913d631647c71ecec9e9cb8", target + "/train.bin", target + "/test.bin",
                       "cifar-100-binary/", "3074-byte records", "get-cifar100.sh"] {
            XCTAssertTrue(result.output.contains(phrase), "output does not mention '\(phrase)':\n\(result.output)")
        }
        XCTAssertFalse(result.output.contains("cifar10_to_bin.py"), "the CIFAR-10 converter is no way to CIFAR-100")
        XCTAssertFalse(FileManager.default.fileExists(atPath: target + "/train.bin"))
    }

    private func run(_ script: String? = nil, arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        let result = try TestProcess.run("/bin/bash", [script ?? self.script] + arguments,
                                         environment: ProcessInfo.processInfo.environment.merging(environment) { $1 })
        return (result.status, result.output)
    }
}
