import Foundation
import TestSupport
import XCTest

/// Issue 13: weights leave ddptrain as safetensors that PyTorch loads, and weights come in with
/// `train --init-from` and `eval --weights`. PyTorch is the independent reference: its model
/// (Scripts/ddptrain_torch.py) and the `safetensors` package read the export, and ddptrain reads
/// what PyTorch saved; Scripts/safetensors_check.py is PyTorch's side. The PyTorch tests skip,
/// saying why, without a Python that imports torch, numpy and safetensors (`DDPTRAIN_TORCH_PYTHON`;
/// Scripts/setup.sh's `torch_python` makes one).
final class WeightsExportTests: SystemTestCase {
    static let script = MPIHarness.repository.appendingPathComponent("Scripts/safetensors_check.py").path

    /// Logits of ddptrain and PyTorch on the same images must agree to this: the largest absolute
    /// difference over the largest absolute logit (measured: about 3e-7 for a trained resnet-8 on
    /// this machine; float32 engines with different summation orders).
    static let logitTolerance = 1e-4

    /// The Python for PyTorch's side, or why there is none (probed once: importing torch is slow).
    static let python = probe("safetensors")
    /// The Python for onnxruntime's side, or why there is none.
    static let onnxPython = probe("safetensors, onnx, onnxruntime")

    /// The PyTorch Python (`PyTorchCrossCheckTests.findTorchPython`) if it can also import `modules`.
    static func probe(_ modules: String) -> (command: [String]?, reason: String) {
        let found = PyTorchCrossCheckTests.findTorchPython()
        guard let command = found.command else { return found }
        let directory = FileManager.default.temporaryDirectory
        let log = directory.appendingPathComponent("ddptrain-export-probe-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: log) }
        let result = try? TestProcess.run(command[0], Array(command.dropFirst()) + ["-c", "import \(modules)"],
                                          environment: ProcessInfo.processInfo.environment, directory: directory, log: log)
        return result?.status == 0 ? found
            : (nil, "\(command.joined(separator: " ")) cannot import \(modules) (pip install them; Scripts/setup.sh's torch_python does)")
    }

    /// 1,000 test images, as the issue asks, and a small training split.
    func data() throws -> String { try harness.writeDataSet("data", training: 120, test: 1000) }

    /// Trains `model` for one epoch into `run` and returns the run directory.
    func trained(_ model: [String], data: String, run: String) throws -> String {
        let result = try harness.single(["train"] + model + ["--data", data, "--run-dir", harness.path(run), "--epochs", "1",
                                                             "--batch-size", "32", "--threads", "2", "--seed", "3"])
        XCTAssertEqual(result.status, 0, result.tail)
        return harness.path(run)
    }

    /// Runs Scripts/safetensors_check.py with `arguments` under `python`, skipping the test without it.
    func pytorch(_ arguments: [String], python: (command: [String]?, reason: String) = WeightsExportTests.python) throws -> TestProcess.Result {
        guard let command = python.command else { throw XCTSkip(python.reason) }
        return try TestProcess.run(command[0], Array(command.dropFirst()) + [Self.script] + arguments,
                                   environment: ProcessInfo.processInfo.environment, directory: harness.scratch,
                                   log: harness.scratch.appendingPathComponent("python-\(UUID().uuidString).log"))
    }

    /// The weights hash `export` printed ("… weights hash 0123456789abcdef").
    static func printedHash(_ result: TestProcess.Result) -> String? {
        result.output.components(separatedBy: "weights hash ").dropFirst().first.map { String($0.prefix(16)) }
    }

    /// Asserts, through Scripts/safetensors_check.py's `compare`, that the logits in `a` equal
    /// those in `b` within `logitTolerance` with the same class for every image.
    func assertLogitsAgree(_ a: String, _ b: String, _ what: String) throws {
        let compared = try pytorch(["compare", a, b, "--tolerance", "\(Self.logitTolerance)"])
        print("\(what): \(compared.output.trimmingCharacters(in: .whitespacesAndNewlines))")
        XCTAssertEqual(compared.status, 0, "\(what): the logits differ:\n\(compared.tail)")
    }

    /// Trains `model` as `name`, exports it in `format`, and asserts that the reference's logits
    /// of the export (`reader`, a command of Scripts/safetensors_check.py under `python`) agree
    /// with `ddptrain eval --logits` of the checkpoint.
    func assertExportMatchesEval(_ name: String, model: [String], data: String, format: String, reader: String,
                                 python: (command: [String]?, reason: String)) throws {
        let run = try trained(model, data: data, run: name)
        let file = harness.path("\(name).\(format)")
        let export = try harness.single(["export", run, "--format", format, "-o", file])
        XCTAssertEqual(export.status, 0, export.tail)
        let eval = try harness.single(["eval", "--checkpoint", run, "--data", data, "--logits", harness.path("\(name)-ddptrain.npy")])
        XCTAssertEqual(eval.status, 0, eval.tail)
        let logits = try pytorch([reader, file, data, harness.path("\(name)-\(format).npy")], python: python)
        XCTAssertEqual(logits.status, 0, "\(name): the reference refused the \(format) export:\n\(logits.tail)")
        try assertLogitsAgree(harness.path("\(name)-\(format).npy"), harness.path("\(name)-ddptrain.npy"), "\(name) \(format)")
    }

    // MARK: ddptrain → PyTorch and onnxruntime

    /// For a ResNet, a SparseNet-BC, an SE-DenseNet and a separable ResNet (stride-2 depthwise
    /// convolutions): the export loads strictly into the PyTorch definition and its logits on
    /// 1,000 test images equal `ddptrain eval --logits`'s within `logitTolerance`, with the same
    /// arg-max class for every image (so the same accuracy).
    func testExportedSafetensorsGiveEvalsLogitsInPyTorch() throws {
        let data = try data()
        for (name, model) in [("resnet", ["--model", "resnet-8", "--stem-channels", "4"]), ("sparsenet", ["--model", "sparsenet-bc-16-4"]),
                              ("se-densenet", ["--model", "se-densenet-10-4", "--se", "2"]),
                              ("sep-resnet", ["--model", "sep-resnet-8", "--stem-channels", "4"])] {
            try assertExportMatchesEval(name, model: model, data: data, format: "safetensors", reader: "logits", python: Self.python)
        }
    }

    /// For each family (ResNet's option-A shortcut, SparseNet-BC's sparse concatenations and
    /// bottlenecks, DenseNet's dense ones with dropout, SE-ResNet's squeeze-and-excitation units,
    /// a separable SE-SparseNet's grouped `Conv`s): `export --format onnx` passes
    /// `onnx.checker` (full check) and onnxruntime's logits on 1,000 test images equal `ddptrain
    /// eval --logits`'s within `logitTolerance`, with the same class for every image.
    func testExportedONNXPassesTheCheckerAndGivesEvalsLogitsInOnnxruntime() throws {
        guard Self.onnxPython.command != nil else { throw XCTSkip(Self.onnxPython.reason) }
        let data = try data()
        for (name, model) in [("resnet", ["--model", "resnet-8", "--stem-channels", "4"]), ("sparsenet", ["--model", "sparsenet-bc-16-4"]),
                              ("densenet", ["--model", "densenet-10-4", "--dropout", "0.2"]),
                              ("se-resnet", ["--model", "se-resnet-8", "--stem-channels", "4", "--se", "2"]),
                              ("se-sep-sparsenet", ["--model", "se-sep-sparsenet-13-4", "--se", "2"])] {
            try assertExportMatchesEval(name, model: model, data: data, format: "onnx", reader: "onnx", python: Self.onnxPython)
        }
    }

    // MARK: PyTorch → ddptrain

    /// A model initialised and saved by PyTorch (random weights and batch-norm statistics, no
    /// ddptrain metadata) evaluates in ddptrain (`eval --weights` with the model flags) to
    /// PyTorch's logits, and `train --init-from` starts from exactly those weights.
    func testWeightsSavedByPyTorchEvaluateToPyTorchsLogitsAndInitialiseARun() throws {
        let data = try data()
        let file = harness.path("torch.safetensors")
        let saved = try pytorch(["save", "resnet-8", data, file, harness.path("torch.npy"), "--stem-channels", "4", "--seed", "5"])
        XCTAssertEqual(saved.status, 0, saved.tail)
        let model = ["--model", "resnet-8", "--stem-channels", "4"]
        let eval = try harness.single(["eval", "--weights", file] + model + ["--data", data, "--logits", harness.path("ddptrain.npy")])
        XCTAssertEqual(eval.status, 0, eval.tail)
        try assertLogitsAgree(harness.path("ddptrain.npy"), harness.path("torch.npy"), "PyTorch → ddptrain")

        let run = try harness.single(["train"] + model + ["--data", data, "--run-dir", harness.path("from-torch"), "--epochs", "1",
                                                         "--init-from", file])
        XCTAssertEqual(run.status, 0, run.tail)
        XCTAssertTrue(run.startedTraining)
    }

    // MARK: Round trip and refusals (no PyTorch needed)

    /// Export, then `--init-from` the export: the run starts from bitwise the checkpoint's weights
    /// (the `started` event's weights hash is the one `export` and `inspect` print); the same from
    /// the checkpoint itself.
    func testInitFromTheExportStartsFromBitwiseTheCheckpointsWeights() throws {
        let data = try harness.writeDataSet("data", training: 64, test: 16)
        let model = ["--model", "resnet-8", "--stem-channels", "4"]
        let run = try trained(model, data: data, run: "original")
        let file = harness.path("w.safetensors")
        let export = try harness.single(["export", run, "-o", file])
        XCTAssertEqual(export.status, 0, export.tail)
        let hash = try XCTUnwrap(Self.printedHash(export), "export printed no weights hash:\n\(export.tail)")
        let inspect = try harness.single(["inspect", run])
        XCTAssertTrue(inspect.output.contains("weights hash \(hash)"), "inspect disagrees with export:\n\(inspect.tail)")
        for (name, source) in [("from-export", file), ("from-checkpoint", run)] {
            let started = try harness.single(["train"] + model + ["--data", data, "--run-dir", harness.path(name), "--epochs", "1",
                                                                 "--init-from", source])
            XCTAssertEqual(started.status, 0, started.tail)
            let events = MPIHarness.events(try XCTUnwrap(started.events), "started")
            XCTAssertEqual(events.first?["weightsHash"] as? String, hash, "\(name): the run did not start from the exported weights")
        }
        // Without --init-from the weights are the seed's, not the checkpoint's.
        let fresh = try harness.single(["train"] + model + ["--data", data, "--run-dir", harness.path("fresh"), "--epochs", "1"])
        XCTAssertNotEqual(MPIHarness.events(try XCTUnwrap(fresh.events), "started").first?["weightsHash"] as? String, hash)
    }

    /// `--init-from` weights of another model exit 65 naming the file and a tensor, before any
    /// training and without leaving a run directory; `export` over an existing file exits non-zero
    /// and leaves the file as it was; a file that is not safetensors is refused by name.
    func testMismatchedOrDamagedWeightsAndAnExistingOutputAreRefused() throws {
        let data = try harness.writeDataSet("data", training: 64, test: 16)
        let run = try trained(["--model", "resnet-8", "--stem-channels", "4"], data: data, run: "original")
        let file = harness.path("w.safetensors")
        XCTAssertEqual(try harness.single(["export", run, "-o", file]).status, 0)

        let other = try harness.single(["train", "--model", "resnet-14", "--stem-channels", "4", "--data", data,
                                        "--run-dir", harness.path("other"), "--epochs", "1", "--init-from", file])
        XCTAssertEqual(other.status, 65, other.tail)
        XCTAssertTrue(other.output.contains(file) && other.output.contains("tensor "), other.tail)
        XCTAssertFalse(other.startedTraining, other.tail)
        XCTAssertFalse(FileManager.default.fileExists(atPath: harness.path("other")), "a refused run left its directory")

        let before = try Data(contentsOf: URL(fileURLWithPath: file))
        let again = try harness.single(["export", run, "-o", file])
        XCTAssertNotEqual(again.status, 0, again.tail)
        XCTAssertTrue(again.output.contains("already exists"), again.tail)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: file)), before, "export changed an existing file")

        let text = harness.path("notes.safetensors")
        try Data("not weights at all".utf8).write(to: URL(fileURLWithPath: text))
        let damaged = try harness.single(["eval", "--weights", text, "--model", "resnet-8", "--stem-channels", "4", "--data", data])
        XCTAssertEqual(damaged.status, 65, damaged.tail)
        XCTAssertTrue(damaged.output.contains(text) && damaged.output.contains("safetensors"), damaged.tail)
    }
}
