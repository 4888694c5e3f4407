import Foundation
import TestSupport
import XCTest

/// Issue 10, reproductions 1–3: a run directory holds one run, a second process is locked out,
/// `--overwrite` and resuming from an older checkpoint move files aside instead of mixing runs,
/// and output paths never overwrite what is not theirs.
extension RunSafetyTests {
    // MARK: 1. A fresh run in a directory that holds another

    /// Issue 10 #1: after a 3-epoch run, a fresh run into the same directory, with another seed
    /// (the issue's reproduction) or another model, exits 64 saying the directory already holds a
    /// run and how to continue it, start elsewhere or `--overwrite`, and changes no byte in the
    /// directory. `latest`, `inspect RUNDIR`, `config.json` and `--resume auto` then still agree
    /// on the first run's final checkpoint. (Before: the second run exited 0 after replacing
    /// config.json and metrics.jsonl and overwriting checkpoints of the same names.)
    func testAFreshRunRefusesADirectoryThatHoldsAnotherRunAndChangesNothing() throws {
        let data = try tinyData()
        let run = path("run")
        assertSucceeded(try harness.single(train(data, run: run, epochs: 3)), "the first run")
        let final = Self.checkpoint(epoch: 3, step: 9)
        let before = try Self.tree(run)
        XCTAssertNotNil(before[final], "the first run left no final checkpoint: \(before.keys.sorted())")

        for (what, arguments) in [("another seed", train(data, run: run, epochs: 2, seed: 7)),
                                  ("another model", train(data, run: run, epochs: 2, model: "resnet-14"))] {
            let second = try harness.single(arguments)
            assertEnds(second, with: 64, saying: ["run directory \(run) already holds run", "Nothing was changed",
                                                  "--resume auto", "--overwrite"], "a fresh run with \(what)")
            XCTAssertFalse(second.startedTraining, "a fresh run with \(what) started training:\n\(Self.report(second))")
            try assertUnchanged(run, since: before, "after the refused fresh run with \(what)")
        }

        XCTAssertEqual(Self.latest(run), final)
        let inspected = try harness.single(["inspect", run])
        assertEnds(inspected, with: 0, saying: ["checkpoint \(run)/\(final)\n", "seed 0"], "inspect RUNDIR")
        let configuration = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: run + "/config.json"))) as? [String: Any]
        XCTAssertEqual((configuration?["seed"] as? NSNumber)?.intValue, 0, "config.json no longer describes the first run")
        let resumed = try harness.single(train(data, run: run, epochs: 3, ["--resume", "auto"]))
        assertEnds(resumed, with: 0, saying: ["resuming from \(run)/\(final)"], "--resume auto")
    }

    // MARK: 2. Two processes in one directory

    /// Issue 10 #2: while a run trains into a directory (kept busy ~1 s per checkpoint by the
    /// writer's test hook, 4 epochs), a second run into the same directory exits 64 at once,
    /// saying the directory is in use by the first one's pid on its host, and so do a second run
    /// with `--overwrite` (which moves nothing) and one with `--resume auto`; the first then finishes
    /// with status 0 and its own results (4 epochs in metrics.jsonl, its seed in config.json and
    /// in the final checkpoint). (Before: both exited 0, and the first run's results were gone.)
    func testASecondProcessIsRefusedWhileAnotherTrainsIntoTheSameDirectory() throws {
        let data = try tinyData()
        let run = path("run")
        var environment = MPIHarness.singleProcessEnvironment
        environment["DDPTRAIN_CHECKPOINT_WRITE_DELAY_MS"] = "60"
        let first = try startInBackground(harness.binary.path, train(data, run: run, epochs: 4, seed: 3), environment: environment)
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: run + "/config.json") {
            guard !first.hasExited, Date() < deadline else {
                return XCTFail("the first run never wrote config.json:\n\(CheckpointEndToEndTests.condensed(first.output))")
            }
            Thread.sleep(forTimeInterval: 0.02)
        }

        let second = try harness.single(train(data, run: run, epochs: 2, seed: 7))
        // Neither --overwrite nor --resume auto gets past the lock either.
        let others = try [["--overwrite"], ["--resume", "auto"]].map { try harness.single(train(data, run: run, epochs: 4, seed: 3, $0)) }
        XCTAssertFalse(first.hasExited, "the first run ended before the others were refused, so the lock was not tested:\n"
                       + CheckpointEndToEndTests.condensed(first.output))
        assertEnds(second, with: 64, saying: ["run directory \(run) is in use by another ddptrain process",
                                              "pid \(first.process.processIdentifier) on host "], "the second run")
        XCTAssertFalse(second.startedTraining, "the second run trained:\n\(Self.report(second))")
        for (other, flag) in zip(others, ["--overwrite", "--resume auto"]) {
            assertEnds(other, with: 64, saying: ["is in use by another ddptrain process"], "a second run with \(flag)")
        }
        XCTAssertEqual(Self.names(run).filter { $0.hasPrefix("replaced-") }, [], "--overwrite moved the live run's files")

        XCTAssertTrue(first.wait(timeout: 90), "the first run did not finish")
        XCTAssertEqual(first.process.terminationStatus, 0, "the first run failed:\n\(CheckpointEndToEndTests.condensed(first.output))")
        XCTAssertEqual(try MPIHarness.jsonLines(run + "/metrics.jsonl").count, 4, "the first run's metrics")
        let configuration = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: run + "/config.json"))) as? [String: Any]
        XCTAssertEqual((configuration?["seed"] as? NSNumber)?.intValue, 3, "config.json is not the first run's")
        let inspected = try harness.single(["inspect", run])
        assertEnds(inspected, with: 0, saying: ["checkpoint \(run)/\(Self.checkpoint(epoch: 4, step: 12))\n", "seed 3"],
                   "inspect after the first run")
    }

    // MARK: 1. --overwrite and superseded checkpoints

    /// Issue 10 #1, the explicit way to start over: `--overwrite` moves every file of the old
    /// 3-epoch run, byte for byte, into one `replaced-<time>/` folder, and the new 2-epoch run
    /// (seed 7) owns the directory. Afterwards `latest`, the header of `inspect RUNDIR`, the
    /// checkpoint `eval --checkpoint RUNDIR` evaluates (same loss and accuracy as evaluating the
    /// file `latest` names) and the "resuming from" line of `--resume auto` all name the new run's
    /// final checkpoint. (Before: the flag did not exist, and without it the directory mixed the
    /// runs: `latest`, `inspect` and `--resume auto` picked the old run's newer checkpoint.)
    func testOverwriteMovesTheOldRunAsideAndLatestInspectEvalAndResumeAutoThenAgree() throws {
        let data = try tinyData()
        let run = path("run")
        assertSucceeded(try harness.single(train(data, run: run, epochs: 3)), "the first run")
        let before = try Self.tree(run)

        let second = try harness.single(train(data, run: run, epochs: 2, seed: 7, ["--overwrite"]))
        assertEnds(second, with: 0, saying: ["moved \(before.count) file(s) of the earlier run into \(run)/replaced-"], "--overwrite")
        let folders = Self.names(run).filter { $0.hasPrefix("replaced-") }
        XCTAssertEqual(folders.count, 1, "expected one replaced-<time> folder: \(Self.names(run))")
        guard let folder = folders.first else { return }
        let moved = try Self.tree(run + "/" + folder)
        XCTAssertEqual(moved.keys.sorted(), before.keys.sorted(), "the old run's files in \(folder)")
        XCTAssertTrue(moved == before, "the old run's files changed on the way into \(folder)")

        let final = Self.checkpoint(epoch: 2, step: 6)
        XCTAssertEqual(Self.names(run).filter { $0.hasPrefix("ckpt-") }, [Self.checkpoint(epoch: 1, step: 3), final],
                       "the run directory holds checkpoints that are not the new run's")
        XCTAssertEqual(Self.latest(run), final, "latest")
        let inspected = try harness.single(["inspect", run])
        assertEnds(inspected, with: 0, saying: ["seed 7"], "inspect RUNDIR")
        XCTAssertEqual(inspected.output.split(separator: "\n").first.map(String.init), "checkpoint \(run)/\(final)",
                       "inspect RUNDIR names another checkpoint:\n\(Self.report(inspected))")

        func evaluation(_ checkpoint: String) throws -> String? {
            let result = try harness.single(["eval", "--checkpoint", checkpoint, "--data", data, "--threads", "1"])
            assertSucceeded(result, "eval --checkpoint \(checkpoint)")
            return CheckpointEndToEndTests.capture(#"(loss [0-9.]+, top-1 accuracy [0-9.]+%)"#, in: result.output)
        }
        let ofDirectory = try evaluation(run), ofFile = try evaluation(run + "/" + final)
        XCTAssertNotNil(ofDirectory)
        XCTAssertEqual(ofDirectory, ofFile, "eval --checkpoint RUNDIR did not evaluate \(final)")

        let resumed = try harness.single(train(data, run: run, epochs: 2, seed: 7, ["--resume", "auto"]))
        assertEnds(resumed, with: 0, saying: ["resuming from \(run)/\(final)\n"], "--resume auto after --overwrite")
    }

    /// Issue 10 #1 ("`--overwrite` moves the old files aside"): six 1-epoch runs in a row into one
    /// directory, each after the first with `--overwrite`, must leave the config.json of every
    /// one of the five replaced runs (seeds 1–5) in a `replaced-*` folder. The runs take a
    /// fraction of a second each, so several overwrites fall within one second.
    /// (Folders are named to the second; a move never reuses an existing folder but takes
    /// `replaced-<time>-2`, …. Found by this test: the first version renamed into an existing
    /// folder and lost the earlier run.)
    func testEveryRunReplacedByOverwriteIsKeptEvenWhenOverwritesFollowWithinOneSecond() throws {
        let data = try tinyData()
        let run = path("run")
        for seed in 1...6 {
            let result = try harness.single(train(data, run: run, epochs: 1, seed: seed,
                                                  ["--no-checkpoints"] + (seed > 1 ? ["--overwrite"] : [])))
            assertSucceeded(result, "the run with seed \(seed)")
        }
        var kept: [Int] = []
        for folder in Self.names(run) where folder.hasPrefix("replaced-") {
            let url = URL(fileURLWithPath: run + "/" + folder + "/config.json")
            if let configuration = try? JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any],
               let seed = (configuration["seed"] as? NSNumber)?.intValue {
                kept.append(seed)
            }
        }
        let folders = Self.names(run).filter { $0.hasPrefix("replaced-") }
        XCTAssertEqual(kept.sorted(), [1, 2, 3, 4, 5],
                       "replaced runs lost: the replaced-* folders \(folders) hold the runs of seeds \(kept.sorted())")
    }

    /// Issue 10 #1, the other way two branches could mix: resuming a 3-epoch run from its epoch-1
    /// checkpoint moves the newer checkpoints (epochs 2 and 3), byte for byte, into one
    /// `superseded-<time>/` folder before training, so the directory holds one line of history;
    /// `latest`, `inspect RUNDIR` and `--resume auto` then agree on the new final checkpoint.
    /// (Before: the old epoch-2 and -3 files stayed beside the new ones until overwritten.)
    func testResumingFromAnOlderCheckpointOfItsRunMovesTheNewerOnesIntoSuperseded() throws {
        let data = try tinyData()
        let run = path("run")
        assertSucceeded(try harness.single(train(data, run: run, epochs: 3, ["--keep", "100"])), "the first run")
        let older = Self.checkpoint(epoch: 1, step: 3)
        let newer = [Self.checkpoint(epoch: 2, step: 6), Self.checkpoint(epoch: 3, step: 9)]
        let saved = try newer.map { try Data(contentsOf: URL(fileURLWithPath: run + "/" + $0)) }

        let resumed = try harness.single(train(data, run: run, epochs: 3, ["--keep", "100", "--resume", run + "/" + older]))
        assertEnds(resumed, with: 0, saying: ["resuming from \(run)/\(older)",
                                              "moved 2 file(s) of the earlier branch of this run into \(run)/superseded-"],
                   "resuming from the epoch-1 checkpoint")
        let folders = Self.names(run).filter { $0.hasPrefix("superseded-") }
        XCTAssertEqual(folders.count, 1, "expected one superseded-<time> folder: \(Self.names(run))")
        if let folder = folders.first {
            XCTAssertEqual(Self.names(run + "/" + folder), newer, "the superseded checkpoints")
            for (name, bytes) in zip(newer, saved) {
                XCTAssertEqual(try? Data(contentsOf: URL(fileURLWithPath: run + "/" + folder + "/" + name)), bytes, "\(name) changed when moved")
            }
        }
        XCTAssertEqual(Self.names(run).filter { $0.hasPrefix("ckpt-") }, [older] + newer, "the resumed run's checkpoints")
        XCTAssertEqual(Self.latest(run), newer[1])
        let inspected = try harness.single(["inspect", run])
        XCTAssertEqual(inspected.output.split(separator: "\n").first.map(String.init), "checkpoint \(run)/\(newer[1])", Self.report(inspected))
        let auto = try harness.single(train(data, run: run, epochs: 3, ["--resume", "auto"]))
        assertEnds(auto, with: 0, saying: ["resuming from \(run)/\(newer[1])\n"], "--resume auto")
    }

    // MARK: 3. Output paths

    /// Issue 10 #3: `--step-log` naming a file of the data set exits 64 saying it lies inside the
    /// data directory; every data file stays byte-identical and no run directory is left behind.
    /// (Before: it truncated data_batch_1.bin to the step log's few lines.)
    func testAStepLogPointedAtADataFileIsRefusedAndTheDataStaysByteIdentical() throws {
        let data = try tinyData()
        let before = try Self.tree(data)
        let run = path("run")
        let result = try harness.single(train(data, run: run, ["--step-log", data + "/data_batch_1.bin"]))
        assertEnds(result, with: 64, saying: ["--step-log \(data)/data_batch_1.bin", "inside the data directory"], "--step-log into the data")
        try assertUnchanged(data, since: before, "the data directory")
        XCTAssertFalse(FileManager.default.fileExists(atPath: run), "a refused run left its directory: \(Self.names(run))")
    }

    /// Issue 10 #3 ("output paths never point inside --data"): `--run-dir`, `--dump-state` and
    /// `--step-log` inside the data directory, directly or through a symbolic link to it, each
    /// exit 64 saying so; the data directory stays exactly as it was.
    func testOutputsInsideTheDataDirectoryAreRefused() throws {
        let data = try tinyData()
        let before = try Self.tree(data)
        let link = path("data-link")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: data)
        let cases: [(what: String, arguments: [String], says: String)] = [
            ("--run-dir DATA/run", train(data, run: data + "/run"), "--run-dir \(data)/run"),
            ("--dump-state DATA/dump", train(data, run: path("run1"), ["--dump-state", data + "/dump"]), "--dump-state \(data)/dump"),
            ("--step-log LINK/steps.jsonl", train(data, run: path("run2"), ["--step-log", link + "/steps.jsonl"]), "--step-log \(link)/steps.jsonl"),
        ]
        for c in cases {
            let result = try harness.single(c.arguments)
            assertEnds(result, with: 64, saying: [c.says, "inside the data directory"], c.what)
        }
        try assertUnchanged(data, since: before, "the data directory")
    }

    /// Issue 10 #3: `--step-log` refuses the run directory's own files and any existing file this
    /// run did not create: `RUN/metrics.jsonl` of the run being continued, and a user's
    /// notes file for a new run, exit 64 and leave both byte-identical. (Before: the step log
    /// replaced the epoch metrics, or any file, without a word.)
    func testAStepLogRefusesTheRunDirectorysOwnFilesAndFilesItDidNotCreate() throws {
        let data = try tinyData()
        let run = path("run")
        assertSucceeded(try harness.single(train(data, run: run, epochs: 1)), "the first run")
        let before = try Self.tree(run)

        let own = try harness.single(train(data, run: run, epochs: 1, ["--resume", "auto", "--step-log", run + "/metrics.jsonl"]))
        assertEnds(own, with: 64, saying: ["--step-log \(run)/metrics.jsonl", "one of the run directory's own files"],
                   "--step-log RUN/metrics.jsonl")
        try assertUnchanged(run, since: before, "the run directory")

        let notes = path("notes.txt")
        try Data("my notes\n".utf8).write(to: URL(fileURLWithPath: notes))
        let other = path("other")
        let foreign = try harness.single(train(data, run: other, epochs: 1, ["--step-log", notes]))
        assertEnds(foreign, with: 64, saying: ["--step-log \(notes)", "already exists"], "--step-log onto an existing file")
        XCTAssertEqual(try String(contentsOfFile: notes, encoding: .utf8), "my notes\n", "the notes file was changed")
        XCTAssertFalse(FileManager.default.fileExists(atPath: other), "a refused run left its directory: \(Self.names(other))")
    }

    /// Issue 10 #3: a run's own step log continues on resume. A 2-epoch run (6 steps) logs steps
    /// 0–5; resuming it from its epoch-1 checkpoint with the same `--step-log` keeps the lines of
    /// steps 0–2 unchanged and logs 3–5 again, so the log holds each step once, in order.
    /// (Before: the resumed run appended, and steps 3–5 appeared twice.)
    func testResumingContinuesTheRunsOwnStepLogWithEachStepOnceInOrder() throws {
        let data = try tinyData()
        let run = path("run"), log = path("steps.jsonl")
        assertSucceeded(try harness.single(train(data, run: run, ["--keep", "100", "--step-log", log])), "the first run")
        let first = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(try MPIHarness.jsonLines(log).compactMap { ($0["step"] as? NSNumber)?.intValue }, Array(0..<6))

        let resumed = try harness.single(train(data, run: run, ["--keep", "100", "--step-log", log,
                                                                "--resume", run + "/" + Self.checkpoint(epoch: 1, step: 3)]))
        assertEnds(resumed, with: 0, saying: ["resuming at epoch 2, step 3"], "resuming with the run's own step log")
        let steps = try MPIHarness.jsonLines(log).compactMap { ($0["step"] as? NSNumber)?.intValue }
        XCTAssertEqual(steps, Array(0..<6), "the step log after resuming at step 3 does not hold each step once, in order")
        let after = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(Array(after.prefix(3)), Array(first.prefix(3)), "the lines of steps 0–2 changed")
    }

    /// Issue 10 #3: `--dump-state PREFIX` is checked before training starts: a directory-like
    /// prefix (`DIR/`, or an existing directory), a prefix whose directory does not exist, and a
    /// prefix whose `PREFIX.rank0` already exists each exit 64 naming `--dump-state`, without a
    /// "training" line, without a run directory, and without writing anything (no hidden
    /// `DIR/.rank0`; the existing file unchanged). (Before: `DIR/` wrote a hidden `DIR/.rank0`,
    /// and a missing directory failed only after training.)
    func testDumpStateRefusesADirectoryPrefixAMissingDirectoryAndExistingFilesBeforeTraining() throws {
        let data = try tinyData()
        let dumps = path("dumps")
        try FileManager.default.createDirectory(atPath: dumps, withIntermediateDirectories: true)
        let taken = path("taken")
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: taken + ".rank0"))
        let cases: [(what: String, prefix: String, says: String)] = [
            ("a prefix ending in /", dumps + "/", "not a directory"),
            ("an existing directory", dumps, "not a directory"),
            ("a prefix in a missing directory", path("missing/p"), "does not exist"),
            ("a prefix whose file exists", taken, "already exists"),
        ]
        for (k, c) in cases.enumerated() {
            let run = path("run\(k)")
            let result = try harness.single(train(data, run: run, ["--dump-state", c.prefix]))
            assertEnds(result, with: 64, saying: ["--dump-state", c.says], "--dump-state \(c.what)")
            XCTAssertFalse(result.startedTraining, "--dump-state \(c.what): trained first:\n\(Self.report(result))")
            XCTAssertFalse(FileManager.default.fileExists(atPath: run), "--dump-state \(c.what): left a run directory")
        }
        XCTAssertEqual(Self.names(dumps), [], "something was written into \(dumps)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("missing")))
        XCTAssertEqual(try String(contentsOfFile: taken + ".rank0", encoding: .utf8), "keep me")
    }
}
