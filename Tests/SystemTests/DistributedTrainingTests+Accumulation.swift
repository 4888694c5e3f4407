import Foundation
import TestSupport
import XCTest

/// `--accumulate-steps K` (issue 15): N ranks running K micro-batches per optimizer step train as
/// N·K ranks would with per-rank batch norm, dropout included; a resume keeps K and the global
/// batch, and refuses another K.
extension DistributedTrainingTests {
    /// SparseNet with dropout, so that the micro-batches' dropout masks are checked too.
    static let sparsenetWithDropout = sparsenet13 + ["--dropout", "0.2"]

    /// 2 ranks × 2 micro-batches of 4 and 4 ranks of 4 share every global batch of 16 the same
    /// way (rank r's micro-batch k is what rank 2r + k trains), so with `local` batch norm their
    /// step losses, final parameters and running statistics (averaged over the micro-batches as
    /// over ranks) agree to the N-ranks tolerances, and so do the epochs' test losses.
    func testTwoRanksOfTwoMicroBatchesTrainAsFourRanksWithLocalBatchNorm() throws {
        let data = try harness.writeDataSet("data", training: 40, test: 12)
        let accumulated = try trainDumpingState(ranks: 2, model: Self.sparsenetWithDropout, data: data, run: "accumulated", epochs: 2,
                                                batch: 4, extra: ["--bn-sync", "local", "--accumulate-steps", "2",
                                                                  "--step-log", harness.path("accumulated.steps")])
        let four = try trainDumpingState(ranks: 4, model: Self.sparsenetWithDropout, data: data, run: "four", epochs: 2, batch: 4,
                                         extra: ["--bn-sync", "local", "--step-log", harness.path("four.steps")])
        guard let accumulated, four != nil else { return }
        XCTAssertEqual(accumulated[0], accumulated[1], "the ranks' final states differ")
        try assertSameTraining("accumulated", "four", bitwise: false)
        XCTAssertEqual(try stepLosses("accumulated.steps").count, 6, "40 images at a global batch of 16: 3 steps per epoch")
        for (a, b) in zip(try metrics("accumulated"), try metrics("four")) {
            assertRelativelyClose(try double(a, "test_loss"), try double(b, "test_loss"), Self.lossTolerance,
                                  "test loss of epoch \(try int(a, "epoch")), 2 ranks × 2 micro-batches vs 4 ranks")
        }
    }

    /// One process of 2 micro-batches trains as 2 ranks do; its checkpoint resumes on 2 ranks
    /// with the same global batch and K (the per-rank batch re-derived), and a resume that would
    /// change K is refused, naming the field.
    func testOneProcessOfTwoMicroBatchesTrainsAsTwoRanksAndItsCheckpointKeepsK() throws {
        let data = try harness.writeDataSet("data", training: 32, test: 10)
        let single = try trainDumpingState(ranks: 1, data: data, run: "single", epochs: 1, batch: 8,
                                           extra: ["--bn-sync", "local", "--accumulate-steps", "2", "--step-log", harness.path("single.steps")])
        let two = try trainDumpingState(ranks: 2, data: data, run: "two", epochs: 1, batch: 8,
                                        extra: ["--bn-sync", "local", "--step-log", harness.path("two.steps")])
        guard single != nil, two != nil else { return }
        try assertSameTraining("single", "two", bitwise: false)

        let resumed = try harness.mpi(ranks: 2, Self.withoutBatchSize(trainArguments(data: data, run: "single", epochs: 2, batch: 8,
                                                                                    extra: ["--resume", "auto", "--continue-with-changes"])))
        assertSucceeded(resumed)
        XCTAssertTrue(resumed.output.contains("2 rank(s) × 2 accumulated micro-batches × batch 4 = global batch 16"), resumed.tail)
        let changed = try harness.single(Self.withoutBatchSize(trainArguments(data: data, run: "single", epochs: 3, batch: 8,
                                                                              extra: ["--resume", "auto", "--continue-with-changes", "--accumulate-steps", "4"])))
        XCTAssertEqual(changed.status, 64, changed.tail)
        XCTAssertTrue(changed.output.contains("accumulateSteps"), changed.tail)
    }

    /// `--lr-scaling linear` with accumulation: the step log's rates are the base rate × global
    /// batch / reference batch after a warm-up that starts from the reference rate; LARS trains;
    /// the flags that only scaling or LARS use are refused without them.
    func testScaledRatesFollowTheAccumulatedGlobalBatchAndUnusedFlagsAreRefused() throws {
        let data = try harness.writeDataSet("data", training: 32, test: 10)
        let scaled = try harness.single(trainArguments(data: data, run: "scaled", epochs: 2, batch: 8, extra: [
            "--accumulate-steps", "2", "--lr-scaling", "linear", "--reference-batch", "8", "--warmup-epochs", "1",
            "--optimizer", "lars", "--step-log", harness.path("scaled.steps"),
        ]))
        assertSucceeded(scaled)
        // Global batch 16 = 2 × the reference: 0.05 → 0.1, warmed up over the first epoch's 2 steps.
        let rates = try MPIHarness.jsonLines(harness.path("scaled.steps")).map { try double($0, "lr") }
        XCTAssertEqual(rates.count, 4)
        for (step, (rate, expected)) in zip(rates, [0.075, 0.1, 0.1, 0.1]).enumerated() {
            XCTAssertEqual(rate, expected, accuracy: 1e-12, "lr at step \(step)")
        }
        let inspect = try harness.single(["inspect", harness.path("scaled")])
        XCTAssertTrue(inspect.output.contains("rates × 2.0 (linear scaling from batch 8 to 16), LARS trust 0.001"), inspect.tail)
        for (flag, value) in [("--reference-batch", "128"), ("--lars-trust", "0.01")] {
            let refused = try harness.single(trainArguments(data: data, run: "refused", epochs: 1, batch: 8, extra: [flag, value]))
            XCTAssertEqual(refused.status, 64, refused.tail)
            XCTAssertTrue(refused.output.contains(flag), refused.tail)
        }
    }
}
