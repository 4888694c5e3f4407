import Foundation
import TestSupport
import XCTest

/// Trains a real model on a real-data subset with the release binary, as a user would run it.
///
/// Needs `../shared/data/cifar10_to_bin.py` beside the repository (converted once into
/// `.build/cifar10-subset-5000`, installing Pillow if needed) and a release build of `ddptrain`
/// (`swift build -c release`, or `DDPTRAIN_BINARY`); `Scripts/test.sh` provides both. Without
/// them the test skips and says why.
final class EndToEndTests: XCTestCase {
    static let repository = TestBinaries.repository

    /// Converts the shared JPEG copy of CIFAR-10 to a 5000/1000-image binary subset, once.
    func realDataSubset() throws -> URL {
        let converter = Self.repository.deletingLastPathComponent().appendingPathComponent("shared/data/cifar10_to_bin.py")
        guard FileManager.default.fileExists(atPath: converter.path) else {
            throw XCTSkip("\(converter.path) is not present: the real-data end-to-end test needs the shared CIFAR-10 copy")
        }
        let directory = Self.repository.appendingPathComponent(".build/cifar10-subset-5000")
        if FileManager.default.fileExists(atPath: directory.appendingPathComponent("test_batch.bin").path) {
            return directory
        }
        if try run("/usr/bin/env", ["python3", "-c", "import PIL"]).status != 0 {
            let pip = try run("/usr/bin/env", ["python3", "-m", "pip", "install", "-q", "pillow"])
            guard pip.status == 0 else { throw XCTSkip("cannot install Pillow for the converter: \(pip.output)") }
        }
        let converted = try run("/usr/bin/env", ["python3", converter.path, directory.path, "--subset", "5000"])
        XCTAssertEqual(converted.status, 0, converted.output)
        return directory
    }

    @discardableResult
    func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let result = try TestProcess.run(executable, arguments, timeout: 1800)
        return (result.status, result.output)
    }

    func testResNet20LearnsRealCIFARSubsetWellAboveChance() throws {
        let binary = try TestBinaries.releaseBinary()
        let data = try realDataSubset()
        let runDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("ddptrain-e2e-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: runDirectory) }
        let result = try run(binary.path, [
            "train", "--model", "resnet-20", "--data", data.path, "--run-dir", runDirectory.path,
            "--epochs", "4", "--batch-size", "64", "--lr", "0.1", "--schedule", "cosine", "--warmup-epochs", "0.5",
            "--threads", "2", "--seed", "1",
        ])
        print(result.output)
        XCTAssertEqual(result.status, 0, result.output)
        let lines = try String(contentsOf: runDirectory.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
            .split(separator: "\n")
        XCTAssertEqual(lines.count, 4)
        let last = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(lines.last!.utf8)) as? [String: Any])
        let accuracy = try XCTUnwrap(last["test_accuracy"] as? Double)
        // Chance is 10%; the bar for a couple of epochs on 5000 images is 35%.
        XCTAssertGreaterThanOrEqual(accuracy, 0.35, "final test accuracy \(accuracy)")
        XCTAssertNoThrow(try Data(contentsOf: runDirectory.appendingPathComponent("config.json")))
    }

    func testBadDataDirectoryFailsWithAMessageNamingIt() throws {
        let binary = try TestBinaries.releaseBinary()
        let result = try run(binary.path, ["train", "--model", "resnet-20", "--data", "/nonexistent/cifar", "--run-dir", "/tmp/unused"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.output.contains("/nonexistent/cifar"), result.output)
    }
}
