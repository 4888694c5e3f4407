import TestSupport
import XCTest
@testable import Data

/// Reading CIFAR-100's binary files (`train.bin`, `test.bin`; coarse and fine label bytes before
/// each image) as strictly as CIFAR-10's, and telling the two data sets apart with messages that
/// say which flag reads the files at hand.
final class CIFAR100Tests: XCTestCase {
    func testTrainAndTestFilesLoadWithTheirFineLabelsAndPixels() throws {
        let fixture = try CIFARFixture()
        try fixture.writeCIFAR100(training: 130, test: 4)
        let train = try ImageSet.load(directory: fixture.directory.path, split: .train, dataset: .cifar100(.fine), chunkRecords: 7)
        XCTAssertEqual(train.count, 130)
        XCTAssertEqual(train.labels, (0..<130).map { CIFARFixture.fineLabel(image: $0) })
        XCTAssertEqual(train.labels.max(), 99)
        XCTAssertEqual(train.pixels, CIFARFixture.imageSet(0..<130).pixels)
        let test = try ImageSet.load(directory: fixture.directory.path, split: .test, dataset: .cifar100())
        let first = CIFARFixture.firstTestImage
        XCTAssertEqual(test.labels, (first..<(first + 4)).map { CIFARFixture.fineLabel(image: $0) })
        XCTAssertEqual(test.pixels, CIFARFixture.imageSet(first..<(first + 4)).pixels)
    }

    func testCoarseLabelsAreTheFirstLabelByte() throws {
        let fixture = try CIFARFixture()
        try fixture.writeCIFAR100(training: 100, test: 1)
        let train = try ImageSet.load(directory: fixture.directory.path, split: .train, dataset: .cifar100(.coarse))
        XCTAssertEqual(train.labels, (0..<100).map { CIFARFixture.coarseLabel(fine: CIFARFixture.fineLabel(image: $0)) })
        XCTAssertEqual(Set(train.labels).count, 20)
    }

    func testLabelsOutOfRangeNameTheFileAndRecord() throws {
        for (coarse, fine): (UInt8, UInt8) in [(3, 100), (20, 5), (255, 255)] {
            let fixture = try CIFARFixture()
            try fixture.writeCIFAR100(training: 3, test: 1)
            let path = try fixture.write("train.bin", bytes: CIFARFixture.cifar100Record(image: 0) + CIFARFixture.cifar100Record(image: 1)
                                         + CIFARFixture.cifar100Record(image: 2, coarse: coarse, fine: fine))
            assertLoad(directory: fixture.directory.path, split: .train, dataset: .cifar100(),
                       throws: .badLabels(path: path, record: 2, coarse: coarse, fine: fine),
                       messageMentions: [path, "record 2", "coarse label \(coarse)", "fine label \(fine)", "0–19", "0–99"])
        }
    }

    func testAFineClassInTwoSuperclassesIsRefused() throws {
        let fixture = try CIFARFixture()
        try fixture.writeCIFAR100(training: 3, test: 1)
        // Fine class 7 sits in superclass 1 in record 0, then in superclass 2 in record 2.
        let path = try fixture.write("test.bin", bytes: CIFARFixture.cifar100Record(image: 0, coarse: 1, fine: 7)
                                     + CIFARFixture.cifar100Record(image: 1) + CIFARFixture.cifar100Record(image: 2, coarse: 2, fine: 7))
        assertLoad(directory: fixture.directory.path, split: .test, dataset: .cifar100(.coarse),
                   throws: .inconsistentSuperclass(path: path, record: 2, fine: 7, coarse: 2, earlier: 1),
                   messageMentions: [path, "record 2", "fine class 7", "superclass 2", "superclass 1"])
    }

    func testSwappedLabelBytesAreCaught() throws {
        // Fine labels 20–99 in the coarse byte are out of its range at once.
        let swapped = (0..<30).flatMap { image -> [UInt8] in
            let r = CIFARFixture.cifar100Record(image: image + 20)
            return [r[1], r[0]] + r[2...]
        }
        XCTAssertThrowsError(try swapped.withUnsafeBytes { try ImageSet.decodeRecords($0, path: "train.bin", dataset: .cifar100()) }) { error in
            XCTAssertEqual(error as? DataError, .badLabels(path: "train.bin", record: 0, coarse: 20, fine: 4))
        }
    }

    func testTheCIFAR10ReaderRefusesAHundredClassLabelAndPointsToCIFAR100() throws {
        let fixture = try CIFARFixture()
        try fixture.writeAll()
        var bytes = (0..<3).flatMap { CIFARFixture.record(image: $0) }
        bytes[1 * CIFAR10.recordBytes] = 57
        let path = try fixture.write("test_batch.bin", bytes: bytes)
        assertLoad(directory: fixture.directory.path, split: .test,
                   throws: .badLabel(path: path, record: 1, label: 57),
                   messageMentions: [path, "label 57", "0–9", "--dataset cifar100"])
    }

    func testCIFAR10FilesReadAsCIFAR100AreNamedWithTheFlagThatReadsThem() throws {
        let fixture = try CIFARFixture()
        try fixture.writeAll()
        let directory = fixture.directory.path
        assertLoad(directory: directory, split: .train, dataset: .cifar100(),
                   throws: .cifar10(path: fixture.path("train.bin"), directory: directory),
                   messageMentions: ["train.bin", "data_batch", "--dataset cifar10", "get-cifar100.sh"])
    }

    func testCIFAR100FilesReadAsCIFAR10AreNamedWithTheFlagThatReadsThem() throws {
        let fixture = try CIFARFixture()
        try fixture.writeCIFAR100(training: 2, test: 2)
        let directory = fixture.directory.path
        assertLoad(directory: directory, split: .test,
                   throws: .cifar100(path: fixture.path("test_batch.bin"), directory: directory),
                   messageMentions: ["test_batch.bin", "train.bin", "--dataset cifar100"])
    }

    func testARenamedFileOfTheOtherLayoutIsRefusedBySizeWithAHint() throws {
        let fixture = try CIFARFixture()
        // Two CIFAR-10 records (6,146 bytes) as CIFAR-100's test.bin.
        let path = try fixture.write("test.bin", bytes: (0..<2).flatMap { CIFARFixture.record(image: $0) })
        try fixture.write("train.bin", bytes: CIFARFixture.cifar100Record(image: 0))
        assertLoad(directory: fixture.directory.path, split: .test, dataset: .cifar100(),
                   throws: .badSize(path: path, bytes: 6146, dataset: .cifar100()),
                   messageMentions: [path, "3074-byte record", "3073-byte records", "--dataset cifar10"])
        // Three CIFAR-100 records (9,222 bytes) as CIFAR-10's test_batch.bin.
        let other = try CIFARFixture()
        try other.writeAll()
        let renamed = try other.write("test_batch.bin", bytes: (0..<3).flatMap { CIFARFixture.cifar100Record(image: $0) })
        assertLoad(directory: other.directory.path, split: .test,
                   throws: .badSize(path: renamed, bytes: 9222),
                   messageMentions: [renamed, "3073-byte record", "3074-byte records", "--dataset cifar100"])
    }

    func testAFileLargerThanTrainBinIsRefusedBeforeReading() throws {
        let fixture = try CIFARFixture()
        try fixture.writeCIFAR100(training: 1, test: 1)
        let bytes = 50_001 * CIFAR100.recordBytes
        let path = try fixture.sparse("train.bin", bytes: bytes)
        assertLoad(directory: fixture.directory.path, split: .train, dataset: .cifar100(),
                   throws: .tooManyRecords(path: path, bytes: bytes, dataset: .cifar100()),
                   messageMentions: [path, "at most 50,000 records"])
    }

    func testTheDatasetFlagsChooseLabelsOnlyForCIFAR100() throws {
        XCTAssertEqual(try Dataset.choose(name: nil, labels: nil, base: .cifar10), .cifar10)
        XCTAssertEqual(try Dataset.choose(name: .cifar100, labels: nil, base: .cifar10), .cifar100(.fine))
        XCTAssertEqual(try Dataset.choose(name: nil, labels: nil, base: .cifar100(.coarse)), .cifar100(.coarse))
        XCTAssertEqual(try Dataset.choose(name: nil, labels: .fine, base: .cifar100(.coarse)), .cifar100(.fine))
        XCTAssertEqual(try Dataset.choose(name: .cifar10, labels: nil, base: .cifar100(.coarse)), .cifar10)
        XCTAssertThrowsError(try Dataset.choose(name: nil, labels: .coarse, base: .cifar10)) { error in
            XCTAssertEqual(error as? DatasetChoiceError, .labelsWithoutCIFAR100(labels: .coarse))
            XCTAssertTrue("\(error)".contains("--dataset cifar100"), "\(error)")
        }
        XCTAssertThrowsError(try Dataset(name: .cifar100, labels: nil).validate())
        XCTAssertThrowsError(try Dataset(name: .cifar10, labels: .fine).validate())
    }

    func testEachLabelKindHasItsClassesAndNames() {
        XCTAssertEqual([Dataset.cifar10, .cifar100(.fine), .cifar100(.coarse)].map(\.classes), [10, 100, 20])
        for dataset in [Dataset.cifar10, .cifar100(.fine), .cifar100(.coarse)] {
            XCTAssertEqual(dataset.classNames.count, dataset.classes, "\(dataset)")
            XCTAssertEqual(Set(dataset.classNames).count, dataset.classes, "\(dataset): names repeat")
        }
        XCTAssertEqual(CIFAR100.fineNames, CIFAR100.fineNames.sorted(), "fine_label_names.txt lists the classes alphabetically")
        XCTAssertEqual(Dataset.cifar100().files(for: .train), ["train.bin"])
        XCTAssertEqual(Dataset.cifar100().files(for: .test), ["test.bin"])
        XCTAssertEqual(CIFAR100.recordBytes, 2 + 3 * 32 * 32)
    }
}
