import Foundation
import TestSupport
import XCTest

/// The base of the tests that run on one of the simulators in `Cluster/testing/`
/// (`local-cluster.sh`, `local-slurm.sh`), which share a contract: `up [ARGS]` brings the
/// simulated machines up, exiting 3 when this machine cannot host them, and `down` removes them.
///
/// `bringUp` skips the test on status 3 with the script's message and fails it on any other
/// error; once `up` succeeded, `tearDown` always runs `down` (after a failure too), and never
/// otherwise, so a cluster somebody else brought up is never taken down by a test.
class SimulatorTestCase: SystemTestCase {
    /// The simulator script, under `Cluster/testing/`.
    class var simulator: String { fatalError("a SimulatorTestCase names its simulator") }
    /// What the simulator hosts, for messages ("the simulated cluster").
    class var simulated: String { fatalError("a SimulatorTestCase says what it simulates") }
    /// The exit status with which a simulator says "this machine cannot host it".
    static let unsupportedStatus: Int32 = 3

    /// The script's path.
    static var script: String {
        MPIHarness.repository.appendingPathComponent("Cluster/testing/\(simulator)").path
    }

    /// Set once `up` succeeded: only then does `tearDown` run `down`.
    private(set) var isUp = false

    /// A simulator command that did not do what the test needs.
    struct SimulatorError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    override func setUpWithError() throws {
        try super.setUpWithError()
        guard FileManager.default.isExecutableFile(atPath: Self.script) else {
            throw XCTSkip("\(Self.script) is missing or not executable")
        }
    }

    override func tearDown() {
        endJobs()
        if isUp, let harness {
            do {
                let down = try cluster(["down"], harness: harness)
                XCTAssertEqual(down.status, 0, "`\(Self.simulator) down` failed:\n\(down.tail)")
            } catch {
                XCTFail("`\(Self.simulator) down`: \(error)")
            }
            isUp = false
        }
        super.tearDown()
    }

    /// The environment the simulator's commands run with: the test's, without Open MPI's.
    func simulatorEnvironment() -> [String: String] { MPIHarness.singleProcessEnvironment }

    /// `<simulator> <arguments>` with the harness's hard timeout.
    func cluster(_ arguments: [String], harness: MPIHarness? = nil) throws -> MPIHarness.Result {
        try (harness ?? self.harness!).launch("/bin/bash", [Self.script] + arguments, environment: simulatorEnvironment())
    }

    /// `<simulator> up <arguments>`; skips the test when this machine cannot host it.
    func bringUp(_ arguments: [String] = []) throws {
        let command = ([Self.simulator, "up"] + arguments).joined(separator: " ")
        let up = try cluster(["up"] + arguments)
        if up.status == Self.unsupportedStatus {
            throw XCTSkip("\(Self.simulated) cannot run here: " + up.output.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        guard up.status == 0 else {
            throw SimulatorError("`\(command)` failed (if one was left up by an earlier run, "
                                 + "`Cluster/testing/\(Self.simulator) down` removes it):\n\(up.tail)")
        }
        isUp = true
    }
}
