import Foundation
import TestSupport
import XCTest
@testable import Data

/// File sizes are checked before anything is allocated or read: more than 10,000 records is
/// refused as the wrong file, even a 21 GB sparse one; files are read in chunks whose records
/// keep their order and their indices in errors; `decodeRecords` parses bytes with `load`'s checks.
final class RecordCountTests: XCTestCase {
    func testFileWithRoomForMoreThanTenThousandRecordsIsRefusedAsTheWrongFile() throws {
        let fixture = try CIFARFixture()
        try fixture.writeAll()
        let bytes = 10_001 * 3073
        let path = try fixture.sparse("data_batch_3.bin", bytes: bytes)
        assertLoad(directory: fixture.directory.path, split: .train,
                   throws: .tooManyRecords(path: path, bytes: bytes),
                   messageMentions: [path, "30,733,073 bytes", "10,001 records",
                                     "CIFAR-10 files hold 10,000 records each; is this the right file?"])
    }

    func testSparse21GBFileIsRefusedQuicklyBeforeAnythingIsAllocatedOrRead() throws {
        let fixture = try CIFARFixture()
        try fixture.writeAll()
        let bytes = 21_000_000_000 / 3073 * 3073  // a whole number of records: only the count is wrong
        let path = try fixture.sparse("test_batch.bin", bytes: bytes)
        let start = Date()
        assertLoad(directory: fixture.directory.path, split: .test, throws: .tooManyRecords(path: path, bytes: bytes),
                   messageMentions: [path, "20,999,996,976 bytes", "6,833,712 records", "10,000 records each"])
        // Reading 21 GB (or allocating it) would take far longer than this, if it did not abort.
        XCTAssertLessThan(Date().timeIntervalSince(start), 5)
    }

    func testTenThousandRecordsIsTheLargestFileAccepted() throws {
        let fixture = try CIFARFixture()
        try fixture.sparse("test_batch.bin", bytes: 10_000 * 3073)  // all zeros: label 0, black images
        let set = try ImageSet.load(directory: fixture.directory.path, split: .test, dataset: .cifar10)
        XCTAssertEqual(set.count, 10_000)
        XCTAssertEqual(set.pixels.count, 10_000 * 3072)
    }

    func testRecordsReadInSmallChunksKeepTheirOrder() throws {
        let fixture = try CIFARFixture()
        try fixture.writeAll(trainingCounts: [2, 3, 1, 5, 2], testCount: 3)
        for chunkRecords in [1, 2, 3, 1024] {
            let set = try ImageSet.load(directory: fixture.directory.path, split: .train, dataset: .cifar10, chunkRecords: chunkRecords)
            let expected = CIFARFixture.imageSet(0..<13)
            XCTAssertEqual(set.labels, expected.labels, "chunks of \(chunkRecords)")
            XCTAssertEqual(set.pixels, expected.pixels, "chunks of \(chunkRecords)")
        }
    }

    func testBadLabelInALaterChunkIsNamedByItsRecordInTheFile() throws {
        let fixture = try CIFARFixture()
        try fixture.writeAll()
        var bytes = (0..<5).flatMap { CIFARFixture.record(image: $0) }
        bytes[3 * 3073] = 12
        let path = try fixture.write("test_batch.bin", bytes: bytes)
        assertThrows(DataError.badLabel(path: path, record: 3, label: 12), messageMentions: ["record 3"]) {
            _ = try ImageSet.load(directory: fixture.directory.path, split: .test, dataset: .cifar10, chunkRecords: 2)
        }
    }

    func testDecodeRecordsReturnsTheImagesOfTheBytes() throws {
        let bytes = (5..<8).flatMap { CIFARFixture.record(image: $0) }
        let set = try bytes.withUnsafeBytes { try ImageSet.decodeRecords($0, path: "memory", dataset: .cifar10) }
        let expected = CIFARFixture.imageSet(5..<8)
        XCTAssertEqual(set.labels, expected.labels)
        XCTAssertEqual(set.pixels, expected.pixels)
    }

    func testDecodeRecordsRefusesBadBytesWithTheErrorsLoadGivesForThatFile() throws {
        var badLabel = (0..<3).flatMap { CIFARFixture.record(image: $0) }
        badLabel[1 * 3073] = 10
        let cases: [(bytes: [UInt8], error: (String) -> DataError)] = [
            ([], { .empty(path: $0) }),
            (CIFARFixture.record(image: 0) + [1, 2], { .badSize(path: $0, bytes: 3075) }),
            (badLabel, { .badLabel(path: $0, record: 1, label: 10) }),
            ([UInt8](repeating: 0, count: 10_001 * 3073), { .tooManyRecords(path: $0, bytes: 10_001 * 3073) }),
        ]
        for (bytes, error) in cases {
            let fixture = try CIFARFixture()
            let path = try fixture.write("test_batch.bin", bytes: bytes)
            assertThrows(error(path), messageMentions: [path]) {
                _ = try bytes.withUnsafeBytes { try ImageSet.decodeRecords($0, path: path, dataset: .cifar10) }
            }
            assertLoad(directory: fixture.directory.path, split: .test, throws: error(path), messageMentions: [path])
        }
    }
}
