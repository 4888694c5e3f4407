import XCTest
@testable import Data

/// The epoch order: a permutation determined by (seed, epoch), cut into global batches.
final class EpochPlanTests: XCTestCase {
    func testOrderIsAPermutationOfTheSamples() {
        let plan = EpochPlan(sampleCount: 1000, batchSize: 64, dropLast: true, seed: 7, epoch: 3)
        XCTAssertEqual(plan.order.count, 1000)
        XCTAssertEqual(plan.order.sorted(), (0..<1000).map { Int32($0) })
        XCTAssertNotEqual(plan.order, (0..<1000).map { Int32($0) })
    }

    func testSameSeedAndEpochGiveTheSameOrder() {
        let a = EpochPlan(sampleCount: 500, batchSize: 10, dropLast: false, seed: 42, epoch: 5)
        let b = EpochPlan(sampleCount: 500, batchSize: 10, dropLast: false, seed: 42, epoch: 5)
        XCTAssertEqual(a.order, b.order)
    }

    func testDifferentEpochOrSeedGivesADifferentOrder() {
        let a = EpochPlan(sampleCount: 500, batchSize: 10, dropLast: false, seed: 42, epoch: 5)
        let b = EpochPlan(sampleCount: 500, batchSize: 10, dropLast: false, seed: 42, epoch: 6)
        let c = EpochPlan(sampleCount: 500, batchSize: 10, dropLast: false, seed: 43, epoch: 5)
        XCTAssertNotEqual(a.order, b.order)
        XCTAssertNotEqual(a.order, c.order)
        // Not merely a rotation or small perturbation: most positions differ.
        XCTAssertGreaterThan(zip(a.order, b.order).filter { $0 != $1 }.count, 450)
    }

    func testBatchesWithoutDropLastKeepTheShortLastBatch() {
        let plan = EpochPlan(sampleCount: 10, batchSize: 4, dropLast: false, seed: 1, epoch: 0)
        XCTAssertEqual(plan.batchCount, 3)
        XCTAssertEqual((0..<3).map { plan.batch($0).count }, [4, 4, 2])
        XCTAssertEqual((0..<3).flatMap { Array(plan.batch($0)) }, plan.order)
    }

    func testBatchesWithDropLastLeaveOutThePartialBatch() {
        let plan = EpochPlan(sampleCount: 10, batchSize: 4, dropLast: true, seed: 1, epoch: 0)
        XCTAssertEqual(plan.batchCount, 2)
        XCTAssertEqual((0..<2).map { plan.batch($0).count }, [4, 4])
        XCTAssertEqual((0..<2).flatMap { Array(plan.batch($0)) }, Array(plan.order[0..<8]))
    }

    func testExactMultiplesAndEmptySetsGiveWholeBatches() {
        for dropLast in [false, true] {
            XCTAssertEqual(EpochPlan(sampleCount: 8, batchSize: 4, dropLast: dropLast, seed: 1, epoch: 0).batchCount, 2)
            XCTAssertEqual(EpochPlan(sampleCount: 0, batchSize: 4, dropLast: dropLast, seed: 1, epoch: 0).batchCount, 0)
        }
        XCTAssertEqual(EpochPlan(sampleCount: 3, batchSize: 4, dropLast: true, seed: 1, epoch: 0).batchCount, 0)
        XCTAssertEqual(EpochPlan(sampleCount: 3, batchSize: 4, dropLast: false, seed: 1, epoch: 0).batchCount, 1)
    }

    func testEveryPermutationOfFourIsAboutEquallyLikely() {
        var counts: [[Int32]: Int] = [:]
        for epoch in 0..<2400 {
            counts[EpochPlan(sampleCount: 4, batchSize: 4, dropLast: false, seed: 9, epoch: epoch).order, default: 0] += 1
        }
        XCTAssertEqual(counts.count, 24)
        // 100 expected each; ±50 is over 5 standard deviations.
        for (order, n) in counts { XCTAssertTrue((50...150).contains(n), "\(order) drawn \(n) times") }
    }
}
