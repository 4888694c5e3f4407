import Foundation
import TestSupport
import XCTest

/// `--bn-sync group:K` and `node` under mpirun: the two ends of the scale are the modes that
/// already exist (`group:1` is `local`, one group of every rank is `batch`), groups of 2 among 4
/// ranks normalise what 2 ranks do alone, a group size that does not divide the ranks is refused,
/// and a grouped run resumed on half the ranks keeps its groups.
extension DistributedTrainingTests {
    /// The per-step global losses of a `--step-log` file.
    func stepLosses(_ name: String) throws -> [Double] {
        try MPIHarness.jsonLines(harness.path(name)).map { try double($0, "loss") }
    }

    /// `arguments` without their `--batch-size N`: a resume derives the per-rank batch.
    static func withoutBatchSize(_ arguments: [String]) -> [String] {
        guard let i = arguments.firstIndex(of: "--batch-size") else { return arguments }
        return Array(arguments[..<i] + arguments[(i + 2)...])
    }

    /// The configuration's `batchNormSync` as `config.json` records it.
    func recordedBatchNormSync(_ run: String) throws -> String? {
        let data = try Data(contentsOf: URL(fileURLWithPath: harness.path(run) + "/config.json"))
        return (try JSONSerialization.jsonObject(with: data) as? [String: Any])?["batchNormSync"] as? String
    }

    /// Trains `run` on `ranks` ranks with `--bn-sync mode`, a step log and a state dump; returns
    /// every rank's dump (nil when the run failed, already reported).
    func trainWithBatchNorm(_ mode: String, ranks: Int, data: String, run: String, batch: Int, epochs: Int = 2,
                            file: StaticString = #filePath, line: UInt = #line) throws -> [Data]? {
        let states = try trainDumpingState(ranks: ranks, data: data, run: run, epochs: epochs, batch: batch,
                                           extra: ["--bn-sync", mode, "--step-log", harness.path(run + ".steps")], file: file, line: line)
        if states != nil { XCTAssertEqual(try recordedBatchNormSync(run), mode, "config.json of \(run)", file: file, line: line) }
        return states
    }

    /// Asserts that the runs' step losses agree and their final states are close: bitwise when
    /// `bitwise`, else to the tolerances of the N-ranks-vs-one-process tests. Prints the largest
    /// differences either way.
    func assertSameTraining(_ a: String, _ b: String, bitwise: Bool, file: StaticString = #filePath, line: UInt = #line) throws {
        let lossesA = try stepLosses(a + ".steps"), lossesB = try stepLosses(b + ".steps")
        XCTAssertEqual(lossesA.count, lossesB.count, "steps of \(a) and \(b)", file: file, line: line)
        XCTAssertGreaterThan(lossesA.count, 0, file: file, line: line)
        let worstLoss = zip(lossesA, lossesB).map { abs($0 - $1) / max(abs($0), abs($1)) }.max() ?? 0
        let stateA = try MPIHarness.floats(harness.path(a + ".state.rank0"))
        let stateB = try MPIHarness.floats(harness.path(b + ".state.rank0"))
        let worstValue = zip(stateA, stateB).map { abs($0 - $1) }.max() ?? 0
        let worstRatio = stateA.count == stateB.count ? Self.worstDeviation(stateA[...], stateB[...]).ratio : .nan
        print("\(a) vs \(b): largest relative step-loss difference \(worstLoss), largest parameter/buffer difference "
              + "\(worstValue) (\(worstRatio)× the element tolerance over the whole dump)")
        if bitwise {
            XCTAssertEqual(lossesA, lossesB, "\(a) vs \(b): step losses differ", file: file, line: line)
            XCTAssertEqual(stateA, stateB, "\(a) vs \(b): final parameters or buffers differ (largest by \(worstValue))",
                           file: file, line: line)
        } else {
            for (step, (x, y)) in zip(lossesA, lossesB).enumerated() {
                assertRelativelyClose(x, y, Self.lossTolerance, "\(a) vs \(b): loss at step \(step)", file: file, line: line)
            }
            assertStatesClose(stateA, stateB, parameterCount: MPIHarness.parameterCount(runDirectory: harness.path(a)),
                              "\(a) vs \(b)", file: file, line: line)
        }
    }

    // MARK: The ends of the scale

    /// `group:1` takes `local`'s path (no batch-norm communication, running statistics averaged
    /// before evaluation and checkpoints), so the two train bit for bit alike.
    func testGroupsOfOneRankTrainBitForBitLikeLocalBatchNorm() throws {
        let data = try harness.writeDataSet("data", training: 32, test: 10)
        let group = try trainWithBatchNorm("group:1", ranks: 2, data: data, run: "group1", batch: 8)
        let local = try trainWithBatchNorm("local", ranks: 2, data: data, run: "local", batch: 8)
        guard let group, let local else { return }
        XCTAssertEqual(group[1], group[0], "the ranks' final states differ under group:1")
        XCTAssertEqual(group, local, "group:1 and local end with different parameters or buffers")
        try assertSameTraining("group1", "local", bitwise: true)
        XCTAssertEqual(try metrics("group1").map { try double($0, "test_loss") }, try metrics("local").map { try double($0, "test_loss") },
                       "test losses (evaluated with the averaged running statistics) differ")
    }

    /// One group of all 3 ranks, and the ranks of this one host (all 3), sum batch-norm
    /// statistics over every rank as `batch` does, through a communicator split off the world
    /// one. Open MPI picks its all-reduce algorithm from the communicator's size and the message
    /// size, so the sums are added in the same order and the runs agree bit for bit.
    func testOneGroupOfEveryRankAndTheRanksOfOneHostTrainBitForBitLikeSynchronisedBatchNorm() throws {
        let data = try harness.writeDataSet("data", training: 31, test: 10)
        let batch = try trainWithBatchNorm("batch", ranks: 3, data: data, run: "batch", batch: 4)
        let group = try trainWithBatchNorm("group:3", ranks: 3, data: data, run: "group3", batch: 4)
        let node = try trainWithBatchNorm("node", ranks: 3, data: data, run: "node", batch: 4)
        guard let batch, let group, let node else { return }
        for (name, states) in [("group:3", group), ("node", node)] {
            for rank in 1..<3 { XCTAssertEqual(states[rank], states[0], "\(name): rank \(rank)'s final state differs from rank 0's") }
        }
        try assertSameTraining("batch", "group3", bitwise: true)
        try assertSameTraining("batch", "node", bitwise: true)
        XCTAssertEqual(group, batch)
        XCTAssertEqual(node, batch)
    }

    // MARK: Groups among more ranks

    /// 4 ranks × 4 samples in groups of 2 ranks normalise the same 8 samples per group that each
    /// of 2 ranks × 8 with local batch norm normalises alone (a rank's share of a global batch is
    /// contiguous, so a group's is too), and both sum the gradients over all ranks: the runs
    /// agree to float rounding (the group adds two partial sums where one rank adds all 8), to
    /// the N-ranks-vs-one-process tolerances. Each group's running statistics differ, and are
    /// averaged over all 4 ranks before evaluation and checkpoints: every rank ends identical.
    func testFourRanksInGroupsOfTwoTrainLikeTwoRanksWithLocalBatchNorm() throws {
        let data = try harness.writeDataSet("data", training: 32, test: 10)
        let groups = try trainWithBatchNorm("group:2", ranks: 4, data: data, run: "groups", batch: 4)
        let local = try trainWithBatchNorm("local", ranks: 2, data: data, run: "local", batch: 8)
        guard let groups, local != nil else { return }
        for rank in 1..<4 { XCTAssertEqual(groups[rank], groups[0], "group:2: rank \(rank)'s final state differs from rank 0's") }
        try assertSameTraining("local", "groups", bitwise: false)
        // And the groups really are groups: synchronised over all 4 ranks trains another model.
        guard try trainWithBatchNorm("batch", ranks: 4, data: data, run: "batch", batch: 4) != nil else { return }
        let groupState = try MPIHarness.floats(harness.path("groups.state.rank0"))
        let batchState = try MPIHarness.floats(harness.path("batch.state.rank0"))
        let count = min(MPIHarness.parameterCount(runDirectory: harness.path("groups")) ?? groupState.count, groupState.count)
        XCTAssertGreaterThan(Self.worstDeviation(batchState[0..<count], groupState[0..<count]).ratio, 1,
                             "group:2 on 4 ranks trained the same parameters as batch, to rounding")
    }

    // MARK: Refusals

    /// Groups of K ranks need K to divide the ranks: 3 ranks in groups of 2 are refused before
    /// training, with the usage status, naming the flag and the rank count; so is `group:2` in a
    /// single process, `bench` likewise, and a K that is no number of ranks.
    func testAGroupSizeThatDoesNotDivideTheRanksIsRefusedWithStatus64() throws {
        let data = try harness.writeDataSet("data", training: 24, test: 10)
        let three = try harness.mpi(ranks: 3, trainArguments(data: data, run: "three", epochs: 1, batch: 4, extra: ["--bn-sync", "group:2"]))
        XCTAssertEqual(three.status, 64, three.tail)
        XCTAssertTrue(three.output.contains("--bn-sync group:2") && three.output.contains("has 3 rank(s)"), three.tail)
        XCTAssertFalse(three.startedTraining, "training started:\n\(three.tail)")

        let single = try harness.single(trainArguments(data: data, run: "single", epochs: 1, batch: 4, extra: ["--bn-sync", "group:2"]))
        XCTAssertEqual(single.status, 64, single.tail)
        XCTAssertTrue(single.output.contains("has 1 rank(s)"), single.tail)

        let bench = try harness.single(["bench", "--model", "resnet-8", "--stem-channels", "4", "--batch-size", "2", "--threads", "1",
                                        "--steps", "1", "--warmup", "0", "--bn-sync", "group:2"])
        XCTAssertEqual(bench.status, 64, bench.tail)
        XCTAssertTrue(bench.output.contains("--bn-sync group:2"), bench.tail)

        let zero = try harness.single(trainArguments(data: data, run: "zero", epochs: 1, batch: 4, extra: ["--bn-sync", "group:0"]))
        XCTAssertEqual(zero.status, 64, zero.tail)
        XCTAssertTrue(zero.output.contains("number of ranks per group"), zero.tail)
    }

    // MARK: Resuming on other ranks

    /// A run of 4 ranks × 3 in groups of 2 (global batch 12, 40 images: batches 12, 12, 12, 4)
    /// checkpointed after its first epoch continues on 2 ranks as `group:1` with 6 samples each:
    /// the same 2 groups of samples, so the same training up to float rounding; `inspect` says
    /// which mode each checkpoint holds. On 3 ranks the 2 groups cannot be kept: refused, 64.
    func testAGroupedRunResumedOnHalfTheRanksKeepsItsGroupsAndOnThreeRanksIsRefused() throws {
        let data = try harness.writeDataSet("data", training: 40, test: 10)
        guard try trainWithBatchNorm("group:2", ranks: 4, data: data, run: "straight", batch: 3) != nil else { return }
        let checkpoint = harness.path("straight") + "/" + String(format: "ckpt-e%05d-s%09d.ddpt", 1, 4)
        XCTAssertTrue(FileManager.default.fileExists(atPath: checkpoint), "no checkpoint after epoch 1")

        let resumed = try harness.mpi(ranks: 2, Self.withoutBatchSize(trainArguments(data: data, run: "resumed", epochs: 2, batch: 6, extra: [
            "--resume", checkpoint, "--step-log", harness.path("resumed.steps"), "--dump-state", harness.path("resumed.state"),
        ])))
        assertSucceeded(resumed)
        guard resumed.status == 0 else { return }
        XCTAssertEqual(try recordedBatchNormSync("resumed"), "group:1")
        XCTAssertTrue(resumed.output.contains("2 rank(s) × batch 6 = global batch 12"), resumed.tail)
        XCTAssertEqual(try dump("resumed.state", rank: 0), try dump("resumed.state", rank: 1))
        let straightSteps = try stepLosses("straight.steps"), resumedSteps = try stepLosses("resumed.steps")
        XCTAssertEqual(resumedSteps.count, 4)
        for (step, (a, b)) in zip(straightSteps.suffix(resumedSteps.count), resumedSteps).enumerated() {
            assertRelativelyClose(a, b, Self.lossTolerance, "loss at step \(step + 4), straight vs resumed on 2 ranks")
        }
        let straightState = try MPIHarness.floats(harness.path("straight.state.rank0"))
        let resumedState = try MPIHarness.floats(harness.path("resumed.state.rank0"))
        print("group:2 on 4 ranks vs resumed as group:1 on 2: largest difference "
              + "\(zip(straightState, resumedState).map { abs($0 - $1) }.max() ?? 0)")
        assertStatesClose(straightState, resumedState, parameterCount: MPIHarness.parameterCount(runDirectory: harness.path("straight")),
                          "group:2 on 4 ranks vs its checkpoint resumed as group:1 on 2 ranks")

        let inspected = try harness.single(["inspect", checkpoint])
        XCTAssertTrue(inspected.output.contains("4 rank(s), global batch 12, seed 7, batch norm group:2"), inspected.tail)
        let inspectedResumed = try harness.single(["inspect", harness.path("resumed")])
        XCTAssertTrue(inspectedResumed.output.contains("2 rank(s), global batch 12, seed 7, batch norm group:1"), inspectedResumed.tail)

        let three = try harness.mpi(ranks: 3, Self.withoutBatchSize(trainArguments(data: data, run: "three", epochs: 2, batch: 4,
                                                                                   extra: ["--resume", checkpoint])))
        XCTAssertEqual(three.status, 64, three.tail)
        XCTAssertTrue(three.output.contains("resume on a multiple of 2 ranks"), three.tail)
        XCTAssertFalse(three.startedTraining, three.tail)
    }
}
