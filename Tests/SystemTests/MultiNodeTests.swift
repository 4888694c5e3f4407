import Foundation
import TestSupport
import XCTest

/// Multi-node training on the simulated cluster of `Cluster/testing/local-cluster.sh`: two or three network
/// namespaces (`ddpt-node1`, `ddpt-node2`, …) joined by veth links and a bridge, one rank in each,
/// launched by `mpirun` through the `Cluster/testing/netns-rsh` agent and talking over TCP only
/// (`--mca btl tcp,self` on 10.77.0.0/24). The result must equal the same job on one node under a
/// plain `mpirun -np N` (shared memory).
///
/// Needs root, network namespaces (`ip netns add`), the release binary and Open MPI. When the
/// harness cannot create namespaces here (not root, no `ip`, a sandbox that forbids them:
/// `local-cluster.sh up` exits with status 3) the test skips with the harness's message; any other
/// failure of `up` fails the test. Each test brings up the nodes it needs. Every launch has the hard timeout of `MPIHarness.timeout`, and
/// the cluster is always brought down in `tearDown`, after a failure too.
///
/// Another test cuts one node off the network mid-run under `Scripts/supervise.sh`: the job must
/// abort rather than hang, the supervisor's restarts must show, and once the link is back the run
/// must finish bitwise equal to an uninterrupted one.
final class MultiNodeTests: SimulatorTestCase {
    override class var simulator: String { "local-cluster.sh" }
    override class var simulated: String { "the simulated cluster" }

    /// `local-cluster.sh up <nodes>`; skips the test when the machine cannot host the cluster.
    func bringUp(_ nodes: Int) throws { try bringUp([String(nodes)]) }

    /// Bytes that passed through the root-namespace end of node `i`'s link so far (into and out of
    /// the node), read from the kernel's interface counters.
    func linkBytes(node i: Int) -> (intoNode: Int, outOfNode: Int)? {
        func counter(_ name: String) -> Int? {
            (try? String(contentsOfFile: "/sys/class/net/ddpt-v\(i)/statistics/\(name)", encoding: .utf8))
                .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        guard let tx = counter("tx_bytes"), let rx = counter("rx_bytes") else { return nil }
        return (tx, rx)
    }

    /// The tests' training command: resnet-8 with 4 stem channels, 1 epoch, batch 8 per rank, 1 thread.
    func trainArguments(data: String, name: String) -> [String] {
        ["train", "--model", "resnet-8", "--stem-channels", "4", "--epochs", "1", "--batch-size", "8", "--threads", "1",
         "--schedule", "constant", "--seed", "3", "--data", data, "--run-dir", harness.path(name),
         "--dump-state", harness.path("\(name).state"), "--step-log", harness.path("\(name).steps"), "--no-checkpoints"]
    }

    /// One rank on each of two simulated nodes, over TCP through the veth links and the bridge,
    /// ends with bit-for-bit the parameters, batch-norm buffers and per-step losses of the same
    /// 2-rank job under a plain `mpirun -np 2` on one node (shared-memory transport).
    ///
    /// Bitwise, not merely within DistributedTrainingTests' tolerance: with two ranks every
    /// all-reduced element is the sum of exactly two addends, and float addition is commutative, so
    /// neither the transport nor the collective algorithm can change a bit. Measured: identical.
    func testTwoSimulatedNodesOverTCPMatchTwoRanksOnOneNodeBitForBit() throws {
        try assertSimulatedNodesMatchOneNode(2)
    }

    /// The same with three nodes, one rank each. With three addends the order of the sums could
    /// differ between collective algorithms, but Open MPI picks its all-reduce algorithm from the
    /// communicator size and the message size, not the transport, so the two runs add in the same
    /// order and must still agree bit for bit (measured: identical).
    func testThreeSimulatedNodesOverTCPMatchThreeRanksOnOneNodeBitForBit() throws {
        try assertSimulatedNodesMatchOneNode(3)
    }

    /// Trains the brief's recipe on `nodes` simulated nodes (one rank each, TCP only) and under a
    /// plain `mpirun -np <nodes>` on one node, and requires the same placement, real traffic on every
    /// link, and bit-for-bit equal step logs and final states.
    func assertSimulatedNodesMatchOneNode(_ nodes: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        try bringUp(nodes)
        // 24·nodes images in global batches of nodes × 8: 3 optimizer steps.
        let steps = 3
        let data = try harness.writeDataSet("data", training: 24 * nodes, test: 16)

        let before = (1...nodes).map { linkBytes(node: $0) }
        let simulated = try cluster(["run", "--display-map", "--", harness.binary.path] + trainArguments(data: data, name: "nodes"))
        let after = (1...nodes).map { linkBytes(node: $0) }
        XCTAssertEqual(simulated.status, 0, "training on \(nodes) simulated nodes failed:\n\(simulated.tail)", file: file, line: line)

        let plain = try harness.mpi(ranks: nodes, trainArguments(data: data, name: "plain"))
        XCTAssertEqual(plain.status, 0, "training under plain mpirun -np \(nodes) failed:\n\(plain.tail)", file: file, line: line)
        guard simulated.status == 0 && plain.status == 0 else { return }

        // Placement: one rank on each node (mpirun --display-map).
        for node in (1...nodes).map({ "node\($0)" }) {
            XCTAssertTrue(simulated.output.contains("Data for node: \(node)\tNum slots: 1\tMax slots: 0\tNum procs: 1"),
                          "\(node) does not hold exactly one rank:\n\(simulated.tail)", file: file, line: line)
        }

        // The ranks really talked through the links: every step all-reduces the full gradient
        // (5006 floats), which crosses each node's link in both directions (a ring or
        // recursive-doubling all-reduce moves at least (n-1)/n of it each way per node). Launch and
        // control messages alone are a few kB, so at least a third of the gradient bytes of every
        // step must show.
        let parameters = try XCTUnwrap(MPIHarness.parameterCount(runDirectory: harness.path("nodes")), "no readable config.json in the run directory")
        let minimum = steps * parameters * 4 / 3
        for i in 0..<nodes {
            guard let start = before[i], let end = after[i] else {
                XCTFail("no interface counters for ddpt-v\(i + 1)", file: file, line: line); continue
            }
            let into = end.intoNode - start.intoNode, out = end.outOfNode - start.outOfNode
            XCTAssertGreaterThanOrEqual(into, minimum, "node\(i + 1) received only \(into) bytes over its link", file: file, line: line)
            XCTAssertGreaterThanOrEqual(out, minimum, "node\(i + 1) sent only \(out) bytes over its link", file: file, line: line)
        }

        // Same optimizer steps, same learning rates, same global losses, to the last digit.
        let nodeSteps = try String(contentsOfFile: harness.path("nodes.steps"), encoding: .utf8)
        let plainSteps = try String(contentsOfFile: harness.path("plain.steps"), encoding: .utf8)
        XCTAssertEqual(nodeSteps.split(separator: "\n").count, steps, "steps logged on the simulated nodes:\n\(nodeSteps)",
                       file: file, line: line)
        XCTAssertEqual(nodeSteps, plainSteps, "per-step lr/loss differ between \(nodes) nodes over TCP and \(nodes) ranks on one node",
                       file: file, line: line)

        // Final parameters and buffers: every rank identical, and identical to the one-node run.
        let first = try Data(contentsOf: URL(fileURLWithPath: harness.path("nodes.state.rank0")))
        for rank in 0..<nodes {
            let overTCP = try MPIHarness.floats(harness.path("nodes.state.rank\(rank)"))
            let oneNode = try MPIHarness.floats(harness.path("plain.state.rank\(rank)"))
            XCTAssertEqual(overTCP.count, oneNode.count, "rank \(rank): state sizes differ", file: file, line: line)
            guard overTCP.count == oneNode.count else { continue }
            let differing = zip(overTCP, oneNode).filter { $0.bitPattern != $1.bitPattern }.count
            if differing > 0 {
                // Say how far apart they are, in the units of the single-process equivalence tolerance.
                let worst = DistributedTrainingTests.worstDeviation(oneNode[...], overTCP[...])
                XCTFail("rank \(rank): \(differing) of \(oneNode.count) floats differ between \(nodes) nodes over TCP and \(nodes) ranks "
                        + "on one node; worst element \(worst.index): \(oneNode[worst.index]) vs \(overTCP[worst.index]) "
                        + "(\(worst.ratio)× DistributedTrainingTests' element tolerance)", file: file, line: line)
            }
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: harness.path("nodes.state.rank\(rank)"))), first,
                           "simulated node \(rank + 1) ends with other parameters than node 1", file: file, line: line)
        }
    }

    // MARK: A node cut off mid-run

    /// resnet-8 (4 stem channels) on 120 images, 2 epochs of 8 steps, a checkpoint after every
    /// step, each write slowed to ~0.5 s (so the job is still training when the link goes down),
    /// `--step-timeout 3`, one rank on each of two simulated nodes, under
    /// `supervise.sh --max-restarts 3 --backoff 1 --hang-grace 5 --start-timeout 15`.
    ///
    /// Once the first checkpoint exists, node2's link goes down (`local-cluster.sh cut node2`, a
    /// partition: no packet crosses, nobody is told). Then:
    /// 1. the job must abort rather than hang: rank 0's step watchdog ends it, and the supervisor
    ///    logs the failure within 3 s + 5 s hang grace + 7 s of slack of the cut (Open MPI's mpirun
    ///    keeps waiting for node2's daemon after the abort; the supervisor kills it after the grace);
    /// 2. the supervisor's first restart, with node2 still unreachable, hangs in Open MPI's launch,
    ///    and must be killed by `--start-timeout` and followed by a second logged restart;
    /// 3. the test then restores the link; the second restart resumes from the newest checkpoint
    ///    (`--resume auto`) and must finish with the supervisor reporting success after 2 restarts,
    ///    with parameters, batch-norm buffers and the last step's lr/loss bit-for-bit equal to an
    ///    uninterrupted 2-rank run's (plain `mpirun -np 2`: the first test shows the transport
    ///    changes no bit), and no rank process of the run left anywhere.
    func testACutOffNodeAbortsTheJobAndTheSupervisorRestartsUntilTheLinkIsBackThenTheRunEndsBitwiseEqual() throws {
        try bringUp(2)
        let data = try harness.writeDataSet("data", training: 120, test: 20)
        func arguments(_ name: String) -> [String] {
            ["train", "--model", "resnet-8", "--stem-channels", "4", "--data", data, "--run-dir", harness.path(name),
             "--epochs", "2", "--batch-size", "8", "--lr", "0.05", "--schedule", "cosine", "--warmup-epochs", "1",
             "--seed", "5", "--threads", "1", "--checkpoint-every-steps", "1", "--step-timeout", "3",
             "--dump-state", harness.path(name + ".state"), "--step-log", harness.path(name + ".steps"),
             "--events", harness.path(name + ".events")]
        }
        let straight = try harness.mpi(ranks: 2, arguments("straight"))
        XCTAssertEqual(straight.status, 0, "the uninterrupted run failed:\n\(straight.tail)")

        let bash = try XCTUnwrap(TestBinaries.findOnPath("bash"), "bash is not on PATH")
        let supervisor = MPIHarness.repository.appendingPathComponent("Scripts/supervise.sh").path
        var environment = MPIHarness.singleProcessEnvironment
        environment["DDPTRAIN_CHECKPOINT_WRITE_DELAY_MS"] = "30"
        let run = harness.path("cut")
        let job = try startInBackground(
            bash.path,
            [supervisor, "--max-restarts", "3", "--backoff", "1", "--hang-grace", "5", "--start-timeout", "15", "--",
             bash.path, Self.script, "run", "--", harness.binary.path] + arguments("cut"),
            environment: environment)
        func waitFor(_ what: String, timeout: TimeInterval, _ condition: () -> Bool) throws {
            try FaultToleranceTests.waitUntil(what, job: job, timeout: timeout, condition)
        }
        try waitFor("the first checkpoint exists", timeout: 60) { FaultToleranceTests.latestTarget(run) != nil }
        guard !job.output.contains("supervise:") else {
            return XCTFail("the job failed before the cut:\n\(FaultToleranceTests.report(job))")
        }
        let checkpointAtCut = FaultToleranceTests.latestTarget(run) ?? "?"
        let cut = try cluster(["cut", "node2"])
        let cutAt = Date()
        XCTAssertEqual(cut.status, 0, "`local-cluster.sh cut node2` failed:\n\(cut.tail)")
        guard cut.status == 0 else { return }
        var linkRestored = false
        defer { if !linkRestored { _ = try? cluster(["restore", "node2"]) } }

        // 1. Abort, not hang.
        try waitFor("the supervisor reports the first failure", timeout: 60) { job.output.contains("restart 1 of 3") }
        let aborted = Date().timeIntervalSince(cutAt)
        // 2. The first restart cannot reach node2 and is ended by --start-timeout.
        try waitFor("the second restart is logged", timeout: 60) { job.output.contains("restart 2 of 3") }
        let secondRestart = Date().timeIntervalSince(cutAt)
        let restore = try cluster(["restore", "node2"])
        linkRestored = restore.status == 0
        XCTAssertEqual(restore.status, 0, "`local-cluster.sh restore node2` failed:\n\(restore.tail)")
        // 3. The run finishes.
        guard job.wait(timeout: 90) else {
            return XCTFail("the run did not finish within 90 s of the link's return:\n\(FaultToleranceTests.report(job))")
        }
        let output = job.output, status = job.process.terminationStatus
        print("node2 cut off after \(checkpointAtCut): the supervisor logged the failure \(FaultToleranceTests.seconds(aborted)) "
              + "after the cut and its second restart \(FaultToleranceTests.seconds(secondRestart)) after it; link restored then; "
              + "run finished \(FaultToleranceTests.seconds(Date().timeIntervalSince(cutAt))) after the cut (exit \(status))")
        XCTAssertLessThan(aborted, 3 + 5 + 7, "the job was not ended promptly after node2 was cut off:\n\(FaultToleranceTests.report(job))")
        XCTAssertFalse(MPIHarness.events(harness.path("cut.events"), "aborted", reason: "step-timeout").isEmpty,
                       "no step-timeout event:\n\(FaultToleranceTests.report(job))")
        XCTAssertTrue(output.contains("supervise: the command has not started training after 15 s"),
                      "the restart onto the cut-off node was not ended by --start-timeout:\n\(FaultToleranceTests.report(job))")
        let failures = FaultToleranceTests.lines(of: output, containing: "supervise: the command failed")
        XCTAssertEqual(failures.count, 2, "expected exactly two restarts:\n\(FaultToleranceTests.report(job))")
        for (k, line) in failures.enumerated() {
            XCTAssertTrue(line.contains("restart \(k + 1) of 3 in \(1 << k) s with --resume auto"), line)
        }
        XCTAssertEqual(status, 0, "the supervised run did not succeed:\n\(FaultToleranceTests.report(job))")
        XCTAssertTrue(output.contains("supervise: the command succeeded after 2 restart(s)"), FaultToleranceTests.report(job))
        XCTAssertTrue(output.contains("resuming from \(run)/ckpt-"), "the restart did not resume from a checkpoint:\n\(FaultToleranceTests.report(job))")
        FaultToleranceTests.assertNoTrainerLeft(run, "after the supervised run")

        guard status == 0, straight.status == 0 else { return }
        for rank in 0..<2 {
            let resumed = try Data(contentsOf: URL(fileURLWithPath: harness.path("cut.state.rank\(rank)")))
            let uninterrupted = try Data(contentsOf: URL(fileURLWithPath: harness.path("straight.state.rank\(rank)")))
            XCTAssertEqual(resumed, uninterrupted, "rank \(rank): the run that lost node2 and was restarted does not end "
                           + "bitwise equal to the uninterrupted run")
        }
        let last = try XCTUnwrap(MPIHarness.jsonLines(harness.path("cut.steps")).last)
        let straightLast = try XCTUnwrap(MPIHarness.jsonLines(harness.path("straight.steps")).last)
        for key in ["step", "lr", "loss"] {
            XCTAssertEqual((last[key] as? NSNumber)?.doubleValue, (straightLast[key] as? NSNumber)?.doubleValue,
                           "the last step-log line's \(key)")
        }
    }

    // MARK: Link shaping

    /// Round trips and losses of `count` pings from node1 to node2, sent every `interval` seconds.
    func ping(count: Int, interval: String) throws -> (sent: Int, received: Int, minimum: Double?, average: Double?) {
        guard let ping = TestBinaries.findOnPath("ping"), let ip = TestBinaries.findOnPath("ip") else {
            throw XCTSkip("ping or ip is not on PATH (apt-get install -y iputils-ping iproute2)")
        }
        let result = try harness.launch(ip.path, ["netns", "exec", "ddpt-node1", ping.path, "-q", "-n", "-c", String(count),
                                                  "-i", interval, "-W", "1", "10.77.0.12"],
                                        environment: ProcessInfo.processInfo.environment)
        guard let sent = FaultToleranceTests.capture(#"(\d+) packets transmitted"#, in: result.output).flatMap({ Int($0) }),
              let received = FaultToleranceTests.capture(#"(\d+) received"#, in: result.output).flatMap({ Int($0) }) else {
            throw SimulatorError("no ping summary:\n\(result.tail)")
        }
        let minimum = FaultToleranceTests.capture(#"= ([0-9.]+)/"#, in: result.output).flatMap { Double($0) }
        let average = FaultToleranceTests.capture(#"= [0-9.]+/([0-9.]+)/"#, in: result.output).flatMap { Double($0) }
        return (sent, received, minimum, average)
    }

    /// `shape node2 delay 1ms` must add 2 ms to a round trip from node1 (1 ms on the way into node2
    /// and 1 ms on the way out: the delay helper holds every packet crossing node2's link), never
    /// less (the helper may release a packet up to ~50 µs early, hence 1.9 ms), and not much more
    /// (4 ms on average). `shape node2 loss 20%` drops each direction independently, so a ping
    /// and its reply both survive with probability 0.8² and 36 % of 400 pings are lost on average
    /// (binomial standard deviation 2.4 points; the test accepts 24–48 %). `unshape` must restore
    /// an unshaped link: no loss and sub-millisecond round trips.
    func testShapingAddsTheRequestedDelayAndLossToANodesLinkAndUnshapeRemovesThem() throws {
        try bringUp(2)
        let plain = try ping(count: 20, interval: "0.01")
        XCTAssertEqual(plain.received, plain.sent, "pings lost on an unshaped link")
        let plainAverage = try XCTUnwrap(plain.average)

        let delay = try cluster(["shape", "node2", "delay", "1ms"])
        XCTAssertEqual(delay.status, 0, "`shape node2 delay 1ms` failed:\n\(delay.tail)")
        guard delay.status == 0 else { return }
        let delayed = try ping(count: 30, interval: "0.01")
        XCTAssertEqual(delayed.received, delayed.sent, "pings lost on a delayed link")
        let delayedMinimum = try XCTUnwrap(delayed.minimum), delayedAverage = try XCTUnwrap(delayed.average)
        XCTAssertGreaterThanOrEqual(delayedMinimum, 1.9, "a round trip through node2's link with 1 ms delay each way")
        XCTAssertLessThanOrEqual(delayedAverage, 4, "the delayed round trips are much slower than 2 ms")

        let loss = try cluster(["shape", "node2", "loss", "20%"])
        XCTAssertEqual(loss.status, 0, "`shape node2 loss 20%` failed:\n\(loss.tail)")
        guard loss.status == 0 else { return }
        let lossy = try ping(count: 400, interval: "0.005")
        let lost = 100 * Double(lossy.sent - lossy.received) / Double(max(lossy.sent, 1))
        XCTAssertEqual(lossy.sent, 400)
        XCTAssertTrue((24...48).contains(lost), "\(lost) % of pings lost with 20 % loss each way (expected about 36 %)")
        XCTAssertLessThan(try XCTUnwrap(lossy.average), 1, "`shape … loss` alone (replacing the delay) still delays")

        let unshape = try cluster(["unshape", "node2"])
        XCTAssertEqual(unshape.status, 0, "`unshape node2` failed:\n\(unshape.tail)")
        let restored = try ping(count: 20, interval: "0.01")
        XCTAssertEqual(restored.received, restored.sent, "pings lost after unshape")
        XCTAssertLessThan(try XCTUnwrap(restored.average), 1, "round trips after unshape")
        print(String(format: "ping node1 → node2: unshaped %.3f ms; delay 1ms on node2: min %.3f / avg %.3f ms; "
                     + "loss 20%% on node2: %.1f %% of 400 lost; after unshape %.3f ms",
                     plainAverage, delayedMinimum, delayedAverage, lost, restored.average ?? -1))
    }
}
