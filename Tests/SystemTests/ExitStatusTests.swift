import Foundation
import TestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Issue 10, reproductions 6, 7, 9 and 10: sizes that overflow or exhaust memory, oversized
/// data files, messages that named the wrong thing, flags that did nothing, and the exit status
/// of each kind of ending (64 usage, 65 bad input, 3 watchdog; see Docs/cli.md).
extension RunSafetyTests {
    /// Runs `train` with `extra` flags into a fresh run directory and asserts exit 64 naming
    /// `flag`, no training, and no run directory left behind.
    func assertUsageError(_ data: String, _ extra: [String], naming flag: String, epochs: Int = 3,
                          file: StaticString = #filePath, line: UInt = #line) throws {
        let run = path("run-\(UUID().uuidString.prefix(8))")
        let result = try harness.single(train(data, run: run, epochs: epochs, extra))
        let what = extra.map { $0.isEmpty ? "''" : $0 }.joined(separator: " ")
        assertEnds(result, with: 64, saying: [flag], what, file: file, line: line)
        XCTAssertFalse(result.startedTraining, "\(what): training started:\n\(Self.report(result))", file: file, line: line)
        XCTAssertFalse(FileManager.default.fileExists(atPath: run), "\(what): left a run directory: \(Self.names(run))", file: file, line: line)
    }

    // MARK: 6. Sizes

    /// Issue 10 #6: `--batch-size 1000000000` exits 64 naming the flag and its limit, under a
    /// 4 GiB address-space guard. (Before: a fatal error or a crash while allocating.)
    func testABatchSizeBeyondTheLimitIsAUsageErrorNotACrash() throws {
        let data = try tinyData()
        let run = path("run")
        let ended = try guarded(train(data, run: run, ["--batch-size", "1000000000"]), timeout: 30)
        XCTAssertNil(ended.killed, ended.result.output)
        assertEnds(ended.result, with: 64, saying: ["--batch-size 1000000000", "must be between 1 and"], "--batch-size 1000000000")
        XCTAssertFalse(FileManager.default.fileExists(atPath: run), "a refused run left its directory")
    }

    /// Issue 10 #6: `--batch-size 100000` on 1,000 images trains its one epoch (a single step of
    /// the whole set) and exits 0 within a 60 s guard, with a peak resident set no more than
    /// 1.5× (+100 MiB) that of the same run with `--batch-size 1000`: activations are allocated
    /// for the samples that exist. The guard kills the run above 3× (+256 MiB), or above 4 GiB
    /// of address space. (Before: memory for 100,000 samples, filling the machine for minutes.)
    func testABatchLargerThanTheDataSetIsCappedAtTheData() throws {
        let data = try harness.writeDataSet("data1000", training: 1000, test: 20)
        let reference = try guarded(train(data, run: path("reference"), epochs: 1, ["--batch-size", "1000"]), timeout: 60)
        assertEnds(reference.result, with: 0, saying: [], "the reference run with --batch-size 1000")
        XCTAssertGreaterThan(reference.peakMiB, 0, "no resident-set reading of the reference run")
        guard reference.result.status == 0, reference.peakMiB > 0 else { return }

        let capped = try guarded(train(data, run: path("capped"), epochs: 1, ["--batch-size", "100000"]), timeout: 60,
                                 killAboveMiB: 3 * reference.peakMiB + 256)
        XCTAssertNil(capped.killed, "--batch-size 100000 on 1,000 images:\n\(Self.report(capped.result))")
        assertEnds(capped.result, with: 0, saying: ["done:"], "--batch-size 100000 on 1,000 images")
        XCTAssertLessThanOrEqual(Double(capped.peakMiB), 1.5 * Double(reference.peakMiB) + 100,
                                 "peak resident set \(capped.peakMiB) MiB with --batch-size 100000 vs \(reference.peakMiB) MiB with 1000")
        print("peak resident set: \(reference.peakMiB) MiB with --batch-size 1000, \(capped.peakMiB) MiB with --batch-size 100000 "
              + String(format: "(%.1f s)", capped.result.seconds))
    }

    // MARK: 7. Oversized data files

    /// Issue 10 #7: a training file of 21.5 GB (sparse, 7,000,000 whole records) makes `train`
    /// exit 65 naming the file and CIFAR-10's 10,000 records per file, without allocating it
    /// (a 4 GiB address-space guard). (Before: the loader allocated the whole set plus a
    /// file-sized buffer and aborted.)
    func testADataFileWithRoomForTooManyRecordsIsRefusedBeforeAllocating() throws {
        let data = try harness.writeDataSet("data", training: 40, test: 20)
        let big = data + "/data_batch_3.bin"
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: big))
        try handle.truncate(atOffset: 7_000_000 * 3073)
        try handle.close()
        let run = path("run")
        let ended = try guarded(train(data, run: run), timeout: 30)
        XCTAssertNil(ended.killed, ended.result.output)
        assertEnds(ended.result, with: 65, saying: [big, "10,000 records"], "a 21.5 GB data file")
        XCTAssertFalse(FileManager.default.fileExists(atPath: run), "a refused run left its directory")
    }

    // MARK: 9. Messages and exit statuses

    /// Issue 10 #9: `--min-lr nan` (cosine), `--warmup-epochs nan` and `--bucket-mb inf` exit 64
    /// naming the flag, and leave no run directory. (Before: "writing config.json failed: The
    /// data isn't in the correct format" and an empty run directory.)
    func testNonFiniteFlagValuesAreUsageErrorsThatLeaveNoRunDirectory() throws {
        let data = try tinyData()
        try assertUsageError(data, ["--schedule", "cosine", "--min-lr", "nan"], naming: "--min-lr nan")
        try assertUsageError(data, ["--warmup-epochs", "nan"], naming: "--warmup-epochs nan")
        try assertUsageError(data, ["--bucket-mb", "inf"], naming: "--bucket-mb inf")
    }

    /// Issue 10 #9 ("exit codes for bad usage are 1 or 64 at random"): every kind of usage error
    /// exits 64 naming the flag — an unknown flag, an unparsable or out-of-range value, and flags
    /// that contradict each other.
    func testEveryKindOfBadUsageExitsWith64NamingTheFlag() throws {
        let data = try tinyData()
        try assertUsageError(data, ["--epoch", "3"], naming: "--epoch")
        try assertUsageError(data, ["--lr", "abc"], naming: "--lr")
        try assertUsageError(data, ["--threads", "0"], naming: "--threads")
        try assertUsageError(data, ["--momentum", "1.5"], naming: "--momentum")
        try assertUsageError(data, ["--label-smoothing", "-0.1"], naming: "--label-smoothing")
        try assertUsageError(data, ["--keep", "0"], naming: "--keep")
        try assertUsageError(data, ["--overwrite", "--resume", "auto"], naming: "--overwrite")
        try assertUsageError(data, [], naming: "--epochs", epochs: 0)
    }

    /// Issue 10 #9: `--resume RUNDIR` takes the directory's newest usable checkpoint, as
    /// `inspect` and `eval --checkpoint` do: a directory holding a 2-epoch run's epoch-1
    /// checkpoint resumes from it into a new run directory and finishes both epochs. (Before: a
    /// raw NSCocoaErrorDomain "Is a directory" error.)
    func testResumeAcceptsARunDirectoryAsInspectAndEvalDo() throws {
        let data = try tinyData()
        let run = path("run"), half = path("half")
        assertSucceeded(try harness.single(train(data, run: run, epochs: 2, ["--keep", "100"])), "training")
        let name = Self.checkpoint(epoch: 1, step: 3)
        try FileManager.default.createDirectory(atPath: half, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: run + "/" + name, toPath: half + "/" + name)

        let resumed = try harness.single(train(data, run: path("resumed"), epochs: 2, ["--resume", half]))
        assertEnds(resumed, with: 0, saying: ["resuming from \(half)/\(name)", "resuming at epoch 2, step 3"], "--resume RUNDIR")
        XCTAssertEqual(try MPIHarness.jsonLines(path("resumed") + "/metrics.jsonl").count, 2)
        let inspected = try harness.single(["inspect", half])
        assertEnds(inspected, with: 0, saying: ["checkpoint \(half)/\(name)\n"], "inspect RUNDIR")
        assertSucceeded(try harness.single(["eval", "--checkpoint", half, "--data", data, "--threads", "1"]), "eval --checkpoint RUNDIR")
    }

    /// Issue 10 #9: a FIFO given as a checkpoint (`inspect`, `eval --checkpoint`, `train
    /// --resume`) is refused within a 20 s guard, exit 65, saying it is not a regular file.
    /// (Before: `inspect FIFO` blocked forever in open(2), and `--resume FIFO` reported "permission".)
    func testAFIFOIsRefusedAsACheckpointWithoutHanging() throws {
        let data = try tinyData()
        let fifo = path("fifo")
        XCTAssertEqual(mkfifo(fifo, 0o644), 0, "mkfifo failed")
        for (what, arguments) in [("inspect FIFO", ["inspect", fifo]),
                                  ("eval --checkpoint FIFO", ["eval", "--checkpoint", fifo, "--data", data, "--threads", "1"]),
                                  ("train --resume FIFO", train(data, run: path("run"), ["--resume", fifo]))] {
            let ended = try guarded(arguments, timeout: 20)
            XCTAssertNil(ended.killed, "\(what):\n\(Self.report(ended.result))")
            assertEnds(ended.result, with: 65, saying: [fifo, "not a regular file"], what)
        }
    }

    /// Issue 10 #9: `--run-dir afile/sub`, where `afile` is a file, exits 64 saying that 'afile'
    /// exists and is not a directory, and leaves the file alone. (Before: "NSCocoaErrorDomain
    /// error 512".)
    func testARunDirectoryBelowAFileNamesThatFile() throws {
        let data = try tinyData()
        let file = path("afile")
        try Data("text".utf8).write(to: URL(fileURLWithPath: file))
        let result = try harness.single(train(data, run: file + "/sub"))
        assertEnds(result, with: 64, saying: ["'\(file)' exists and is not a directory"], "--run-dir afile/sub")
        XCTAssertFalse(result.output.contains("NSCocoaErrorDomain"), Self.report(result))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: file)), Data("text".utf8))
    }

    /// Issue 10 #9: a data path that is not the binary data set is bad input (65) with a message
    /// that fits: `--data` naming a file says it is a file, not a directory (and does not suggest
    /// downloading into it); a folder of CIFAR-10's Python (pickle) version is recognised as such.
    func testDataPathsThatAreNotTheBinaryDataSetAreBadInputWithAFittingHint() throws {
        let data = try tinyData()
        let file = data + "/data_batch_1.bin"
        let onFile = try harness.single(train(file, run: path("run1")))
        assertEnds(onFile, with: 65, saying: ["'\(file)' is a file, not a directory"], "--data FILE")
        XCTAssertFalse(onFile.output.contains("get-cifar10.sh"), "suggests downloading into a file:\n\(Self.report(onFile))")

        let pickle = path("cifar-10-batches-py")
        try FileManager.default.createDirectory(atPath: pickle, withIntermediateDirectories: true)
        for name in ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch", "batches.meta"] {
            try Data("pickle".utf8).write(to: URL(fileURLWithPath: pickle + "/" + name))
        }
        let onPickle = try harness.single(train(pickle, run: path("run2")))
        assertEnds(onPickle, with: 65, saying: ["Python version"], "--data on the pickle version")
    }

    /// Issue 10 #9: `--step-timeout` in a single process (no mpirun) ends it with status 3 and a
    /// message about this process, not "a peer rank". The limit (10 ms) is far shorter than one
    /// step of densenet-40-12 on 40 images (about 65 GFLOP: hundreds of milliseconds even on a
    /// fast core; a resnet-8 step, at about 7 ms on a Zen 5 core, was not), so the watchdog fires
    /// at its first check; a 60 s guard ends the test if it does not. (Before: "rank 0: … A peer
    /// rank is probably stalled".)
    func testTheStepWatchdogOfASingleProcessBlamesNoPeerRank() throws {
        let data = try tinyData()
        let events = path("events")
        let ended = try guarded(train(data, run: path("run"), epochs: 200, model: "densenet-40-12",
                                      ["--batch-size", "40", "--step-timeout", "0.01", "--events", events]), timeout: 60)
        XCTAssertNil(ended.killed, ended.result.output)
        assertEnds(ended.result, with: 3, saying: ["--step-timeout 0.01", "single process"], "--step-timeout in one process")
        XCTAssertEqual(MPIHarness.events(events, "aborted", reason: "step-timeout").count, 1,
                       "no single step-timeout event in \(events)")
        XCTAssertFalse(ended.result.output.contains("peer rank"), "blames a peer rank:\n\(Self.report(ended.result))")
    }

    // MARK: 10. Flags that would do nothing

    /// Issue 10 #10: flags whose setting the chosen schedule or augmentation does not use, or
    /// that could never take effect, exit 64 naming the flag: `--milestones` beyond `--epochs`,
    /// `--milestones ""` (no decay at all), `--gamma` or `--milestones` without multistep,
    /// `--min-lr` without cosine, `--decay` without inverse-time (and inverse-time without a
    /// decay), `--crop-padding` without crop, and `--augment none,flip`. (Before: accepted and
    /// silently ignored.)
    func testFlagsThatWouldDoNothingAreRefusedAsUsageErrors() throws {
        let data = try tinyData()
        try assertUsageError(data, ["--schedule", "multistep", "--milestones", "5"], naming: "--milestones")
        try assertUsageError(data, ["--milestones", ""], naming: "--milestones")
        try assertUsageError(data, ["--schedule", "cosine", "--gamma", "0.5"], naming: "--gamma")
        try assertUsageError(data, ["--schedule", "constant", "--milestones", "0.5"], naming: "--milestones")
        try assertUsageError(data, ["--min-lr", "0.01"], naming: "--min-lr")
        try assertUsageError(data, ["--schedule", "cosine", "--decay", "1e-4"], naming: "--decay")
        try assertUsageError(data, ["--schedule", "inverse-time"], naming: "--decay")
        try assertUsageError(data, ["--augment", "flip", "--crop-padding", "2"], naming: "--crop-padding")
        try assertUsageError(data, ["--augment", "none,flip"], naming: "none")
    }

    // MARK: Model sizes and ResNet-only flags

    /// Issue 10 #6. Model names whose sizes overflow or exhaust memory (`resnet-600002`,
    /// `resnet-9223372036854775802`, `densenet-10-9223372036854775807`) must end with exit 64
    /// and a message, without a crash signal, within a 15 s guard and 4 GiB of address space.
    /// (Before: Fatal error, SIGILL or SIGSEGV.)
    func testModelNamesWhoseSizesOverflowAreUsageErrorsNotCrashes() throws {
        let data = try tinyData()
        for model in ["resnet-600002", "resnet-9223372036854775802", "densenet-10-9223372036854775807"] {
            let run = path("run-\(model)")
            let ended = try guarded(train(data, run: run, model: model), timeout: 15)
            guard ended.killed == nil else {
                XCTFail("--model \(model): the test guard killed it:\n\(Self.report(ended.result))")
                continue
            }
            XCTAssertFalse(ended.signalled, "--model \(model) crashed:\n\(Self.report(ended.result))")
            assertEnds(ended.result, with: 64, saying: ["Error: "], "--model \(model)")
            XCTAssertFalse(ended.result.startedTraining,
                           "--model \(model) started training:\n\(Self.report(ended.result))")
        }
    }

    /// Issue 10 #6. `summary densenet-10-9223372036854775807` must exit 64 with a message, without a
    /// crash signal and without printing a parameter count. (Before: "total parameters: 387",
    /// exit 0.)
    func testSummaryOfAModelWhoseSizeOverflowsIsAUsageError() throws {
        let ended = try guarded(["summary", "densenet-10-9223372036854775807"], timeout: 15)
        XCTAssertNil(ended.killed, Self.report(ended.result))
        XCTAssertFalse(ended.signalled, "summary crashed:\n\(Self.report(ended.result))")
        assertEnds(ended.result, with: 64, saying: ["Error: "], "summary densenet-10-9223372036854775807")
        XCTAssertFalse(ended.result.output.contains("total parameters"), Self.report(ended.result))
    }

    /// Issue 10 #10. `--dropout 0.2` on a ResNet (which has no dropout layer) must exit 64 naming
    /// `--dropout`. (Before: accepted and ignored.)
    func testDropoutOnAResNetIsRefused() throws {
        try assertUsageError(try tinyData(), ["--dropout", "0.2"], naming: "--dropout")
    }
}
