import Foundation
import TestSupport
import XCTest

/// `Cluster/ddptrain.slurm` on a real SLURM: the private one-node cluster of
/// `Cluster/testing/local-slurm.sh` (its own munged, slurmctld and slurmd on 127.0.0.1, state under
/// /tmp/ddpt-slurm). The batch script is submitted with `sbatch` exactly as documented (2 ranks
/// started by `srun --mpi=pmix`, `--resume auto` added by the script), once straight through and
/// once requeued with `scontrol requeue` while it trains; the requeued job must start again,
/// continue from its last checkpoint and end bitwise equal to the uninterrupted one.
///
/// Needs root and SLURM + MUNGE (`apt-get install -y slurm-wlm munge`), the release binary and
/// Open MPI. When `local-slurm.sh up` exits with status 3 (not root, SLURM or MUNGE missing) the
/// test skips with the script's message; any other failure of `up` fails it. Every command and
/// every wait has a timeout, and `tearDown` always runs `down` once `up` succeeded (which cancels
/// the jobs and stops the daemons). It takes about 25 s, most of it the requeued job waiting to
/// be started again (the cluster's `cred_expire=5` plus the scheduler's 1–2 s cycle).
final class SlurmTests: SimulatorTestCase {
    override class var simulator: String { "local-slurm.sh" }
    override class var simulated: String { "a private SLURM cluster" }

    static let batchScript = MPIHarness.repository.appendingPathComponent("Cluster/ddptrain.slurm").path
    /// `local-slurm.sh`'s default state directory and the configuration it writes there.
    static let slurmConf = "/tmp/ddpt-slurm/etc/slurm.conf"

    override func setUpWithError() throws {
        try super.setUpWithError()
        guard FileManager.default.isExecutableFile(atPath: Self.batchScript) else {
            throw XCTSkip("\(Self.batchScript) is missing or not executable")
        }
        try bringUp()
    }

    typealias Failure = SimulatorError

    // MARK: Commands

    /// The test's environment without anything that would make a command think it runs inside an
    /// MPI or SLURM job, plus the private cluster's configuration and `extra`.
    func environment(_ extra: [String: String] = [:]) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        for key in environment.keys where key.hasPrefix("OMPI_") || key.hasPrefix("PMIX_") || key.hasPrefix("SLURM_")
            || key.hasPrefix("SBATCH_") || key.hasPrefix("SRUN_") { environment[key] = nil }
        environment["SLURM_CONF"] = Self.slurmConf
        environment["DDPT_SLURM_CPUS"] = "2"   // the job's 2 ranks × 1 CPU fit even on a 1-core machine
        environment.merge(extra) { _, new in new }
        return environment
    }

    /// `local-slurm.sh`'s commands run with the SLURM environment.
    override func simulatorEnvironment() -> [String: String] { environment() }

    /// A SLURM client command (`sbatch`, `scontrol`, …) on the private cluster.
    func slurm(_ command: String, _ arguments: [String], environment extra: [String: String] = [:]) throws -> MPIHarness.Result {
        guard let executable = TestBinaries.findOnPath(command) else { throw Failure("\(command) is not on PATH") }
        return try harness.launch(executable.path, arguments, environment: environment(extra))
    }

    /// The recipe (FaultToleranceTests' 2-rank one): resnet-8 with 4 stem channels, batch 8 per
    /// rank, a cosine schedule with one epoch of warm-up, a checkpoint after every step, and the
    /// final state dumped. These are `ddptrain train` flags: the batch script adds --data,
    /// --run-dir, --threads and --resume auto.
    func trainFlags(_ name: String) -> [String] {
        ["--model", "resnet-8", "--stem-channels", "4", "--epochs", "2", "--batch-size", "8", "--lr", "0.05",
         "--schedule", "cosine", "--warmup-epochs", "1", "--seed", "5", "--checkpoint-every-steps", "1",
         "--dump-state", harness.path(name + ".state"), "--step-log", harness.path(name + ".steps")]
    }

    /// `sbatch Cluster/ddptrain.slurm` on one node, 2 ranks × 1 CPU, run directory `scratch/name`,
    /// log `scratch/name.out`; returns the job id.
    func submit(_ name: String, data: String, environment extra: [String: String] = [:]) throws -> String {
        let settings = ["DDPTRAIN": harness.binary.path, "DATA": data, "RUN_DIR": harness.path(name)].merging(extra) { _, new in new }
        let result = try slurm("sbatch", ["--parsable", "--export=ALL", "--job-name=ddpt-\(name)", "--nodes=1", "--ntasks-per-node=2",
                                          "--cpus-per-task=1", "--time=5", "--output=\(harness.path(name + ".out"))",
                                          Self.batchScript] + trainFlags(name), environment: settings)
        let id = result.output.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ";").first.map(String.init) ?? ""
        guard result.status == 0, !id.isEmpty, id.allSatisfy(\.isNumber) else { throw Failure("sbatch failed:\n\(result.tail)") }
        return id
    }

    struct JobState {
        var state: String
        var restarts: Int
        var exitCode: String
        var line: String
        var isFinished: Bool {
            ["COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED", "BOOT_FAIL", "DEADLINE"]
                .contains(state)
        }
    }

    /// `scontrol show job -o ID`: state, restart count and exit code.
    func job(_ id: String) throws -> JobState {
        let result = try slurm("scontrol", ["show", "job", "-o", id])
        guard result.status == 0 else { throw Failure("scontrol show job \(id) failed:\n\(result.tail)") }
        func field(_ name: String) -> String? { FaultToleranceTests.capture(name + #"=(\S+)"#, in: result.output) }
        return JobState(state: field("JobState") ?? "?", restarts: field("Restarts").flatMap { Int($0) } ?? -1,
                        exitCode: field("ExitCode") ?? "?", line: result.output.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Polls every 0.2 s until `condition` holds for the job's state; throws after `timeout` with
    /// the state and the job's log.
    @discardableResult
    func waitForJob(_ id: String, _ what: String, log: String, timeout: TimeInterval,
                    _ condition: (JobState) -> Bool) throws -> JobState {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let state = try job(id)
            if condition(state) { return state }
            if Date() > deadline {
                throw Failure("waited \(Int(timeout)) s in vain until \(what); job \(id): \(state.line)\n\(Self.show(log))")
            }
            Thread.sleep(forTimeInterval: 0.2)
        }
    }

    /// The whole of a job's log.
    static func read(_ path: String) -> String {
        (try? String(contentsOfFile: path, encoding: .utf8)) ?? "(no \(path))"
    }

    /// The end of a job's log, for failure messages.
    static func show(_ path: String) -> String { FaultToleranceTests.tail(read(path)) }

    static func valueHash(_ inspected: MPIHarness.Result) -> String? {
        FaultToleranceTests.capture(#"value hash ([0-9a-f]+)"#, in: inspected.output)
    }

    // MARK: The tests

    /// `scontrol requeue` while the job trains: SLURM ends the job (SIGTERM to every process of
    /// it: the ranks finish their step and checkpoint) and queues it again; the script's
    /// `--resume auto` continues from the newest checkpoint.
    func testScontrolRequeueMidRunResumesFromTheLastCheckpointAndEndsBitwiseEqualToAnUninterruptedJob() throws {
        try interruptedJobEndsLikeAStraightOne(
            "requeued", interruption: "scontrol requeue", command: ("scontrol", ["requeue"]),
            logLines: ["DUE TO JOB REQUEUE"])
    }

    /// The script's own stop before the time limit (`#SBATCH --signal=B:USR1@120`), triggered at
    /// once with `scancel --batch --signal=USR1` instead of waiting for a time limit (SLURM checks
    /// limits only every 30 s or so): the batch shell sends SIGTERM to the ranks, they finish the
    /// step, rank 0 checkpoints, the step exits 0 and the script runs `scontrol requeue` itself.
    func testTheScriptsStopSignalCheckpointsRequeuesTheJobItselfAndItResumesBitwiseEqualToAnUninterruptedJob() throws {
        try interruptedJobEndsLikeAStraightOne(
            "stopped", interruption: "scancel --batch --signal=USR1", command: ("scancel", ["--batch", "--signal=USR1"]),
            logLines: ["time limit near: asking the ranks to stop", "stopped at epoch 1, step",
                       "stopped for the time limit (exit 75); requeueing"])
    }

    /// 200 images (13 steps of global batch 16 per epoch), 2 epochs, a checkpoint after every step.
    /// First the straight job, submitted with `sbatch Cluster/ddptrain.slurm`, must complete
    /// (exit 0, no restart). Then the same job with every checkpoint write slowed to ~0.5 s (the
    /// writer's test hook, exported to the ranks by `--export=ALL`), so it trains for ≥ 13 s: once
    /// its first checkpoint exists, `command JOBID` interrupts it. It must start a second time
    /// (`Restarts=1`, the script logs "start 2"), resume from a checkpoint mid-run through the
    /// script's `--resume auto`, complete with exit 0, and end with bitwise the state (both ranks),
    /// final checkpoint (`inspect`'s value hash), last step-log line and per-epoch metrics of the
    /// straight job; its log must hold `logLines`, and no rank may be left running.
    func interruptedJobEndsLikeAStraightOne(_ name: String, interruption: String, command: (String, [String]),
                                            logLines: [String]) throws {
        let data = try harness.writeDataSet("data", training: 200, test: 20)
        let started = Date()

        let straightLog = harness.path("straight.out")
        let straight = try submit("straight", data: data)
        let straightEnd = try waitForJob(straight, "the straight job finished", log: straightLog, timeout: 60) { $0.isFinished }
        let straightSeconds = Date().timeIntervalSince(started)
        XCTAssertEqual(straightEnd.state, "COMPLETED", "the straight job: \(straightEnd.line)\n\(Self.show(straightLog))")
        XCTAssertEqual(straightEnd.exitCode, "0:0", Self.show(straightLog))
        XCTAssertEqual(straightEnd.restarts, 0, straightEnd.line)
        guard straightEnd.state == "COMPLETED" else { return }

        let run = harness.path(name), log = harness.path(name + ".out")
        let id = try submit(name, data: data, environment: ["DDPTRAIN_CHECKPOINT_WRITE_DELAY_MS": "30"])
        let deadline = Date().addingTimeInterval(60)
        while FaultToleranceTests.latestTarget(run) == nil {
            let state = try job(id)
            if state.isFinished { throw Failure("the job ended before its first checkpoint: \(state.line)\n\(Self.show(log))") }
            if Date() > deadline { throw Failure("no checkpoint within 60 s: \(state.line)\n\(Self.show(log))") }
            Thread.sleep(forTimeInterval: 0.1)
        }
        let checkpointAtInterruption = FaultToleranceTests.latestTarget(run) ?? "?"
        let before = try job(id)
        XCTAssertEqual(before.state, "RUNNING", "the job is not running at the \(interruption): \(before.line)")
        XCTAssertFalse(Self.read(log).contains("training ended"), "the job finished before the \(interruption):\n\(Self.show(log))")
        let interruptedAt = Date()
        let interrupt = try slurm(command.0, command.1 + [id])
        XCTAssertEqual(interrupt.status, 0, "\(interruption) failed:\n\(interrupt.tail)")
        guard interrupt.status == 0 else { return }

        try waitForJob(id, "the job runs again after the \(interruption)", log: log, timeout: 45) {
            $0.restarts >= 1 && ($0.state == "RUNNING" || $0.isFinished)
        }
        let restartedAfter = Date().timeIntervalSince(interruptedAt)
        let end = try waitForJob(id, "the restarted job finished", log: log, timeout: 60) { $0.isFinished }
        let output = Self.read(log), shown = Self.show(log)
        print("sbatch Cluster/ddptrain.slurm: straight job done in \(FaultToleranceTests.seconds(straightSeconds)); "
              + "\(interruption) after \(checkpointAtInterruption) → running again after \(FaultToleranceTests.seconds(restartedAfter)), "
              + "\(end.state) \(FaultToleranceTests.seconds(Date().timeIntervalSince(interruptedAt))) after the \(interruption); "
              + (FaultToleranceTests.lines(of: output, containing: "resuming at epoch").first.map {
                    String($0.suffix(from: $0.range(of: "resuming at")!.lowerBound)) } ?? "no resume line"))

        XCTAssertEqual(end.state, "COMPLETED", "the interrupted job: \(end.line)\n\(shown)")
        XCTAssertEqual(end.exitCode, "0:0", shown)
        XCTAssertEqual(end.restarts, 1, "expected exactly one requeue: \(end.line)")
        XCTAssertTrue(output.contains("(start 1)") && output.contains("(start 2)"),
                      "the batch script's log does not show two starts (--open-mode=append):\n\(shown)")
        for line in logLines {
            XCTAssertTrue(output.contains(line), "no '\(line)' in the log:\n\(shown)")
        }
        XCTAssertTrue(output.contains("resuming from \(run)/ckpt-"), "the second start did not resume from a checkpoint:\n\(shown)")
        let resumedAt = FaultToleranceTests.capture(#"resuming at epoch \d+, step (\d+)"#, in: output).flatMap { Int($0) }
        XCTAssertGreaterThanOrEqual(resumedAt ?? 0, 1, "the second start did not continue mid-run:\n\(shown)")
        XCTAssertLessThan(resumedAt ?? 26, 26, "the second start resumed from the end, so the \(interruption) came too late:\n\(shown)")
        XCTAssertEqual(FaultToleranceTests.liveTrainers(withArgument: run), [], "ranks of the interrupted job are still alive")
        guard end.state == "COMPLETED" else { return }

        for rank in 0..<2 {
            let resumed = try Data(contentsOf: URL(fileURLWithPath: harness.path(name + ".state") + ".rank\(rank)"))
            let uninterrupted = try Data(contentsOf: URL(fileURLWithPath: harness.path("straight.state") + ".rank\(rank)"))
            XCTAssertEqual(resumed, uninterrupted, "rank \(rank): the interrupted job does not end bitwise equal to the straight one")
        }
        let inspectedStraight = try harness.single(["inspect", harness.path("straight")])
        let inspectedResumed = try harness.single(["inspect", run])
        XCTAssertEqual(inspectedStraight.status, 0, inspectedStraight.tail)
        XCTAssertEqual(inspectedResumed.status, 0, inspectedResumed.tail)
        XCTAssertNotNil(Self.valueHash(inspectedResumed), inspectedResumed.tail)
        XCTAssertEqual(Self.valueHash(inspectedResumed), Self.valueHash(inspectedStraight),
                       "the final checkpoints' tensors differ (inspect's value hash)")
        let epochs = try MPIHarness.jsonLines(run + "/metrics.jsonl").map { ($0["epoch"] as? NSNumber)?.intValue }
        XCTAssertEqual(epochs, [1, 2], "metrics.jsonl of the interrupted job")
        let last = try XCTUnwrap(MPIHarness.jsonLines(harness.path(name + ".steps")).last)
        let straightLast = try XCTUnwrap(MPIHarness.jsonLines(harness.path("straight.steps")).last)
        for key in ["step", "lr", "loss"] {
            XCTAssertEqual((last[key] as? NSNumber)?.doubleValue, (straightLast[key] as? NSNumber)?.doubleValue,
                           "the last step-log line's \(key)")
        }
    }
}
