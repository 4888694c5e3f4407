import Data
import Foundation
import TestSupport
import XCTest

/// Issue 14 #7: CIFAR-100 (`--dataset cifar100`, `--labels fine|coarse`) through every command
/// that reads data or weights, on generated `train.bin`/`test.bin` files, and the refusals that
/// keep the two data sets apart.
final class CIFAR100TrainingTests: SystemTestCase {
    let model = ["--model", "resnet-8", "--stem-channels", "4"]

    /// Writes a CIFAR-100 data set into the scratch directory; returns its path.
    func writeCIFAR100(training: Int, test: Int) throws -> String {
        try CIFARFixture(at: URL(fileURLWithPath: harness.path("cifar100"))).writeCIFAR100(training: training, test: test)
    }

    /// Fine labels: the run records the data set, builds a 100-class head and trains; `eval`
    /// takes the data set from the checkpoint; the export records the data set and its 100 class
    /// names; a resume or an evaluation as CIFAR-10 is refused, naming the classes.
    func testFineLabelsTrainEvaluateAndExportAsAHundredClassModel() throws {
        let data = try writeCIFAR100(training: 200, test: 40)
        let run = harness.path("run")
        let trained = try harness.single(["train"] + model + ["--dataset", "cifar100", "--data", data, "--run-dir", run,
                                                             "--epochs", "2", "--batch-size", "20", "--lr", "0.05"])
        XCTAssertEqual(trained.status, 0, trained.tail)
        let config = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: run + "/config.json"))) as? [String: Any])
        XCTAssertEqual(config["dataset"] as? [String: String], ["name": "cifar100", "labels": "fine"])
        XCTAssertEqual((config["model"] as? [String: Any])?["classes"] as? Int, 100)
        XCTAssertEqual(config["trainingSamples"] as? Int, 200)
        let metrics = try MPIHarness.jsonLines(run + "/metrics.jsonl")
        XCTAssertEqual(metrics.count, 2)
        XCTAssertTrue(metrics.allSatisfy { (($0["test_loss"] as? Double) ?? .nan).isFinite }, "\(metrics)")

        let eval = try harness.single(["eval", "--checkpoint", run, "--data", data])
        XCTAssertEqual(eval.status, 0, eval.tail)
        XCTAssertTrue(eval.output.contains("on 40 CIFAR-100 test images"), eval.tail)
        let asCIFAR10 = try harness.single(["eval", "--checkpoint", run, "--data", data, "--dataset", "cifar10"])
        XCTAssertEqual(asCIFAR10.status, 64, asCIFAR10.tail)
        XCTAssertTrue(asCIFAR10.output.contains("100 outputs"), asCIFAR10.tail)

        let exported = harness.path("c100.safetensors")
        XCTAssertEqual(try harness.single(["export", run, "-o", exported]).status, 0)
        let metadata = try Self.safetensorsMetadata(exported)
        XCTAssertEqual(metadata["ddptrain.dataset"], #"{"labels":"fine","name":"cifar100"}"#)
        let names = try JSONDecoder().decode([String].self, from: Data(try XCTUnwrap(metadata["ddptrain.classes"]).utf8))
        XCTAssertEqual(names, CIFAR100.fineNames)
        let evalWeights = try harness.single(["eval", "--weights", exported, "--data", data])
        XCTAssertEqual(evalWeights.status, 0, evalWeights.tail)
        XCTAssertEqual(Self.accuracy(evalWeights.output), Self.accuracy(eval.output), "the export evaluates as the checkpoint")

        let resumedAsCIFAR10 = try harness.single(["train", "--dataset", "cifar10", "--data", data, "--run-dir", run,
                                                   "--resume", "auto", "--epochs", "3", "--continue-with-changes"])
        XCTAssertEqual(resumedAsCIFAR10.status, 64, resumedAsCIFAR10.tail)
        XCTAssertTrue(resumedAsCIFAR10.output.contains("dataset.name"), resumedAsCIFAR10.tail)
    }

    /// Coarse labels under mpirun: two ranks train a 20-class model on the superclasses and agree
    /// with one process on the first epoch's test accuracy (the same global batch).
    func testCoarseLabelsTrainATwentyClassModelOnTwoRanksAsOnOne() throws {
        let data = try writeCIFAR100(training: 120, test: 30)
        let flags = model + ["--dataset", "cifar100", "--labels", "coarse", "--data", data, "--epochs", "1", "--lr", "0.05",
                             "--no-checkpoints", "--threads", "1"]
        let single = try harness.single(["train"] + flags + ["--run-dir", harness.path("one"), "--batch-size", "20"])
        XCTAssertEqual(single.status, 0, single.tail)
        let ranks = try harness.mpi(ranks: 2, ["train"] + flags + ["--run-dir", harness.path("two"), "--batch-size", "10"])
        XCTAssertEqual(ranks.status, 0, ranks.tail)
        let config = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: harness.path("two") + "/config.json"))) as? [String: Any])
        XCTAssertEqual(config["dataset"] as? [String: String], ["name": "cifar100", "labels": "coarse"])
        XCTAssertEqual((config["model"] as? [String: Any])?["classes"] as? Int, 20)
        let one = try MPIHarness.jsonLines(harness.path("one") + "/metrics.jsonl"), two = try MPIHarness.jsonLines(harness.path("two") + "/metrics.jsonl")
        let a = try XCTUnwrap(one.first?["test_loss"] as? Double), b = try XCTUnwrap(two.first?["test_loss"] as? Double)
        XCTAssertEqual(a, b, accuracy: 1e-4 * max(1, abs(a)), "2 ranks and 1 process end the epoch with the same test loss")
    }

    /// The wrong data set for the files, or labels CIFAR-10 does not have, stop the run before it
    /// starts, with the flag that would read the files, and leave no run directory.
    func testMismatchedDataSetFlagsAreRefusedBeforeARunStarts() throws {
        let cifar10 = try harness.writeDataSet("cifar10", training: 20, test: 5)
        let asCIFAR100 = try harness.single(["train"] + model + ["--dataset", "cifar100", "--data", cifar10, "--run-dir", harness.path("a")])
        XCTAssertEqual(asCIFAR100.status, 65, asCIFAR100.tail)
        XCTAssertTrue(asCIFAR100.output.contains("--dataset cifar10"), asCIFAR100.tail)
        XCTAssertFalse(FileManager.default.fileExists(atPath: harness.path("a")), "a refused run left its directory")

        let cifar100 = try writeCIFAR100(training: 20, test: 5)
        let asCIFAR10 = try harness.single(["train"] + model + ["--data", cifar100, "--run-dir", harness.path("b")])
        XCTAssertEqual(asCIFAR10.status, 65, asCIFAR10.tail)
        XCTAssertTrue(asCIFAR10.output.contains("--dataset cifar100"), asCIFAR10.tail)

        let labels = try harness.single(["train"] + model + ["--labels", "coarse", "--data", cifar10, "--run-dir", harness.path("c")])
        XCTAssertEqual(labels.status, 64, labels.tail)
        XCTAssertTrue(labels.output.contains("only CIFAR-100"), labels.tail)
    }

    /// The `__metadata__` of a safetensors file: the header is a little-endian 64-bit length
    /// and that many bytes of JSON.
    static func safetensorsMetadata(_ path: String) throws -> [String: String] {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let length = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let header = try XCTUnwrap(JSONSerialization.jsonObject(with: bytes.subdata(in: 8..<(8 + length))) as? [String: Any])
        return try XCTUnwrap(header["__metadata__"] as? [String: String])
    }

    /// The "top-1 accuracy N%" figure of an `eval` output.
    static func accuracy(_ output: String) -> String? {
        output.components(separatedBy: "top-1 accuracy ").dropFirst().first?.components(separatedBy: "%").first
    }
}
