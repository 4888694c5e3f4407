import Foundation
import TestSupport
import XCTest

/// `--allreduce-dtype bf16` under mpirun (issue 15): gradients exchanged as bfloat16 leave every
/// rank with the same weights, change the training (the option does something) without moving
/// the loss far, halve the bytes per step, and are recorded, kept on resume and checked as flags.
extension DistributedTrainingTests {
    /// The gradient bytes per step that the start line of `output` states.
    func exchangedBytes(_ output: String) -> Int? {
        guard let range = output.range(of: #"exchanged as \w+, (\d+) bytes per step"#, options: .regularExpression) else { return nil }
        return Int(output[range].split(separator: " ")[3])
    }

    /// The configuration's `allReduceDataType` as `config.json` records it (nil when absent).
    func recordedAllReduceDataType(_ run: String) throws -> String? {
        let data = try Data(contentsOf: URL(fileURLWithPath: harness.path(run) + "/config.json"))
        return (try JSONSerialization.jsonObject(with: data) as? [String: Any])?["allReduceDataType"] as? String
    }

    /// With bfloat16 gradients, every rank still ends bit for bit alike: 2 ranks of sparsenet-13-4
    /// with small buckets (several bfloat16 all-reduces in flight during backward) and the
    /// parameter checksum compared after every step, and 3 ranks of resnet-8, a rank count that is
    /// no power of two, so the all-reduce folds a rank in and out around its pairwise exchanges.
    func testRanksExchangingBFloat16GradientsEndWithBitwiseIdenticalParametersAndBuffers() throws {
        let data = try harness.writeDataSet("data", training: 37, test: 11)
        let two = try trainDumpingState(ranks: 2, model: Self.sparsenet13, data: data, run: "two", epochs: 2, batch: 8,
                                        extra: ["--allreduce-dtype", "bf16", "--bucket-mb", "0.004", "--check-sync-every", "1"])
        let three = try trainDumpingState(ranks: 3, data: data, run: "three", epochs: 2, batch: 4,
                                          extra: ["--allreduce-dtype", "bf16", "--bucket-mb", "0.002"])
        guard let two, let three else { return }
        XCTAssertGreaterThan(two[0].count, 0)
        XCTAssertEqual(two[1], two[0], "rank 1's state differs from rank 0's (2 ranks, bf16)")
        for rank in 1..<3 { XCTAssertEqual(three[rank], three[0], "rank \(rank)'s state differs from rank 0's (3 ranks, bf16)") }
        XCTAssertEqual(try recordedAllReduceDataType("two"), "bf16")
    }

    /// The same 2-rank run with fp32 and with bf16 gradients: the first step's loss (before any
    /// update) is the same, every later step's differs (bf16 changed the gradients), but by little;
    /// the final weights differ; the start line states half the bytes per step. One process
    /// rounds its gradients through bfloat16 as well: its bf16 run differs from its fp32 run and
    /// stays close to the 2-rank bf16 run.
    func testBFloat16GradientsChangeTheTrainingButKeepTheLossClose() throws {
        let data = try harness.writeDataSet("data", training: 32, test: 10)
        var outputs: [String: String] = [:]
        for (run, ranks, batch, type) in [("fp32", 2, 8, "fp32"), ("bf16", 2, 8, "bf16"), ("single-fp32", 1, 16, "fp32"),
                                          ("single-bf16", 1, 16, "bf16")] {
            let result = try harness.mpi(ranks: ranks, trainArguments(data: data, run: run, epochs: 2, batch: batch, extra: [
                "--allreduce-dtype", type, "--step-log", harness.path(run + ".steps"), "--dump-state", harness.path(run + ".state"),
            ]))
            assertSucceeded(result)
            guard result.status == 0 else { return }
            outputs[run] = result.output
        }
        let fp32 = try stepLosses("fp32.steps"), bf16 = try stepLosses("bf16.steps")
        XCTAssertEqual(fp32.count, 4)
        XCTAssertEqual(bf16.count, fp32.count)
        XCTAssertEqual(bf16.first, fp32.first, "the first step's loss comes before any exchange")
        var worst = 0.0
        for (step, (a, b)) in zip(fp32, bf16).enumerated().dropFirst() {
            XCTAssertNotEqual(a, b, "step \(step): bf16 left the loss bit for bit where fp32 has it")
            worst = max(worst, abs(a - b) / max(abs(a), abs(b)))
        }
        print("bf16 vs fp32 on 2 ranks: largest relative step-loss difference \(worst)")
        XCTAssertLessThan(worst, 1e-3, "bf16 moved the loss by more than 0.1 % (measured: 2.5e-5)")
        XCTAssertTrue(try MPIHarness.floats(harness.path("fp32.state.rank0")) != MPIHarness.floats(harness.path("bf16.state.rank0")),
                      "bf16 and fp32 end with the same weights")
        let fp32Bytes = try XCTUnwrap(exchangedBytes(outputs["fp32"] ?? ""), "no bytes per step in the fp32 start line")
        let bf16Bytes = try XCTUnwrap(exchangedBytes(outputs["bf16"] ?? ""), "no bytes per step in the bf16 start line")
        XCTAssertEqual(2 * bf16Bytes, fp32Bytes, "bf16 should send half the gradient bytes")
        XCTAssertEqual(fp32Bytes % 4, 0)

        XCTAssertTrue(try MPIHarness.floats(harness.path("single-fp32.state.rank0")) != MPIHarness.floats(harness.path("single-bf16.state.rank0")),
                      "one process with bf16 did not round its gradients")
        for (step, (a, b)) in zip(try stepLosses("single-bf16.steps"), bf16).enumerated() {
            assertRelativelyClose(a, b, 1e-3, "bf16 loss at step \(step), 1 process vs 2 ranks")
        }
    }

    /// `config.json` and the checkpoints record bf16 (and nothing for fp32, which files written
    /// before the option also read as); a resume keeps it, refuses another format unless with
    /// `--continue-with-changes` (which states the change), and a value that is no format is a
    /// usage error naming the flag.
    func testTheExchangeFormatIsRecordedKeptOnResumeAndCheckedAsAFlag() throws {
        let data = try harness.writeDataSet("data", training: 32, test: 10)
        let first = try harness.mpi(ranks: 2, trainArguments(data: data, run: "run", epochs: 1, batch: 8, extra: ["--allreduce-dtype", "bf16"]))
        assertSucceeded(first)
        guard first.status == 0 else { return }
        XCTAssertEqual(try recordedAllReduceDataType("run"), "bf16")
        let inspected = try harness.single(["inspect", harness.path("run")])
        XCTAssertEqual(inspected.status, 0, inspected.tail)
        XCTAssertTrue(inspected.output.contains("gradients exchanged as bf16"), "the checkpoint does not record bf16:\n\(inspected.tail)")

        let kept = try harness.mpi(ranks: 2, Self.withoutBatchSize(trainArguments(data: data, run: "run", epochs: 2, batch: 8,
                                                                                 extra: ["--resume", "auto", "--continue-with-changes"])))
        assertSucceeded(kept)
        XCTAssertTrue(kept.output.contains("gradients exchanged as bf16"), "the resume did not keep bf16:\n\(kept.tail)")

        let refused = try harness.mpi(ranks: 2, Self.withoutBatchSize(trainArguments(data: data, run: "run", epochs: 2, batch: 8,
                                                                                    extra: ["--resume", "auto", "--allreduce-dtype", "fp32"])))
        XCTAssertEqual(refused.status, 64, refused.tail)
        XCTAssertTrue(refused.output.contains("allReduceDataType"), "the refusal does not name the field:\n\(refused.tail)")

        let changed = try harness.mpi(ranks: 2, Self.withoutBatchSize(trainArguments(data: data, run: "run", epochs: 3, batch: 8, extra: [
            "--resume", "auto", "--continue-with-changes", "--allreduce-dtype", "fp32",
        ])))
        assertSucceeded(changed)
        XCTAssertTrue(changed.output.contains("gradients exchanged as fp32"), changed.tail)
        XCTAssertNil(try recordedAllReduceDataType("run"), "fp32 is recorded as the field's absence")

        let bad = try harness.single(trainArguments(data: data, run: "bad", epochs: 1, batch: 8, extra: ["--allreduce-dtype", "fp16"]))
        XCTAssertEqual(bad.status, 64, bad.tail)
        XCTAssertTrue(bad.output.contains("--allreduce-dtype"), "the error does not name the flag:\n\(bad.tail)")
        XCTAssertTrue(bad.output.contains("bf16"), "the error does not list the formats:\n\(bad.tail)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: harness.path("bad")), "a refused run left its directory")
    }
}
