import Data
import Foundation
import FuzzSupport

/// Fuzz target (c): arbitrary bytes as a binary file of each data set, CIFAR-10 (`test_batch.bin`)
/// and CIFAR-100 with either label kind (`test.bin`), with the validation `ImageSet.load` applies
/// to every file it reads.
///
/// Reading must throw a `DataError` or return a set with one label per record (the learnt label
/// byte, in range) and 3,072 pixel bytes per record, the records byte for byte as in the file; the
/// set's statistics (`Normalization.compute`, as a run computes them for its training set) must
/// then be in range.
func readCIFAR(_ input: UnsafeRawBufferPointer) {
    for dataset in [Dataset.cifar10, .cifar100(.fine), .cifar100(.coarse)] {
        read(input, as: dataset)
    }
}

/// `readCIFAR` for one data set.
func read(_ input: UnsafeRawBufferPointer, as dataset: Dataset) {
    let name = dataset.files(for: .test)[0]
    guard let set = try? ImageSet.decodeRecords(input, path: name, dataset: dataset) else { return }
    let recordBytes = dataset.recordBytes, labelBytes = dataset.labelBytes
    precondition(set.count * recordBytes == input.count, "\(dataset): \(set.count) images from \(input.count) bytes")
    guard set.count > 0 else { return }  // An empty set has no statistics to check.
    precondition(set.pixels.count == set.count * CIFARImage.imageBytes, "\(dataset): pixel bytes do not match the images")
    let labelByte = dataset.labels == .fine ? 1 : 0
    for i in 0..<set.count {
        let record = i * recordBytes
        precondition(set.labels[i] == input[record + labelByte] && Int(set.labels[i]) < dataset.classes,
                     "\(dataset) image \(i): bad label")
        precondition(set.pixels[(i * CIFARImage.imageBytes)..<((i + 1) * CIFARImage.imageBytes)]
                        .elementsEqual(input[(record + labelBytes)..<(record + recordBytes)]),
                     "\(dataset) image \(i): its pixels are not the file's")
    }
    let statistics = Normalization.compute(from: set)
    precondition((statistics.mean + statistics.std).allSatisfy { $0.isFinite && $0 >= 0 && $0 <= 1 },
                 "normalisation out of range: \(statistics)")
}

/// The harness: `readCIFAR` on each input, under libFuzzer or replaying files (see `FuzzMain`).
@main
enum CifarReaderHarness: FuzzHarness {
    static let name = "fuzz-cifar-reader"
    static func test(_ input: UnsafeRawBufferPointer) { readCIFAR(input) }
}
