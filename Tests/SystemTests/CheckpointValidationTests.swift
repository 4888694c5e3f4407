import Checkpoint
import Foundation
import TestSupport
import XCTest

/// Issue 10, reproductions 4, 5 and 8: a checkpoint's metadata meets the same validation as
/// flags; overflowing weights give a non-finite loss that is reported; a run whose last
/// checkpoint failed says so and exits 74.
extension RunSafetyTests {
    // MARK: Editing checkpoints

    /// Re-encodes the checkpoint at `source` into `target` with its JSON metadata and tensors
    /// changed by `edit` and `change`: a file with a valid checksum whose content is what a buggy
    /// writer or another tool could have produced.
    func rewrite(_ source: String, to target: String, metadata edit: (inout [String: Any]) -> Void = { _ in },
                 tensors change: (inout [NamedTensor]) -> Void = { _ in }) throws {
        let file = try CheckpointFile.decode(Data(contentsOf: URL(fileURLWithPath: source)), path: source)
        var metadata = try XCTUnwrap(try JSONSerialization.jsonObject(with: file.metadata) as? [String: Any], "metadata of \(source)")
        edit(&metadata)
        var tensors = file.tensors
        change(&tensors)
        let bytes = try CheckpointFile.encode(metadata: try JSONSerialization.data(withJSONObject: metadata, options: [.sortedKeys]),
                                              tensors: tensors, softwareVersion: file.summary.softwareVersion, level: 3, shuffle: true)
        try bytes.write(to: URL(fileURLWithPath: target))
    }

    /// Sets (or, for nil, removes) the value at the dotted `key` (`configuration.augmentation.cropPadding`).
    static func set(_ value: Any?, at key: String, in object: inout [String: Any]) {
        let parts = key.split(separator: ".", maxSplits: 1).map(String.init)
        if parts.count == 1 {
            object[parts[0]] = value
        } else {
            var inner = object[parts[0]] as? [String: Any] ?? [:]
            set(value, at: parts[1], in: &inner)
            object[parts[0]] = inner
        }
    }

    // MARK: 4. Edited metadata

    /// Issue 10 #4: copies of a mid-run checkpoint (epoch 1 of 2) with one metadata field edited
    /// and the checksum valid: `batchInEpoch` 100000 or −3, `epoch` 2⁶² or −1, crop padding 100,
    /// shift fraction 5, a normalisation std of 0, a 1-element mean, and a missing key at the top
    /// and inside the configuration. `train --resume FILE`, `inspect FILE` and `eval --checkpoint FILE` must each exit 65
    /// without crashing, naming the file and the field, and the refused run must leave no run
    /// directory. (Before: SIGSEGV in Trainer.trainEpoch for the batch index, the other values
    /// accepted, a raw `DecodingError.keyNotFound` without the file for missing keys.)
    func testCheckpointsWithEditedMetadataAreRefusedOnResumeAndInspectNamingFileAndField() throws {
        let data = try tinyData()
        let run = path("run")
        assertSucceeded(try harness.single(train(data, run: run, epochs: 2)), "training")
        let source = run + "/" + Self.checkpoint(epoch: 1, step: 3)
        let cases: [(name: String, key: String, value: Any?, field: String)] = [
            ("batch-in-epoch-large", "batchInEpoch", 100_000, "batchInEpoch"),
            ("batch-in-epoch-negative", "batchInEpoch", -3, "batchInEpoch"),
            ("epoch-huge", "epoch", 1 << 62, "epoch"),
            ("epoch-negative", "epoch", -1, "epoch"),
            ("crop-padding", "configuration.augmentation.cropPadding", 100, "augmentation.cropPadding"),
            ("shift-fraction", "configuration.augmentation.shiftFraction", 5, "augmentation.shiftFraction"),
            ("std-zero", "configuration.normalization.std", [0.25, 0, 0.25], "normalization.std"),
            ("mean-one-element", "configuration.normalization.mean", [0.5], "normalization.mean"),
            ("missing-global-step", "globalStep", nil, "globalStep"),
            ("missing-seed", "configuration.seed", nil, "configuration.seed"),
        ]
        for c in cases {
            let file = path(c.name + ".ddpt")
            try rewrite(source, to: file, metadata: { Self.set(c.value, at: c.key, in: &$0) })
            let resumed = try harness.single(train(data, run: path("resumed-" + c.name), ["--resume", file]))
            assertEnds(resumed, with: 65, saying: [file, c.field], "train --resume with \(c.key) = \(c.value.map { "\($0)" } ?? "missing")")
            XCTAssertFalse(resumed.startedTraining, "\(c.name): training started:\n\(Self.report(resumed))")
            XCTAssertEqual(Self.names(path("resumed-" + c.name)), [], "\(c.name): the refused run left files")
            let inspected = try harness.single(["inspect", file])
            assertEnds(inspected, with: 65, saying: [file, c.field], "inspect with \(c.key) = \(c.value.map { "\($0)" } ?? "missing")")
            XCTAssertFalse(inspected.output.contains("value hash"), "\(c.name): inspect printed the contents:\n\(Self.report(inspected))")
            let evaluated = try harness.single(["eval", "--checkpoint", file, "--data", data, "--threads", "1"])
            assertEnds(evaluated, with: 65, saying: [file, c.field], "eval with \(c.key) = \(c.value.map { "\($0)" } ?? "missing")")
        }
    }

    // MARK: 5. Overflowing weights

    /// Issue 10 #5: a checkpoint whose every parameter is 3e38 (the logits overflow to ±inf or
    /// NaN): `eval --checkpoint FILE` must exit non-zero saying the loss is NaN or infinite, and
    /// `train --resume FILE` must stop with the NaN message and exit 1. (Before: eval printed
    /// loss 0.0000 and training logged loss 0, because ReLU turned NaN into 0 and the log-softmax
    /// cancelled equal huge logits to 0.)
    func testOverflowingWeightsGiveANonFiniteLossThatEvalAndTrainingReport() throws {
        let data = try tinyData()
        let run = path("run")
        assertSucceeded(try harness.single(train(data, run: run, epochs: 2)), "training")
        let file = path("overflowing.ddpt")
        try rewrite(run + "/" + Self.checkpoint(epoch: 1, step: 3), to: file, tensors: { tensors in
            for k in tensors.indices where tensors[k].section == "parameters" {
                tensors[k].values = [Float](repeating: 3e38, count: tensors[k].values.count)
            }
        })

        let evaluated = try harness.single(["eval", "--checkpoint", file, "--data", data, "--threads", "1"])
        XCTAssertNotEqual(evaluated.status, 0, "eval accepted overflowing weights:\n\(Self.report(evaluated))")
        assertSays(evaluated, ["NaN or infinite", file], "eval of overflowing weights")
        XCTAssertFalse(evaluated.output.contains("top-1 accuracy"), "eval printed a result:\n\(Self.report(evaluated))")

        let resumed = try harness.single(train(data, run: path("resumed"), ["--resume", file]))
        assertEnds(resumed, with: 1, saying: ["became NaN or infinite", "training stopped"], "training from overflowing weights")
        XCTAssertFalse(resumed.output.contains("done:"), "the run claims it is done:\n\(Self.report(resumed))")
    }

    // MARK: 8. A failed final checkpoint

    /// Issue 10 #8: with the default `--on-checkpoint-failure continue`, the final checkpoint of a
    /// 2-epoch run cannot be written (a directory sits at its name, so the rename fails). The run
    /// must exit 74 naming the failed file and the newest checkpoint on disk (epoch 1's), must not
    /// say "done", and `latest` must still name that older checkpoint. (Before: "done" and exit 0.)
    func testAFailedFinalCheckpointExitsWithTheCheckpointFailureStatusNamingTheNewestOnDisk() throws {
        let data = try tinyData()
        let run = path("run")
        let final = Self.checkpoint(epoch: 2, step: 6), previous = Self.checkpoint(epoch: 1, step: 3)
        try FileManager.default.createDirectory(atPath: run + "/" + final + "/occupied", withIntermediateDirectories: true)
        let result = try harness.single(train(data, run: run, epochs: 2))
        assertEnds(result, with: 74, saying: ["checkpoint \(final) could not be written",
                                              "The newest checkpoint on disk is \(run)/\(previous)"], "a failed final checkpoint")
        XCTAssertFalse(result.output.contains("done:"), "the run claims it is done:\n\(Self.report(result))")
        XCTAssertEqual(Self.latest(run), previous, "latest")
    }
}
