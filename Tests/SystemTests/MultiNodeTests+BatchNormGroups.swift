import Foundation
import TestSupport
import XCTest

extension MultiNodeTests {
    /// `--bn-sync node` on two simulated nodes of two ranks each (ranks 0, 1 on node1 and 2, 3 on
    /// node2, `--map-by slot`) normalises over each host's two ranks: bit for bit what `group:2`
    /// does on 4 ranks of one machine. Each batch-norm sum has exactly two addends, which add
    /// alike in either order, and the gradient all-reduce over all 4 ranks takes the same
    /// algorithm whatever the transport (see `testThreeSimulatedNodesOverTCP…`). Were the split
    /// not by host, the run would be `batch`'s (one group of 4) and differ.
    func testNodeBatchNormOnTwoSimulatedNodesOfTwoRanksEqualsGroupsOfTwoOnOneMachine() throws {
        try bringUp(["2", "--slots", "2"])
        // 64 images in global batches of 4 × 8: 2 optimizer steps.
        let data = try harness.writeDataSet("data", training: 64, test: 16)
        let simulated = try cluster(["run", "-np", "4", "--map-by", "slot", "--display-map", "--", harness.binary.path]
                                    + trainArguments(data: data, name: "nodes") + ["--bn-sync", "node"])
        XCTAssertEqual(simulated.status, 0, "training on 2 simulated nodes × 2 ranks failed:\n\(simulated.tail)")
        let plain = try harness.mpi(ranks: 4, trainArguments(data: data, name: "plain") + ["--bn-sync", "group:2"])
        XCTAssertEqual(plain.status, 0, "training under plain mpirun -np 4 failed:\n\(plain.tail)")
        guard simulated.status == 0 && plain.status == 0 else { return }

        for node in ["node1", "node2"] {
            XCTAssertTrue(simulated.output.contains("Data for node: \(node)\tNum slots: 2\tMax slots: 0\tNum procs: 2"),
                          "\(node) does not hold exactly two ranks:\n\(simulated.tail)")
        }
        XCTAssertTrue(simulated.output.contains("rank 0's host runs 2 of the 4 ranks"), simulated.tail)
        let nodeSteps = try String(contentsOfFile: harness.path("nodes.steps"), encoding: .utf8)
        XCTAssertEqual(nodeSteps.split(separator: "\n").count, 2, nodeSteps)
        XCTAssertEqual(nodeSteps, try String(contentsOfFile: harness.path("plain.steps"), encoding: .utf8),
                       "per-step lr/loss differ between node on 2 hosts and group:2 on one")
        let first = try Data(contentsOf: URL(fileURLWithPath: harness.path("nodes.state.rank0")))
        for rank in 0..<4 {
            let state = try Data(contentsOf: URL(fileURLWithPath: harness.path("nodes.state.rank\(rank)")))
            XCTAssertEqual(state, first, "rank \(rank) ends with another state than rank 0")
            XCTAssertEqual(state, try Data(contentsOf: URL(fileURLWithPath: harness.path("plain.state.rank\(rank)"))),
                           "rank \(rank): node on 2 hosts and group:2 on one machine end with different states")
        }
    }
}
