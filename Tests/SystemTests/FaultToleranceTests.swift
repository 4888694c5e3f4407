import Foundation
import TestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// End-to-end tests of how a 2-rank job gets through failures (Docs/distributed.md, "Through
/// failures"): a rank SIGKILLed under `Scripts/supervise.sh` (the job ends, the supervisor restarts
/// it with `--resume auto`, and it finishes bitwise equal to an uninterrupted run), a SIGSTOPped
/// rank ended by the step watchdog (`--step-timeout`), a supervisor giving up after its restarts,
/// and SIGTERM to the supervisor (passed on, no restart).
///
/// Every job runs resnet-8 with 4 stem channels on a tiny generated data set with one thread per
/// rank under `mpirun --oversubscribe -np 2`. Jobs that are signalled while they run are
/// `BackgroundJob`s (CheckpointEndToEndTests.swift), bounded by `MPIHarness.timeout` and SIGKILLed
/// with everything they started if a test ends early. The checkpoint writer's test hook
/// (`DDPTRAIN_CHECKPOINT_WRITE_DELAY_MS`) slows every write, so a job is certain to be still
/// training when the test signals it, however fast or loaded the machine. The supervised command
/// goes through a small wrapper script that records each launch's arguments, so the tests see
/// exactly how many times the supervisor ran the command and with which flags.
///
/// Needs a release build (`swift build -c release --product ddptrain` or `DDPTRAIN_BINARY`) and
/// Open MPI; without either every test skips.
final class FaultToleranceTests: SystemTestCase {
    /// Processes this test SIGSTOPped, continued in `tearDown` (before the SIGKILL) just in case.
    var stoppedProcesses: [(job: BackgroundJob, pids: [Int32])] = []

    override func tearDown() {
        for (job, pids) in stoppedProcesses { job.kill(pids, signal: SIGCONT) }
        stoppedProcesses = []
        super.tearDown()
    }

    // MARK: The recipe

    /// resnet-8, 4 stem channels, per-rank batch 8 (global batch 16 on 2 ranks), a cosine schedule
    /// with one epoch of warm-up (the rate changes every step, so a wrongly restored schedule
    /// shows), default momentum, weight decay, crop and flip.
    func train(data: String, run: String, epochs: Int, extra: [String] = []) -> [String] {
        ["train", "--model", "resnet-8", "--stem-channels", "4", "--data", data, "--run-dir", harness.path(run),
         "--epochs", String(epochs), "--batch-size", "8", "--lr", "0.05", "--schedule", "cosine", "--warmup-epochs", "1",
         "--seed", "5", "--threads", "1"] + extra
    }

    /// The test process's environment for mpirun (allowed as root), with the checkpoint writer's
    /// delay hook when `writeDelayMilliseconds` is given.
    func environment(writeDelayMilliseconds: Int? = nil) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        environment["DDPTRAIN_CHECKPOINT_WRITE_DELAY_MS"] = writeDelayMilliseconds.map(String.init)
        return environment
    }

    /// `mpirun --oversubscribe -np 2 ddptrain <arguments>`.
    func mpirunCommand(_ arguments: [String]) -> [String] {
        [harness.mpirun.path, "--oversubscribe", "-np", "2", harness.binary.path] + arguments
    }

    /// `bash Scripts/supervise.sh <options> -- <wrapper> mpirun … ddptrain <arguments>` as
    /// arguments of `bash`; the wrapper appends each launch's arguments to `scratch/attempts` and
    /// execs them (so the supervisor's child is mpirun itself).
    func supervisedCommand(_ options: [String], _ arguments: [String]) throws -> (bash: String, arguments: [String]) {
        let bash = try XCTUnwrap(TestBinaries.findOnPath("bash"), "bash is not on PATH")
        let script = MPIHarness.repository.appendingPathComponent("Scripts/supervise.sh").path
        guard FileManager.default.fileExists(atPath: script) else { throw Failure("no \(script)") }
        let wrapper = harness.path("launch.sh")
        try Data("#!/bin/sh\nprintf '%s\\n' \"$*\" >> '\(attemptsPath)'\nexec \"$@\"\n".utf8)
            .write(to: URL(fileURLWithPath: wrapper))
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: wrapper)
        return (bash.path, [script] + options + ["--", wrapper] + mpirunCommand(arguments))
    }

    var attemptsPath: String { harness.path("attempts") }

    /// The arguments of every launch of the supervised command, one string each.
    func attempts() -> [String] {
        ((try? String(contentsOfFile: attemptsPath, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    func startSupervised(_ options: [String], _ arguments: [String], writeDelayMilliseconds: Int?) throws -> BackgroundJob {
        let (bash, command) = try supervisedCommand(options, arguments)
        return try start(bash, command, writeDelayMilliseconds: writeDelayMilliseconds)
    }

    func startMPI(_ arguments: [String], writeDelayMilliseconds: Int?) throws -> BackgroundJob {
        let command = mpirunCommand(arguments)
        return try start(command[0], Array(command.dropFirst()), writeDelayMilliseconds: writeDelayMilliseconds)
    }

    func start(_ executable: String, _ arguments: [String], writeDelayMilliseconds: Int?) throws -> BackgroundJob {
        try startInBackground(executable, arguments, environment: environment(writeDelayMilliseconds: writeDelayMilliseconds))
    }

    // MARK: Processes and files

    /// The file `latest` in `run` names, if both exist.
    static func latestTarget(_ run: String) -> String? {
        guard let text = try? String(contentsOfFile: run + "/latest", encoding: .utf8) else { return nil }
        let name = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return !name.isEmpty && FileManager.default.fileExists(atPath: run + "/" + name) ? name : nil
    }

    /// The MPI rank of a process started by mpirun (`OMPI_COMM_WORLD_RANK` in its environment).
    static func worldRank(of pid: Int32) -> Int? {
        guard let raw = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/environ")) else { return nil }
        for entry in raw.split(separator: 0) {
            let text = String(decoding: entry, as: UTF8.self)
            if text.hasPrefix("OMPI_COMM_WORLD_RANK=") { return Int(text.dropFirst("OMPI_COMM_WORLD_RANK=".count)) }
        }
        return nil
    }

    /// Live (not zombie) processes anywhere on the machine whose command line has `text` as one
    /// argument and `train` as another: the ranks of a run, whoever their parent is now.
    static func liveTrainers(withArgument text: String) -> [Int32] {
        var found: [Int32] = []
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry),
                  let raw = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(entry)/cmdline")), !raw.isEmpty else { continue }
            let arguments = raw.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            guard arguments.contains(text), arguments.contains("train") else { continue }
            if let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
               let close = stat.lastIndex(of: ")"), stat[stat.index(after: close)...].split(separator: " ").first == "Z" { continue }
            found.append(pid)
        }
        return found.sorted()
    }

    /// Waits (up to 5 s, they may be exiting) until no rank of `run` is alive; fails naming the
    /// ones that are, which `tearDown` then kills.
    static func assertNoTrainerLeft(_ run: String, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        let deadline = Date().addingTimeInterval(5)
        var left = Self.liveTrainers(withArgument: run)
        while !left.isEmpty && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.05)
            left = Self.liveTrainers(withArgument: run)
        }
        XCTAssertEqual(left, [], "\(what): ddptrain processes of the run are still alive", file: file, line: line)
    }

    /// The rank processes of `run` under `job`, by MPI rank (waits until both have started).
    func rankProcesses(of job: BackgroundJob, run: String) throws -> [Int: Int32] {
        var byRank: [Int: Int32] = [:]
        try Self.waitUntil("both rank processes are found", job: job, timeout: 30) {
            byRank = [:]
            for pid in job.ranks(commandContaining: run) {
                if let rank = Self.worldRank(of: pid) { byRank[rank] = pid }
            }
            return byRank.count == 2
        }
        return byRank
    }

    /// Polls `condition` every 20 ms; throws when the job ends first or `timeout` passes.
    static func waitUntil(_ what: String, job: BackgroundJob, timeout: TimeInterval, _ condition: () -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while !condition() {
            if job.hasExited {
                if condition() { return }
                throw Failure("the job ended (status \(job.process.terminationStatus)) before \(what):\n\(Self.tail(job.output))")
            }
            if Date() > deadline {
                throw Failure("waited \(Int(timeout)) s in vain until \(what):\n\(Self.tail(job.output))")
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    static func tail(_ output: String) -> String {
        let plain = output.replacingOccurrences(of: "\u{1B}\\[[0-9;]*[A-Za-z]", with: "", options: .regularExpression)
        return plain.count > 6000 ? "…" + plain.suffix(6000) : plain
    }

    static func report(_ job: BackgroundJob) -> String {
        "$ \(job.command)\n(exit \(job.hasExited ? String(job.process.terminationStatus) : "-, still running"))\n" + tail(job.output)
    }

    static func lines(of output: String, containing text: String) -> [String] {
        output.split(separator: "\n").map(String.init).filter { $0.contains(text) }
    }

    static func capture(_ pattern: String, in text: String) -> String? {
        guard let regex = try? NSRegularExpression(pattern: pattern),
              let match = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)),
              let range = Range(match.range(at: 1), in: text) else { return nil }
        return String(text[range])
    }

    static func seconds(_ t: TimeInterval) -> String { String(format: "%.2f s", t) }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    // MARK: 1. SIGKILL of one rank under the supervisor

    /// 120 images (8 steps of global batch 16 per epoch), 2 epochs, a checkpoint after every step,
    /// each write slowed to ~0.5 s (30 ms × 16 chunks; the next checkpoint waits for it, so a step
    /// takes ≥ 0.5 s), under `supervise.sh --max-restarts 3 --backoff 1`. Once the first checkpoint
    /// exists, rank 1 (not mpirun) gets SIGKILL. mpirun must end the job within 10 s (the
    /// supervisor's "failed" line is the sign), the supervisor must restart it once with
    /// `--resume auto` and report success after 1 restart, and the finished run's state dumps
    /// must equal an uninterrupted run's bit for bit on both ranks. (Its step log may hold the
    /// killed session's last steps twice, so only its final line is compared.)
    func testSigkillOfOneRankEndsTheJobAndTheSupervisorsRestartWithResumeAutoEndsBitwiseEqualToAnUninterruptedRun() throws {
        let data = try harness.writeDataSet("data", training: 120, test: 20)
        func arguments(_ run: String) -> [String] {
            train(data: data, run: run, epochs: 2, extra: [
                "--checkpoint-every-steps", "1",
                "--dump-state", harness.path(run + ".state"), "--step-log", harness.path(run + ".steps"),
            ])
        }
        let straight = try harness.mpi(ranks: 2, arguments("straight"))
        XCTAssertEqual(straight.status, 0, "the uninterrupted run failed:\n\(straight.tail)")

        let run = harness.path("killed")
        let job = try startSupervised(["--max-restarts", "3", "--backoff", "1"], arguments("killed"), writeDelayMilliseconds: 30)
        try Self.waitUntil("the first checkpoint exists", job: job, timeout: 60) { Self.latestTarget(run) != nil }
        let ranks = try rankProcesses(of: job, run: run)
        guard let victim = ranks[1] else { return XCTFail("no rank 1 among \(ranks)") }
        guard !job.hasExited, !job.output.contains("supervise:") else {
            return XCTFail("the job ended or failed before the kill:\n\(Self.report(job))")
        }
        let checkpointAtKill = Self.latestTarget(run) ?? "?"
        let killed = Date()
        job.kill([victim], signal: SIGKILL)
        try Self.waitUntil("the supervisor reports the job's failure", job: job, timeout: 30) {
            job.output.contains("supervise: the command failed")
        }
        let jobEnded = Date().timeIntervalSince(killed)
        XCTAssertFalse(Self.liveTrainers(withArgument: run).contains(ranks[0]!),
                       "rank 0 of the killed session outlived mpirun")
        guard job.wait(timeout: 90) else {
            return XCTFail("the restarted run did not finish within 90 s:\n\(Self.report(job))")
        }
        let output = job.output, status = job.process.terminationStatus
        print("SIGKILL of rank 1 (after \(checkpointAtKill)) → mpirun ended and the supervisor logged it in \(Self.seconds(jobEnded)); "
              + "supervisor done \(Self.seconds(Date().timeIntervalSince(killed))) after the kill")
        XCTAssertLessThan(jobEnded, 10, "mpirun took too long to end the job after a rank died")
        XCTAssertEqual(status, 0, "the supervised run did not succeed:\n\(Self.report(job))")
        XCTAssertTrue(output.contains("supervise: the command succeeded after 1 restart(s)"), Self.report(job))
        let failures = Self.lines(of: output, containing: "supervise: the command failed")
        XCTAssertEqual(failures.count, 1, "expected exactly one restart:\n\(Self.report(job))")
        XCTAssertTrue(failures.first?.contains("restart 1 of 3 in 1 s with --resume auto") ?? false, Self.report(job))
        XCTAssertNotEqual(failures.first.flatMap { Self.capture(#"with status (\d+);"#, in: $0) }, "0")
        let launches = attempts()
        XCTAssertEqual(launches.count, 2, "launches of the command: \(launches)")
        XCTAssertFalse(launches.first?.contains("--resume") ?? true, "the first launch already resumed: \(launches)")
        XCTAssertTrue(launches.last?.hasSuffix(" --resume auto") ?? false, "the restart is not --resume auto: \(launches)")
        XCTAssertTrue(output.contains("resuming from \(run)/ckpt-"), "the restart did not resume from a checkpoint:\n\(Self.report(job))")
        let resumedAt = Self.capture(#"resuming at epoch \d+, step (\d+)"#, in: output).flatMap { Int($0) }
        XCTAssertGreaterThanOrEqual(resumedAt ?? 0, 1, "the restart did not continue mid-run:\n\(Self.report(job))")
        Self.assertNoTrainerLeft(run, "after the supervised run")

        guard status == 0, straight.status == 0 else { return }
        for rank in 0..<2 {
            let resumed = try Data(contentsOf: URL(fileURLWithPath: harness.path("killed.state") + ".rank\(rank)"))
            let uninterrupted = try Data(contentsOf: URL(fileURLWithPath: harness.path("straight.state") + ".rank\(rank)"))
            XCTAssertEqual(resumed, uninterrupted, "rank \(rank): the run killed and restarted by the supervisor does not end "
                           + "bitwise equal to the uninterrupted run")
        }
        let epochs = try MPIHarness.jsonLines(run + "/metrics.jsonl").map { ($0["epoch"] as? NSNumber)?.intValue }
        XCTAssertEqual(epochs, [1, 2], "metrics.jsonl of the restarted run")
        let last = try XCTUnwrap(MPIHarness.jsonLines(harness.path("killed.steps")).last)
        let straightLast = try XCTUnwrap(MPIHarness.jsonLines(harness.path("straight.steps")).last)
        for key in ["step", "lr", "loss"] {
            XCTAssertEqual((last[key] as? NSNumber)?.doubleValue, (straightLast[key] as? NSNumber)?.doubleValue,
                           "the last step-log line's \(key)")
        }
    }

    // MARK: 2. SIGSTOP of one rank and the step watchdog

    /// 200 images (13 steps per epoch), 40 epochs, a checkpoint per epoch slowed to ~0.5 s (so the
    /// job would take ≥ 20 s), `--step-timeout 3`. Once the first checkpoint exists, rank 1 gets
    /// SIGSTOP: rank 0's watchdog must end the job (non-zero) no sooner than 2 s (it measures
    /// from the last step, which may precede the stop by one checkpoint wait) and within 3 s + 6 s
    /// of grace, with an `aborted` event (reason step-timeout) from rank 0 and a message naming
    /// `--step-timeout 3`, and no process of the run may be left (mpirun continues and then kills
    /// the stopped rank).
    func testSigstopOfOneRankIsEndedByTheStepWatchdogWithinTheTimeoutAndLeavesNoProcess() throws {
        let timeout = 3.0, grace = 6.0
        let data = try harness.writeDataSet("data", training: 200, test: 20)
        let run = harness.path("stalled")
        let events = harness.path("stalled.events")
        let job = try startMPI(train(data: data, run: "stalled", epochs: 40, extra: ["--step-timeout", "3", "--events", events]),
                               writeDelayMilliseconds: 30)
        try Self.waitUntil("the first checkpoint exists", job: job, timeout: 60) { Self.latestTarget(run) != nil }
        let ranks = try rankProcesses(of: job, run: run)
        guard let victim = ranks[1] else { return XCTFail("no rank 1 among \(ranks)") }
        guard !job.hasExited else { return XCTFail("the job ended before the stop:\n\(Self.report(job))") }
        stoppedProcesses.append((job, [victim]))
        let stopped = Date()
        job.kill([victim], signal: SIGSTOP)
        let ended = job.wait(timeout: timeout + grace)
        let seconds = Date().timeIntervalSince(stopped)
        guard ended else {
            job.kill([victim], signal: SIGCONT)
            job.killEverything()
            return XCTFail("the job did not end within \(timeout) s + \(grace) s of SIGSTOP to rank 1:\n\(Self.report(job))")
        }
        let output = job.output
        let timeouts = MPIHarness.events(events, "aborted", reason: "step-timeout")
        print("SIGSTOP of rank 1 with --step-timeout 3 → job ended after \(Self.seconds(seconds)), "
              + "exit \(job.process.terminationStatus): "
              + timeouts.map { String(($0["message"] as? String ?? "").prefix(90)) }.joined(separator: " | "))
        XCTAssertNotEqual(job.process.terminationStatus, 0, Self.report(job))
        XCTAssertGreaterThanOrEqual(seconds, timeout - 1, "the job ended before the timeout could have passed:\n\(Self.report(job))")
        XCTAssertFalse(timeouts.isEmpty, "no step-timeout event in \(events):\n\(Self.report(job))")
        XCTAssertTrue(timeouts.contains { $0["rank"] as? Int == 0 && $0["exitStatus"] as? Int == 3 },
                      "rank 0 (the running one) did not report the timeout: \(timeouts)\n\(Self.report(job))")
        XCTAssertTrue(output.contains("--step-timeout 3"), "the message does not name --step-timeout:\n\(Self.report(job))")
        Self.assertNoTrainerLeft(run, "after the watchdog ended the job")
        XCTAssertNotNil(Self.latestTarget(run), "the checkpoint before the stop is gone")
    }

    // MARK: 3. The supervisor gives up

    /// A command that always fails while running (a learning rate of 1e30 makes the loss NaN
    /// on the second step, before any checkpoint: status 1) under `--max-restarts 2 --backoff
    /// 1`: three launches (the last two with `--resume auto`), a logged restart after each of the
    /// first two failures with the doubling delay (1 s, 2 s), then "giving up after 2
    /// restart(s)" and the command's last exit status.
    func testTheSupervisorGivesUpAfterMaxRestartsWithTheCommandsLastExitStatus() throws {
        let data = try harness.writeDataSet("data", training: 40, test: 20)
        var diverging = train(data: data, run: "run", epochs: 1)
        diverging[try XCTUnwrap(diverging.firstIndex(of: "0.05"))] = "1e30"
        let (bash, command) = try supervisedCommand(["--max-restarts", "2", "--backoff", "1"], diverging)
        let result = try harness.launch(bash, command, environment: environment())
        let output = result.output
        print("always-failing command: the supervisor gave up after \(Self.seconds(result.seconds)) (exit \(result.status))")
        XCTAssertNotEqual(result.status, 0, result.tail)
        let givingUp = Self.lines(of: output, containing: "supervise: giving up")
        XCTAssertEqual(givingUp.count, 1, result.tail)
        XCTAssertTrue(givingUp.first?.contains("giving up after 2 restart(s)") ?? false, result.tail)
        let lastStatus = givingUp.first.flatMap { Self.capture(#"last exit status was (\d+)"#, in: $0) }
        XCTAssertEqual(lastStatus, String(result.status), "the supervisor's exit status is not the command's last one:\n\(result.tail)")
        let restarts = Self.lines(of: output, containing: "supervise: the command failed")
        XCTAssertEqual(restarts.count, 2, "expected exactly 2 logged restarts:\n\(result.tail)")
        for (k, (line, delay)) in zip(restarts, [1, 2]).enumerated() {
            XCTAssertTrue(line.contains("restart \(k + 1) of 2 in \(delay) s with --resume auto"), "restart \(k + 1): \(line)")
            XCTAssertNotEqual(Self.capture(#"with status (\d+);"#, in: line), "0", line)
        }
        XCTAssertFalse(output.contains("restart 3"), result.tail)
        XCTAssertGreaterThanOrEqual(result.seconds, 3, "the backoff (1 s, then 2 s) was not waited")
        let launches = attempts()
        XCTAssertEqual(launches.count, 3, "launches of the command: \(launches)")
        XCTAssertFalse(launches.first?.contains("--resume") ?? true, "\(launches)")
        for later in launches.dropFirst() {
            XCTAssertTrue(later.hasSuffix(" --resume auto"), "a restart without --resume auto: \(later)")
            XCTAssertEqual(later.components(separatedBy: "--resume").count, 2, "--resume added more than once: \(later)")
        }
        XCTAssertTrue(output.contains("became NaN or infinite"), "the command's own error is not shown:\n\(result.tail)")
    }

    /// A command that is refused (a data directory that does not exist: status 65, bad input)
    /// is not restarted: a restart cannot help. One launch, "not restarting", the same status.
    func testTheSupervisorDoesNotRestartACommandWhoseInputIsRefused() throws {
        let (bash, command) = try supervisedCommand(["--max-restarts", "2", "--backoff", "1"],
                                                    train(data: harness.path("no-such-data"), run: "run", epochs: 1))
        let result = try harness.launch(bash, command, environment: environment())
        XCTAssertEqual(result.status, 65, result.tail)
        XCTAssertTrue(result.output.contains("not restarting"), result.tail)
        XCTAssertTrue(result.output.contains("no-such-data' does not exist"), "the command's own error is not shown:\n\(result.tail)")
        XCTAssertEqual(attempts().count, 1, "launches of the command: \(attempts())")
    }

    // MARK: 4. SIGTERM to the supervisor

    /// 200 images, 30 epochs, a checkpoint per epoch slowed to ~0.16 s (10 ms × 16 chunks, so the
    /// job would take ≥ 4.8 s), under the supervisor. After the first checkpoint, SIGTERM goes to
    /// the supervisor itself: as documented it must pass the signal on and not restart — one
    /// launch, "stopped by a signal (status N); not restarting", its exit status N the command's
    /// — and end within 15 s with no rank left. What happens to the ranks is mpirun's doing:
    /// Open MPI 4.1 answers SIGTERM with SIGCONT to the ranks, SIGTERM 1 s later (ddptrain's
    /// graceful stop), SIGKILL 1 s after that (odls_base_sigkill_timeout), and exits 1 whatever
    /// the ranks did; the test prints what it saw. Either way the run directory must then resume
    /// (`--resume auto`, unsupervised) to the end.
    func testSigtermToTheSupervisorIsPassedOnAndEndsSupervisionWithoutARestart() throws {
        let epochs = 30
        let data = try harness.writeDataSet("data", training: 200, test: 20)
        let run = harness.path("run")
        let job = try startSupervised(["--max-restarts", "3", "--backoff", "1"], train(data: data, run: "run", epochs: epochs),
                                      writeDelayMilliseconds: 10)
        try Self.waitUntil("the first checkpoint exists", job: job, timeout: 60) { Self.latestTarget(run) != nil }
        _ = try rankProcesses(of: job, run: run)
        Thread.sleep(forTimeInterval: 0.3)
        guard !job.hasExited, !job.output.contains("supervise:") else {
            return XCTFail("the job ended or failed before the signal:\n\(Self.report(job))")
        }
        guard let seconds = job.signalAndWait([job.process.processIdentifier], signal: SIGTERM, timeout: 15) else {
            return XCTFail("the supervisor did not end within 15 s of SIGTERM:\n\(Self.report(job))")
        }
        let output = job.output, status = job.process.terminationStatus
        let inspected = try harness.single(["inspect", run])
        let newest = inspected.output.split(separator: "\n").prefix(2).joined(separator: " ")
        print("SIGTERM to the supervisor → it exited \(status) after \(Self.seconds(seconds)); ranks saying 'received signal 15': "
              + "\(Self.lines(of: output, containing: "received signal 15").count), graceful stop completed: "
              + "\(output.contains("stopped at epoch")), newest checkpoint: \(newest)")

        XCTAssertEqual(attempts().count, 1, "the command was launched again after SIGTERM: \(attempts())")
        XCTAssertFalse(output.contains("restart 1"), "the supervisor restarted after SIGTERM:\n\(Self.report(job))")
        if status != 0 {
            let stopped = Self.lines(of: output, containing: "supervise: stopped by a signal")
            XCTAssertEqual(stopped.count, 1, "no 'stopped by a signal' line:\n\(Self.report(job))")
            XCTAssertTrue(stopped.first?.contains("not restarting") ?? false, Self.report(job))
            XCTAssertEqual(stopped.first.flatMap { Self.capture(#"\(status (\d+)\)"#, in: $0) }, String(status),
                           "the supervisor's exit status is not the command's:\n\(Self.report(job))")
        } else {
            // The command itself exited 0 (an mpirun that waits for its ranks' clean stop).
            XCTAssertTrue(output.contains("stopped at epoch"), Self.report(job))
        }
        Self.assertNoTrainerLeft(run, "after SIGTERM to the supervisor")

        XCTAssertEqual(inspected.status, 0, "the newest checkpoint after the stop does not verify:\n\(inspected.tail)")
        let resumed = try harness.mpi(ranks: 2, train(data: data, run: "run", epochs: epochs, extra: ["--resume", "auto"]))
        XCTAssertEqual(resumed.status, 0, "--resume auto after the stop failed:\n\(resumed.tail)")
        XCTAssertTrue(resumed.output.contains("resuming from \(run)/ckpt-"), resumed.tail)
        let lines = try MPIHarness.jsonLines(run + "/metrics.jsonl").map { ($0["epoch"] as? NSNumber)?.intValue }
        XCTAssertEqual(lines, Array(1...epochs), "metrics.jsonl after resuming")
    }
}
