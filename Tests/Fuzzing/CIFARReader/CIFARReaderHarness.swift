import Data
import Foundation
import FuzzSupport

/// Reads `bytes` as the records of a CIFAR-10 batch file, with the validation `ImageSet.load`
/// applies to every file it reads.
func readRecords(_ bytes: UnsafeRawBufferPointer) throws -> ImageSet {
    try ImageSet.decodeRecords(bytes, path: "test_batch.bin")
}

/// Fuzz target (c): arbitrary bytes as a CIFAR-10 batch file (`test_batch.bin`).
///
/// Reading must throw a `DataError` or return a set with one label in `0..<10` and 3,072 pixel
/// bytes per record, the records byte for byte as in the file; the set's statistics
/// (`Normalization.compute`, as a run computes them for its training set) must then be in range.
func readCIFAR(_ input: UnsafeRawBufferPointer) {
    guard let set = try? readRecords(input) else { return }
    precondition(set.count * CIFAR10.recordBytes == input.count, "\(set.count) images from \(input.count) bytes")
    guard set.count > 0 else { return }  // An empty set has no statistics to check.
    precondition(set.pixels.count == set.count * CIFAR10.imageBytes, "pixel bytes do not match the images")
    for i in 0..<set.count {
        let record = i * CIFAR10.recordBytes
        precondition(set.labels[i] == input[record] && Int(set.labels[i]) < CIFAR10.classes, "image \(i): bad label")
        precondition(set.pixels[(i * CIFAR10.imageBytes)..<((i + 1) * CIFAR10.imageBytes)]
                        .elementsEqual(input[(record + 1)..<(record + CIFAR10.recordBytes)]),
                     "image \(i): its pixels are not the file's")
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
