import Foundation
import TestSupport
import Training
import XCTest

/// Issue 14 #1: the run's TensorBoard event file, read back by TensorBoard's own reader (the
/// `tensorboard` package's event accumulator, through Scripts/tensorboard_check.py). Skips,
/// saying why, without a Python that imports it.
final class TensorBoardTests: SystemTestCase {
    static let script = MPIHarness.repository.appendingPathComponent("Scripts/tensorboard_check.py").path
    static let python = WeightsExportTests.probe("tensorboard")

    /// What TensorBoard's reader loads from `runDirectory`: scalars and texts by tag.
    func read(_ runDirectory: String) throws -> (scalars: [String: [(step: Int, value: Double)]], texts: [String: [Int]]) {
        guard let command = Self.python.command else { throw XCTSkip(Self.python.reason) }
        let result = try TestProcess.run(command[0], Array(command.dropFirst()) + [Self.script, runDirectory],
                                         environment: ProcessInfo.processInfo.environment, directory: harness.scratch,
                                         log: harness.scratch.appendingPathComponent("tb-\(UUID().uuidString).log"), separateError: true)
        XCTAssertEqual(result.status, 0, result.tail + result.error)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any], result.output)
        let scalars = (object["scalars"] as? [String: [[Double]]] ?? [:]).mapValues { $0.map { (Int($0[0]), $0[1]) } }
        let texts = (object["texts"] as? [String: [[Any]]] ?? [:]).mapValues { $0.compactMap { ($0.first as? NSNumber)?.intValue } }
        return (scalars, texts)
    }

    /// Two epochs of 8 steps with a checkpoint every 3 steps, then a resume from the step-9
    /// checkpoint to the end: TensorBoard sees every optimizer step once, in order, with the loss
    /// and learning rate of the step log of the run that produced it; each epoch's metrics at the
    /// step that ended it, equal to metrics.jsonl; and the configuration as text.
    func testEventFilesHoldEveryStepOnceAcrossAResumeWithTheStepLogsValues() throws {
        let data = try harness.writeDataSet("data", training: 64, test: 16)
        let run = harness.path("run")
        func train(_ extra: [String], steps: String) throws -> TestProcess.Result {
            try harness.single(["train", "--model", "resnet-8", "--stem-channels", "4", "--data", data, "--run-dir", run, "--epochs", "2",
                                "--batch-size", "8", "--threads", "1", "--lr", "0.05", "--schedule", "cosine",
                                "--checkpoint-every-steps", "3", "--keep", "20", "--step-log", harness.path(steps)] + extra)
        }
        let first = try train([], steps: "first.steps")
        XCTAssertEqual(first.status, 0, first.tail)
        let resumed = try train(["--resume", run + "/ckpt-e00001-s000000009.ddpt"], steps: "resumed.steps")
        XCTAssertEqual(resumed.status, 0, resumed.tail)
        let events = try FileManager.default.contentsOfDirectory(atPath: run).filter { $0.hasPrefix("events.out.tfevents.") }
        XCTAssertEqual(events.count, 2, "one event file per session: \(events)")

        let (scalars, texts) = try read(run)
        // The step log of the resumed session holds steps 9…15; the first session's, 0…15.
        let firstLog = try MPIHarness.jsonLines(harness.path("first.steps")), resumedLog = try MPIHarness.jsonLines(harness.path("resumed.steps"))
        var expected: [Int: (loss: Double, lr: Double)] = [:]
        for line in firstLog + resumedLog {
            expected[(line["step"] as? Int) ?? -1] = ((line["loss"] as? Double) ?? .nan, (line["lr"] as? Double) ?? .nan)
        }
        let loss = try XCTUnwrap(scalars["train/loss"]), lr = try XCTUnwrap(scalars["train/lr"])
        XCTAssertEqual(loss.map(\.step), Array(0..<16), "every step once, in order")
        XCTAssertEqual(lr.map(\.step), Array(0..<16))
        for (l, r) in zip(loss, lr) {
            let want = try XCTUnwrap(expected[l.step])
            XCTAssertEqual(l.value, want.loss, accuracy: 1e-6 * max(1, abs(want.loss)), "loss at step \(l.step)")
            XCTAssertEqual(r.value, want.lr, accuracy: 1e-7, "lr at step \(r.step)")
        }
        XCTAssertGreaterThan(Set(lr.map(\.value)).count, 8, "the cosine schedule's rates should differ from step to step")
        let metrics = try MPIHarness.jsonLines(run + "/metrics.jsonl")
        for (tag, key) in [("epoch/test_accuracy", "test_accuracy"), ("epoch/train_loss", "train_loss"), ("epoch/test_loss", "test_loss")] {
            let series = try XCTUnwrap(scalars[tag], tag)
            XCTAssertEqual(series.map(\.step), metrics.map { ($0["step"] as? Int) ?? -1 }, tag)
            for (point, line) in zip(series, metrics) {
                XCTAssertEqual(point.value, (line[key] as? Double) ?? .nan, accuracy: 1e-6, "\(tag) at step \(point.step)")
            }
        }
        for tag in ["epoch/train_accuracy", "epoch/images_per_second", "epoch/data_wait_seconds", "epoch/allreduce_wait_seconds"] {
            XCTAssertEqual(scalars[tag]?.count, 2, tag)
        }
        XCTAssertEqual(texts["config"], [0, 9], "the configuration at each session's first step")

        // --no-tensorboard writes none.
        let quiet = try harness.single(["train", "--model", "resnet-8", "--stem-channels", "4", "--data", data, "--run-dir", harness.path("quiet"),
                                        "--epochs", "1", "--no-tensorboard"])
        XCTAssertEqual(quiet.status, 0, quiet.tail)
        XCTAssertFalse(try FileManager.default.contentsOfDirectory(atPath: harness.path("quiet")).contains { $0.hasPrefix("events.out") })
    }
}

/// Issue 14 #3: the run directory's `best` checkpoint.
final class BestCheckpointTests: SystemTestCase {
    /// Six epochs with `--keep 1` at a learning rate high enough to make the test accuracy move
    /// up and down: `best` names the checkpoint of the epoch with the highest test accuracy in
    /// metrics.jsonl (the first such), that file survives the pruning, and `eval`, `inspect`,
    /// `export` and `--resume` take `RUNDIR/best`.
    func testBestNamesTheBestEpochsCheckpointWhichKeepOneKeepsAndEveryCommandTakes() throws {
        let data = try harness.writeDataSet("data", training: 64, test: 40)
        let run = harness.path("run")
        let trained = try harness.single(["train", "--model", "resnet-8", "--stem-channels", "4", "--data", data, "--run-dir", run,
                                          "--epochs", "6", "--batch-size", "16", "--lr", "0.3", "--schedule", "constant", "--keep", "1"])
        XCTAssertEqual(trained.status, 0, trained.tail)
        let metrics = try MPIHarness.jsonLines(run + "/metrics.jsonl")
        let accuracies = metrics.map { ($0["test_accuracy"] as? Double) ?? -1 }
        let bestIndex = try XCTUnwrap(accuracies.indices.first { accuracies[$0] == accuracies.max() })
        let bestStep = try XCTUnwrap(metrics[bestIndex]["step"] as? Int)
        let expected = String(format: "ckpt-e%05d-s%09d.ddpt", bestIndex + 1, bestStep)
        XCTAssertEqual(try String(contentsOfFile: run + "/best", encoding: .utf8), expected + "\n", "accuracies \(accuracies)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: run + "/" + expected), "--keep 1 deleted the best checkpoint")
        let checkpoints = try FileManager.default.contentsOfDirectory(atPath: run).filter { $0.hasPrefix("ckpt-") }
        XCTAssertLessThanOrEqual(checkpoints.count, 2, "keep 1 plus best: \(checkpoints)")

        let eval = try harness.single(["eval", "--checkpoint", run + "/best", "--data", data])
        XCTAssertEqual(eval.status, 0, eval.tail)
        XCTAssertTrue(eval.output.contains(String(format: "top-1 accuracy %.2f%%", 100 * accuracies[bestIndex])), eval.tail)
        let inspect = try harness.single(["inspect", run + "/best"])
        XCTAssertTrue(inspect.output.contains(expected), inspect.tail)
        XCTAssertEqual(try harness.single(["export", run + "/best", "-o", harness.path("best.safetensors")]).status, 0)
        let resumed = try harness.single(["train", "--data", data, "--run-dir", harness.path("continued"), "--resume", run + "/best"])
        XCTAssertEqual(resumed.status, 0, resumed.tail)
        XCTAssertTrue(resumed.output.contains("resuming from " + run + "/" + expected), resumed.tail)
    }
}

/// Issue 14 #2: `ddptrain plot` on real run directories.
final class PlotTests: SystemTestCase {
    /// Two runs plot into one SVG with five curves each, a PNG when rsvg-convert is there, and an
    /// existing output is refused and left as it was.
    func testTwoRunsPlotIntoOneFigureAndAnExistingFileIsRefused() throws {
        let data = try harness.writeDataSet("data", training: 48, test: 16)
        for (run, lr) in [("cosine", "0.1"), ("constant", "0.02")] {
            let result = try harness.single(["train", "--model", "resnet-8", "--stem-channels", "4", "--data", data, "--run-dir", harness.path(run),
                                             "--epochs", "3", "--batch-size", "16", "--lr", lr, "--schedule", run])
            XCTAssertEqual(result.status, 0, result.tail)
        }
        let svg = harness.path("runs.svg")
        let hasConverter = FileManager.default.isExecutableFile(atPath: "/usr/bin/rsvg-convert")
        let plotted = try harness.single(["plot", harness.path("cosine"), harness.path("constant"), "-o", svg] + (hasConverter ? ["--png"] : []))
        XCTAssertEqual(plotted.status, 0, plotted.tail)
        let text = try String(contentsOfFile: svg, encoding: .utf8)
        for run in ["cosine", "constant"] {
            for metric in ["test_accuracy", "train_accuracy", "test_loss", "train_loss", "lr"] {
                XCTAssertEqual(text.components(separatedBy: "data-run=\"\(run)\" data-metric=\"\(metric)\"").count, 2, "\(run) \(metric)")
            }
        }
        if hasConverter {
            let png = try Data(contentsOf: URL(fileURLWithPath: harness.path("runs.png")))
            XCTAssertEqual(Array(png.prefix(8)), [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], "not a PNG")
        }
        let again = try harness.single(["plot", harness.path("cosine"), "-o", svg])
        XCTAssertNotEqual(again.status, 0)
        XCTAssertTrue(again.output.contains("already exists"), again.tail)
        XCTAssertEqual(try String(contentsOfFile: svg, encoding: .utf8), text, "plot changed an existing file")
        let notARun = try harness.single(["plot", data, "-o", harness.path("other.svg")])
        XCTAssertNotEqual(notARun.status, 0)
        XCTAssertTrue(notARun.output.contains("metrics.jsonl"), notARun.tail)
    }
}

/// Issue 14 #4: a deliberate continuation under a changed recipe.
final class ContinuationTests: SystemTestCase {
    /// Two epochs at a constant 0.05; then `--continue-with-changes --epochs 4 --lr 0.02
    /// --schedule cosine`: every later step's learning rate is the new schedule's at that step
    /// (computed here by `LearningRateSchedule`), the changes are logged with old and new values
    /// and kept in the checkpoint's phases (`inspect` shows them). Without the flag the same
    /// command is refused naming the fields, and a changed model is refused even with it.
    func testAContinuationFollowsTheNewScheduleFromTheSavedStepAndRecordsItsPhase() throws {
        let data = try harness.writeDataSet("data", training: 64, test: 16)
        let run = harness.path("run")
        let model = ["--model", "resnet-8", "--stem-channels", "4"]
        let first = try harness.single(["train"] + model + ["--data", data, "--run-dir", run, "--epochs", "2", "--batch-size", "8",
                                                           "--lr", "0.05", "--schedule", "constant"])
        XCTAssertEqual(first.status, 0, first.tail)
        let change = ["--epochs", "4", "--lr", "0.02", "--schedule", "cosine"]
        let refused = try harness.single(["train", "--data", data, "--run-dir", run, "--resume", "auto"] + change)
        XCTAssertEqual(refused.status, 64, refused.tail)
        XCTAssertTrue(refused.output.contains("epochs") && refused.output.contains("--continue-with-changes"), refused.tail)
        let otherModel = try harness.single(["train", "--model", "resnet-14", "--stem-channels", "4", "--data", data, "--run-dir", run,
                                             "--resume", "auto", "--continue-with-changes"] + change)
        XCTAssertEqual(otherModel.status, 64, otherModel.tail)
        XCTAssertTrue(otherModel.output.contains("model.depth"), otherModel.tail)

        let continued = try harness.single(["train", "--data", data, "--run-dir", run, "--resume", "auto", "--continue-with-changes",
                                            "--step-log", harness.path("continued.steps")] + change)
        XCTAssertEqual(continued.status, 0, continued.tail)
        XCTAssertTrue(continued.output.contains("continuing at step 16 with changes: epochs 2 → 4"), continued.tail)
        XCTAssertTrue(continued.output.contains("schedule.baseRate 0.05 → 0.02") && continued.output.contains("schedule.kind constant → cosine"),
                      continued.tail)
        let steps = try MPIHarness.jsonLines(harness.path("continued.steps"))
        XCTAssertEqual(steps.map { ($0["step"] as? Int) ?? -1 }, Array(16..<32), "the continuation trains steps 16…31")
        let schedule = LearningRateSchedule(kind: .cosine, baseRate: 0.02, epochs: 4, stepsPerEpoch: 8)
        for line in steps {
            let step = try XCTUnwrap(line["step"] as? Int)
            XCTAssertEqual(try XCTUnwrap(line["lr"] as? Double), schedule.rate(atStep: step), accuracy: 1e-12, "lr at step \(step)")
        }
        let inspect = try harness.single(["inspect", run])
        XCTAssertTrue(inspect.output.contains("phase from step 16: epochs 2 → 4"), inspect.tail)
        XCTAssertEqual(try MPIHarness.jsonLines(run + "/metrics.jsonl").count, 4, "the run's metrics cover all four epochs")
    }
}
