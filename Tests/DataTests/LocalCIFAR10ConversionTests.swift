import Foundation
import TestSupport
import XCTest
@testable import Data

/// The real thing, small: `../shared/data/cifar10_to_bin.py --subset 500` converts the local JPEG
/// copy of CIFAR-10, and the result loads and looks like CIFAR-10. Skipped when the converter or
/// Pillow is not available.
///
/// The conversion decodes the whole archive (about 10 s), so its output is kept in the temporary
/// directory under a name made from the converter's and the archive's sizes and modification
/// times, and reused by later runs.
final class LocalCIFAR10ConversionTests: XCTestCase {
    let converter = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("shared/data/cifar10_to_bin.py").standardizedFileURL.path

    func testConvertedSubsetOfTheLocalJPEGCopyLoads() throws {
        let directory = try convertedSubset()
        let train = try ImageSet.load(directory: directory, split: .train, dataset: .cifar10)
        let test = try ImageSet.load(directory: directory, split: .test, dataset: .cifar10)
        XCTAssertEqual(train.count, 500)
        XCTAssertEqual(test.count, 100)
        XCTAssertEqual(Set(train.labels), Set(0..<10))
        XCTAssertTrue(test.labels.allSatisfy { $0 < 10 })
        let n = Normalization.compute(from: train)
        for c in 0..<3 {
            XCTAssertTrue((0.4...0.55).contains(n.mean[c]), "channel \(c) mean \(n.mean[c])")
            XCTAssertTrue((0.2...0.3).contains(n.std[c]), "channel \(c) std \(n.std[c])")
        }
        // Every image renders to finite values.
        let augmenter = Augmenter(options: AugmentationOptions(), normalization: n, seed: 1)
        for index in stride(from: 0, to: train.count, by: 50) {
            XCTAssertTrue(rendered { augmenter.render(train, index: index, epoch: 0, into: $0) }.allSatisfy(\.isFinite))
        }
    }

    /// The directory holding the converted subset, converting it first if no earlier run did.
    private func convertedSubset() throws -> String {
        let files = FileManager.default
        let archive = (converter as NSString).deletingLastPathComponent + "/cifar10-jpeg.tar.gz"
        guard files.fileExists(atPath: converter), files.fileExists(atPath: archive) else {
            throw XCTSkip("\(converter) or its cifar10-jpeg.tar.gz is not present: nothing to convert")
        }
        let key = try [converter, archive].map { path -> String in
            let a = try files.attributesOfItem(atPath: path)
            let size = (a[.size] as? NSNumber)?.intValue ?? 0
            let time = Int((a[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)
            return "\(size)-\(time)"
        }.joined(separator: "-")
        let cache = files.temporaryDirectory.appendingPathComponent("ddptrain-cifar10-subset500-\(key)").path
        if (CIFAR10.trainingFiles + CIFAR10.testFiles).allSatisfy({ files.fileExists(atPath: cache + "/" + $0) }) {
            return cache
        }
        guard try python(["-c", "import PIL"]).status == 0
            || (try python(["-m", "pip", "install", "-q", "--timeout", "10", "--retries", "1", "pillow"]).status == 0
                && python(["-c", "import PIL"]).status == 0)
        else {
            throw XCTSkip("Pillow is not importable and 'python3 -m pip install pillow' failed: cannot run \(converter)")
        }
        // Convert into a fresh directory and move it into place whole, so an interrupted run
        // never leaves a partial cache behind.
        let partial = cache + ".partial-\(UUID().uuidString)"
        defer { try? files.removeItem(atPath: partial) }
        let result = try python([converter, partial, "--subset", "500"])
        XCTAssertEqual(result.status, 0, result.output)
        try? files.removeItem(atPath: cache)
        try files.moveItem(atPath: partial, toPath: cache)
        return cache
    }

    private func python(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let result: TestProcess.Result
        do { result = try TestProcess.run("/usr/bin/env", ["python3"] + arguments, timeout: 600) } catch let error as TestProcess.Hung {
            throw error
        } catch { throw XCTSkip("python3 could not be started: \(error)") }
        return (result.status, result.output)
    }
}
