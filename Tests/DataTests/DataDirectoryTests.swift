import Foundation
import TestSupport
import XCTest
@testable import Data

/// A `--data` path that is not a directory of CIFAR-10's binary files is named for what it is: a
/// file, the Python version, or CIFAR-100, each with how to get the right data.
final class DataDirectoryTests: XCTestCase {
    func testFileGivenAsTheDirectoryIsNamedAsAFile() throws {
        let fixture = try CIFARFixture()
        let path = try fixture.write("data_batch_1.bin", images: 0..<1)
        assertLoad(directory: path, split: .train, throws: .notADirectory(path: path),
                   messageMentions: [path, "is a file", "--data", "data_batch_1.bin", "test_batch.bin"])
        XCTAssertFalse(String(describing: DataError.notADirectory(path: path)).contains("get-cifar10.sh"))
    }

    func testPythonVersionIsRecognisedWithHowToGetTheBinaryOne() throws {
        let fixture = try CIFARFixture()
        for name in ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5",
                     "test_batch", "batches.meta"] {
            try fixture.write(name, bytes: [0x80, 0x02])
        }
        let directory = fixture.directory.path
        for (split, file) in [(DatasetSplit.train, "data_batch_1.bin"), (.test, "test_batch.bin")] {
            assertLoad(directory: directory, split: split,
                       throws: .pythonVersion(path: fixture.path(file), directory: directory),
                       messageMentions: [file, "Python version", "cifar-10-python.tar.gz", "cifar-10-binary.tar.gz",
                                         "Scripts/get-cifar10.sh \(directory)"])
        }
    }

    func testPickleSiblingOrBatchesMetaAloneIsEnoughToRecogniseThePythonVersion() throws {
        for (present, split, missing) in [("test_batch", DatasetSplit.test, "test_batch.bin"),
                                          ("batches.meta", .train, "data_batch_1.bin")] {
            let fixture = try CIFARFixture()
            try fixture.write(present, bytes: [0x80])
            let directory = fixture.directory.path
            assertLoad(directory: directory, split: split,
                       throws: .pythonVersion(path: fixture.path(missing), directory: directory),
                       messageMentions: ["Python version"])
        }
    }

    func testCIFAR100IsRecognisedAndTheFlagThatReadsItNamed() throws {
        let fixture = try CIFARFixture()
        try fixture.write("train.bin", bytes: [1, 2, 3])
        try fixture.write("test.bin", bytes: [1, 2, 3])
        let directory = fixture.directory.path
        assertLoad(directory: directory, split: .test,
                   throws: .cifar100(path: fixture.path("test_batch.bin"), directory: directory),
                   messageMentions: ["test_batch.bin", "CIFAR-100", "--dataset cifar100", "cifar-10-binary.tar.gz",
                                     "Scripts/get-cifar10.sh \(directory)"])
    }

    func testBinaryVersionsOwnMetaFileLeavesAPlainMissingFile() throws {
        let fixture = try CIFARFixture()
        try fixture.writeAll()
        try fixture.write("batches.meta.txt", bytes: Array("airplane\n".utf8))
        try FileManager.default.removeItem(atPath: fixture.path("data_batch_2.bin"))
        let directory = fixture.directory.path
        assertLoad(directory: directory, split: .train,
                   throws: .missingFile(path: fixture.path("data_batch_2.bin"),
                                        hint: DataError.obtainHint(directory: directory)),
                   messageMentions: ["data_batch_2.bin"])
    }
}
