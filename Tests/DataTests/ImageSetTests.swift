import TestSupport
import XCTest
@testable import Data

/// Reading CIFAR-10 binary files: good files load in order with their pixels and labels; every
/// kind of bad directory or file gives the `DataError` that names it, never a crash.
final class ImageSetTests: XCTestCase {
    func testTrainingFilesLoadInOrderWithTheirPixelsAndLabels() throws {
        let fixture = try CIFARFixture()
        try fixture.writeAll(trainingCounts: [2, 3, 1, 2, 2], testCount: 3)
        let train = try ImageSet.load(directory: fixture.directory.path, split: .train, dataset: .cifar10)
        XCTAssertEqual(train.count, 10)
        XCTAssertEqual(train.pixels.count, 10 * CIFARImage.imageBytes)
        XCTAssertEqual(train.pixels, CIFARFixture.imageSet(0..<10).pixels)
        XCTAssertEqual(train.labels, (0..<10).map { UInt8($0) })
    }

    func testTestSplitReadsOnlyTheTestFile() throws {
        let fixture = try CIFARFixture()
        try fixture.writeAll(trainingCounts: [1, 1, 1, 1, 1], testCount: 4)
        let test = try ImageSet.load(directory: fixture.directory.path + "/", split: .test, dataset: .cifar10)
        let expected = CIFARFixture.imageSet(CIFARFixture.firstTestImage..<(CIFARFixture.firstTestImage + 4))
        XCTAssertEqual(test.pixels, expected.pixels)
        XCTAssertEqual(test.labels, expected.labels)
    }

    func testPixelsAreTheRecordsBytesAfterTheLabel() throws {
        let fixture = try CIFARFixture()
        try fixture.writeAll(trainingCounts: [1, 1, 1, 1, 1], testCount: 1)
        let set = try ImageSet.load(directory: fixture.directory.path, split: .test, dataset: .cifar10)
        let record = CIFARFixture.record(image: CIFARFixture.firstTestImage)
        XCTAssertEqual(set.labels, [record[0]])
        XCTAssertEqual(set.pixels, Array(record[1...]))
        // Channel 1 (green), row 2, column 5 is byte 1 + 1024 + 2·32 + 5 of the record.
        XCTAssertEqual(set.pixels[1024 + 2 * 32 + 5], CIFARFixture.pixel(image: CIFARFixture.firstTestImage, channel: 1, position: 69))
    }

    func testMissingDirectoryIsReported() throws {
        let fixture = try CIFARFixture()
        let path = fixture.path("absent")
        assertLoad(directory: path, split: .train, throws: .missingDirectory(path: path),
                   messageMentions: [path, "get-cifar10.sh"])
    }

    func testMissingFileIsNamedWithHowToObtainIt() throws {
        let fixture = try CIFARFixture()
        try fixture.writeAll()
        try FileManager.default.removeItem(atPath: fixture.path("data_batch_3.bin"))
        let directory = fixture.directory.path
        assertLoad(directory: directory, split: .train,
                   throws: .missingFile(path: fixture.path("data_batch_3.bin"),
                                        hint: DataError.obtainHint(directory: directory)),
                   messageMentions: ["data_batch_3.bin", "Scripts/get-cifar10.sh", "cifar10_to_bin.py"])
        // The test split does not need the training files.
        XCTAssertNoThrow(try ImageSet.load(directory: directory, split: .test, dataset: .cifar10))
    }

    func testSizeThatIsNotAWholeNumberOfRecordsIsReportedWithTheByteCount() throws {
        let fixture = try CIFARFixture()
        try fixture.writeAll()
        let path = try fixture.write("data_batch_2.bin", bytes: (0..<2).flatMap { CIFARFixture.record(image: $0) }
                                     + [UInt8](repeating: 1, count: 100))
        assertLoad(directory: fixture.directory.path, split: .train, throws: .badSize(path: path, bytes: 6246),
                   messageMentions: [path, "6246 bytes", "2 whole records", "100 bytes left over"])
    }

    func testLabelOutOfRangeNamesTheFileAndRecord() throws {
        for label: UInt8 in [10, 255] {
            let fixture = try CIFARFixture()
            try fixture.writeAll()
            var bytes = (0..<4).flatMap { CIFARFixture.record(image: $0) }
            bytes[2 * CIFAR10.recordBytes] = label
            let path = try fixture.write("data_batch_4.bin", bytes: bytes)
            assertLoad(directory: fixture.directory.path, split: .train,
                       throws: .badLabel(path: path, record: 2, label: label),
                       messageMentions: [path, "record 2", "label \(label)", "0–9"])
        }
    }

    func testEmptyFileIsReported() throws {
        let fixture = try CIFARFixture()
        try fixture.writeAll()
        let path = try fixture.write("test_batch.bin", bytes: [])
        assertLoad(directory: fixture.directory.path, split: .test, throws: .empty(path: path),
                   messageMentions: [path, "empty"])
    }

    func testDirectoryInPlaceOfAFileIsUnreadable() throws {
        let fixture = try CIFARFixture()
        try fixture.writeAll()
        try FileManager.default.removeItem(atPath: fixture.path("test_batch.bin"))
        try FileManager.default.createDirectory(atPath: fixture.path("test_batch.bin"), withIntermediateDirectories: false)
        assertLoad(directory: fixture.directory.path, split: .test,
                   throws: .unreadable(path: fixture.path("test_batch.bin"), reason: "it is a directory"),
                   messageMentions: ["test_batch.bin", "directory"])
    }

    func testFileListsAreTheStandardNames() {
        XCTAssertEqual(CIFAR10.files(for: .train),
                       ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"])
        XCTAssertEqual(CIFAR10.files(for: .test), ["test_batch.bin"])
        XCTAssertEqual(CIFAR10.recordBytes, 1 + CIFARImage.channels * CIFARImage.height * CIFARImage.width)
    }
}
