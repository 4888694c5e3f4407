import Foundation
import TestSupport
import Training
import XCTest

/// Docs/recipes.md's SparseNet workflow replayed in miniature: the same commands with a tiny
/// model, 32 training images and a global batch of 8 (4 steps per epoch), and a decay large
/// enough to see. Phase 1 trains with inverse-time decay and keeps `best`; phase 2 continues
/// `RUNDIR/best` in a new run directory with `--continue-with-changes` and the rate ÷10.
final class RecipeReplayTests: SystemTestCase {
    /// The miniature's sizes and rates (the full recipe: 50,000 images, batch 100, decay 1e-4,
    /// 100 then 150 epochs).
    static let trainingImages = 32, testImages = 40, globalBatch = 8, stepsPerEpoch = 4
    static let phaseOneEpochs = 5, phaseTwoEpochs = 8
    static let baseRate = 0.1, phaseTwoRate = 0.01, decay = 0.1

    /// Keras' legacy decay, written out here rather than taken from `LearningRateSchedule`:
    /// the rate of optimizer step `step` (0-based).
    static func inverseTime(_ base: Double, step: Int) -> Double { base / (1 + decay * Double(step)) }

    /// Phase 1 of the recipe (Docs/recipes.md, step 1) scaled down: `--batch-size` is per rank.
    func phaseOne(data: String, run: String, ranks: Int = 1, steps: String) throws -> TestProcess.Result {
        let arguments = ["train", "--model", "sparsenet-7-4", "--data", data, "--run-dir", run,
                         "--epochs", "\(Self.phaseOneEpochs)", "--batch-size", "\(Self.globalBatch / ranks)",
                         "--lr", "\(Self.baseRate)", "--momentum", "0.9", "--nesterov",
                         "--schedule", "inverse-time", "--decay", "\(Self.decay)",
                         "--threads", "1", "--step-log", harness.path(steps)]
        return ranks == 1 ? try harness.single(arguments) : try harness.mpi(ranks: ranks, arguments)
    }

    /// Phase 2 (Docs/recipes.md, step 2) scaled down: from phase 1's `best` into a new run
    /// directory, lr ÷10, the run's total epochs raised; `extra` adds a variant's flags.
    func phaseTwo(data: String, from run: String, into next: String, ranks: Int = 1, steps: String,
                  extra: [String] = []) throws -> TestProcess.Result {
        let arguments = ["train", "--data", data, "--run-dir", next, "--resume", run + "/best", "--continue-with-changes",
                         "--epochs", "\(Self.phaseTwoEpochs)", "--lr", "\(Self.phaseTwoRate)",
                         "--threads", "1", "--step-log", harness.path(steps)] + extra
        return ranks == 1 ? try harness.single(arguments) : try harness.mpi(ranks: ranks, arguments)
    }

    /// The (step, lr) pairs of a step log.
    static func rates(_ path: String) throws -> [(step: Int, lr: Double)] {
        try MPIHarness.jsonLines(path).map { (step: try XCTUnwrap($0["step"] as? Int), lr: try XCTUnwrap($0["lr"] as? Double)) }
    }

    /// Checks that `log` holds steps `steps` in order, each at `expected(step)`.
    func assertRates(_ log: [(step: Int, lr: Double)], steps: Range<Int>, _ expected: (Int) -> Double,
                     _ what: String, line: UInt = #line) {
        XCTAssertEqual(log.map(\.step), Array(steps), "\(what): steps", line: line)
        for (step, lr) in log {
            XCTAssertEqual(lr, expected(step), accuracy: 1e-12 * expected(step), "\(what): lr at step \(step)", line: line)
        }
    }

    /// The epoch (1-based) with the highest test accuracy in a run's metrics.jsonl, the first
    /// on a tie.
    static func bestEpoch(_ run: String) throws -> Int {
        let accuracies = try MPIHarness.jsonLines(run + "/metrics.jsonl").map { try XCTUnwrap($0["test_accuracy"] as? Double) }
        let best = try XCTUnwrap(accuracies.max())
        return try XCTUnwrap(accuracies.firstIndex(of: best)) + 1
    }

    /// The weights hash `inspect` prints for a checkpoint or run directory.
    func weightsHash(_ path: String) throws -> String {
        let inspect = try harness.single(["inspect", path])
        XCTAssertEqual(inspect.status, 0, inspect.tail)
        return try XCTUnwrap(inspect.output.components(separatedBy: "weights hash ").dropFirst().first.map { String($0.prefix(16)) },
                             inspect.tail)
    }

    /// The `started` event of a train command launched through the harness.
    static func started(_ result: TestProcess.Result) throws -> [String: Any] {
        try XCTUnwrap(MPIHarness.events(try XCTUnwrap(result.events), "started").first, "no started event: \(result.tail)")
    }

    /// The recipe end to end: phase 1's rate is lr₀/(1 + D·t) at every step; `best` is the
    /// epoch with the highest test accuracy; phase 2 starts at best's step from exactly best's
    /// weights and runs on the same decay at a tenth of the rate, lr₀/10/(1 + D·t), to the new
    /// last epoch; its two changes are logged and `inspect` lists the phase.
    func testPhaseTwoContinuesFromBestAtATenthOfTheDecayingRate() throws {
        let data = try harness.writeDataSet("data", training: Self.trainingImages, test: Self.testImages)
        let run = harness.path("sparsenet"), next = harness.path("sparsenet-phase2")
        let first = try phaseOne(data: data, run: run, steps: "phase1.steps")
        XCTAssertEqual(first.status, 0, first.tail)
        let end = Self.phaseOneEpochs * Self.stepsPerEpoch
        assertRates(try Self.rates(harness.path("phase1.steps")), steps: 0..<end,
                    { Self.inverseTime(Self.baseRate, step: $0) }, "phase 1")

        let bestEpoch = try Self.bestEpoch(run), bestStep = bestEpoch * Self.stepsPerEpoch
        let bestFile = String(format: "ckpt-e%05d-s%09d.ddpt", bestEpoch, bestStep)
        XCTAssertEqual(try String(contentsOfFile: run + "/best", encoding: .utf8), bestFile + "\n")
        let bestHash = try weightsHash(run + "/best")
        if bestEpoch < Self.phaseOneEpochs {
            XCTAssertNotEqual(try weightsHash(run), bestHash, "the last checkpoint should differ from best's")
        }

        let second = try phaseTwo(data: data, from: run, into: next, steps: "phase2.steps")
        XCTAssertEqual(second.status, 0, second.tail)
        let started = try Self.started(second)
        XCTAssertEqual(started["step"] as? Int, bestStep, "phase 2 starts at best's step")
        XCTAssertEqual(started["weightsHash"] as? String, bestHash, "phase 2 starts from best's weights")
        let changes = "epochs \(Self.phaseOneEpochs) → \(Self.phaseTwoEpochs), schedule.baseRate \(Self.baseRate) → \(Self.phaseTwoRate)"
        XCTAssertTrue(second.output.contains("continuing at step \(bestStep) with changes: " + changes), second.tail)
        assertRates(try Self.rates(harness.path("phase2.steps")), steps: bestStep..<(Self.phaseTwoEpochs * Self.stepsPerEpoch),
                    { Self.inverseTime(Self.phaseTwoRate, step: $0) }, "phase 2")

        let inspect = try harness.single(["inspect", next])
        XCTAssertTrue(inspect.output.contains("phase from step \(bestStep): " + changes + "\n"), inspect.tail)
        XCTAssertTrue(inspect.output.contains("schedule: inverse-time"), inspect.tail)
        let metrics = try MPIHarness.jsonLines(next + "/metrics.jsonl")
        XCTAssertEqual(metrics.map { ($0["epoch"] as? Int) ?? -1 }, Array(1...Self.phaseTwoEpochs), "phase 1's epochs to best, then phase 2's")
        XCTAssertEqual(try MPIHarness.jsonLines(run + "/metrics.jsonl").count, Self.phaseOneEpochs, "phase 1's run is left whole")
    }

    /// The multi-rank variants: phase 1 under 2 ranks at half the per-rank batch has the same
    /// global batch, steps and rates as on 1 rank; phase 2 resumes the 1-rank `best` under 2
    /// ranks (the per-rank batch re-derived) on the same rates; and 3 ranks, which cannot split
    /// the global batch of 8, are refused with status 64.
    func testTwoRanksAtHalfTheBatchFollowTheSameRatesAndThreeRanksAreRefused() throws {
        let data = try harness.writeDataSet("data", training: Self.trainingImages, test: Self.testImages)
        let run = harness.path("sparsenet"), pair = harness.path("sparsenet-2ranks")
        XCTAssertEqual(try phaseOne(data: data, run: run, steps: "one.steps").status, 0)
        let two = try phaseOne(data: data, run: pair, ranks: 2, steps: "two.steps")
        XCTAssertEqual(two.status, 0, two.tail)
        XCTAssertEqual(try Self.started(two)["worldSize"] as? Int, 2)
        let one = try Self.rates(harness.path("one.steps")), both = try Self.rates(harness.path("two.steps"))
        XCTAssertEqual(both.map(\.step), one.map(\.step))
        XCTAssertEqual(both.map(\.lr), one.map(\.lr), "the same rate at every step")

        let bestStep = try Self.bestEpoch(run) * Self.stepsPerEpoch
        let second = try phaseTwo(data: data, from: run, into: harness.path("phase2-2ranks"), ranks: 2, steps: "phase2.steps")
        XCTAssertEqual(second.status, 0, second.tail)
        XCTAssertEqual(try Self.started(second)["weightsHash"] as? String, try weightsHash(run + "/best"))
        assertRates(try Self.rates(harness.path("phase2.steps")), steps: bestStep..<(Self.phaseTwoEpochs * Self.stepsPerEpoch),
                    { Self.inverseTime(Self.phaseTwoRate, step: $0) }, "phase 2 on 2 ranks")

        let three = try phaseTwo(data: data, from: run, into: harness.path("phase2-3ranks"), ranks: 3, steps: "three.steps")
        XCTAssertEqual(three.status, 64, three.tail)
        XCTAssertTrue(three.output.contains("global batch \(Self.globalBatch), which 3 ranks cannot split evenly"), three.tail)
    }

    /// The other phase 2s of Docs/recipes.md: `--schedule constant` holds lr₀/10 from best's
    /// step on; `--init-from RUNDIR/best` in a new run (Keras' re-compiled optimizer) restarts
    /// the step counter, so its rate is lr₀/10/(1 + D·t) from t = 0, and it too starts from
    /// best's weights.
    func testTheConstantAndRestartedVariantsOfPhaseTwo() throws {
        let data = try harness.writeDataSet("data", training: Self.trainingImages, test: Self.testImages)
        let run = harness.path("sparsenet")
        XCTAssertEqual(try phaseOne(data: data, run: run, steps: "phase1.steps").status, 0)
        let bestStep = try Self.bestEpoch(run) * Self.stepsPerEpoch, bestHash = try weightsHash(run + "/best")
        let end = Self.phaseTwoEpochs * Self.stepsPerEpoch

        let constant = try phaseTwo(data: data, from: run, into: harness.path("constant"), steps: "constant.steps",
                                    extra: ["--schedule", "constant"])
        XCTAssertEqual(constant.status, 0, constant.tail)
        assertRates(try Self.rates(harness.path("constant.steps")), steps: bestStep..<end, { _ in Self.phaseTwoRate }, "constant")

        let restartEpochs = Self.phaseTwoEpochs - Self.phaseOneEpochs
        let restarted = try harness.single(["train", "--model", "sparsenet-7-4", "--data", data, "--run-dir", harness.path("restart"),
                                            "--init-from", run + "/best", "--epochs", "\(restartEpochs)",
                                            "--batch-size", "\(Self.globalBatch)", "--lr", "\(Self.phaseTwoRate)",
                                            "--schedule", "inverse-time", "--decay", "\(Self.decay)",
                                            "--threads", "1", "--step-log", harness.path("restart.steps")])
        XCTAssertEqual(restarted.status, 0, restarted.tail)
        let started = try Self.started(restarted)
        XCTAssertEqual(started["step"] as? Int, 0)
        XCTAssertEqual(started["weightsHash"] as? String, bestHash, "the restarted phase 2 starts from best's weights")
        assertRates(try Self.rates(harness.path("restart.steps")), steps: 0..<(restartEpochs * Self.stepsPerEpoch),
                    { Self.inverseTime(Self.phaseTwoRate, step: $0) }, "restarted")
    }
}

/// The full-size numbers Docs/recipes.md quotes, computed with the schedule ddptrain runs.
final class RecipeScheduleTests: XCTestCase {
    /// SparseNet at batch 100 (500 steps per epoch): phase 1 ends near 0.0167; phase 2 from a
    /// best at epoch 100 starts at 0.00167 and ends near 0.00118; Keras' restarted counter would
    /// start at 0.01 and end near 0.00286.
    func testSparseNetRatesAtThePhaseBoundary() {
        let one = LearningRateSchedule(kind: .inverseTime, baseRate: 0.1, decay: 1e-4, epochs: 100, stepsPerEpoch: 500)
        let two = LearningRateSchedule(kind: .inverseTime, baseRate: 0.01, decay: 1e-4, epochs: 150, stepsPerEpoch: 500)
        let restart = LearningRateSchedule(kind: .inverseTime, baseRate: 0.01, decay: 1e-4, epochs: 50, stepsPerEpoch: 500)
        XCTAssertEqual(one.totalSteps, 50_000)
        XCTAssertEqual(one.rate(atStep: 25_000), 0.02857, accuracy: 5e-6)
        XCTAssertEqual(one.rate(atStep: 49_999), 0.01667, accuracy: 5e-6)
        XCTAssertEqual(two.rate(atStep: 50_000), 0.001667, accuracy: 5e-7)
        XCTAssertEqual(two.rate(atStep: 74_999), 0.001176, accuracy: 5e-7)
        XCTAssertEqual(restart.rate(atStep: 0), 0.01)
        XCTAssertEqual(restart.rate(atStep: 24_999), 0.002857, accuracy: 5e-7)
    }

    /// ResNet at batch 128 (391 steps per epoch): `--milestones 81.8414,122.7621` switches at
    /// exactly 32,000 and 48,000 steps, and 164 epochs are 64,124 steps.
    func testResNetMilestonesFallOnThePapersIterations() {
        let s = LearningRateSchedule(kind: .multistep, baseRate: 0.1, milestones: [81.8414, 122.7621], epochs: 164, stepsPerEpoch: 391)
        XCTAssertEqual(s.rate(atStep: 31_999), 0.1, accuracy: 1e-12)
        XCTAssertEqual(s.rate(atStep: 32_000), 0.01, accuracy: 1e-12)
        XCTAssertEqual(s.rate(atStep: 47_999), 0.01, accuracy: 1e-12)
        XCTAssertEqual(s.rate(atStep: 48_000), 0.001, accuracy: 1e-12)
        XCTAssertEqual(s.totalSteps, 64_124)
    }

    /// DenseNet at batch 64 (782 steps per epoch): ÷10 at steps 117,300 and 175,950 (epochs 150 and 225).
    func testDenseNetMilestonesFallOnEpochs150And225() {
        let s = LearningRateSchedule(kind: .multistep, baseRate: 0.1, milestones: [0.5, 0.75], epochs: 300, stepsPerEpoch: 782)
        XCTAssertEqual(s.rate(atStep: 117_299), 0.1, accuracy: 1e-12)
        XCTAssertEqual(s.rate(atStep: 117_300), 0.01, accuracy: 1e-12)
        XCTAssertEqual(s.rate(atStep: 175_949), 0.01, accuracy: 1e-12)
        XCTAssertEqual(s.rate(atStep: 175_950), 0.001, accuracy: 1e-12)
    }
}
