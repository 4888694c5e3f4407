import XCTest
@testable import Engine

/// The peak measurements run and count their work; their speed is not checked (that is
/// `ddptrain bench --peak`'s job), so the problems here are tiny.
final class PeakMeasurementTests: XCTestCase {
    func testBothMeasurementsReturnAPositiveRateAtOneAndTwoThreads() {
        for threads in [1, 2] {
            let sgemm = PeakMeasurement.sgemm(size: 16, threads: threads, repetitions: 1)
            let fma = PeakMeasurement.fmaLoop(iterations: 100, threads: threads, repetitions: 1)
            XCTAssertTrue(sgemm.isFinite && sgemm > 0, "sgemm at \(threads) thread(s): \(sgemm)")
            XCTAssertTrue(fma.isFinite && fma > 0, "FMA loop at \(threads) thread(s): \(fma)")
        }
    }

    /// Every lane of every accumulator gains x·y per step, so the FLOPs the rate is computed
    /// from (2 × 16 lanes × `fmaAccumulators` per step) are the ones the loop does.
    func testTheFMAChainsDoOneMultiplyAddPerLaneAndAccumulatorEachStep() {
        let steps = 5, accumulators = PeakMeasurement.fmaAccumulators
        // Accumulator k ends at k + steps · 1 · 1 in each of its 16 lanes.
        let expected = 16 * (0..<accumulators).reduce(0) { $0 + $1 + steps }
        XCTAssertEqual(PeakMeasurement.fmaChains(iterations: steps, start: 0, x: 1, y: 1), Float(expected))
        XCTAssertEqual(PeakMeasurement.fmaChains(iterations: 0, start: 0, x: 1, y: 1), Float(16 * (0..<accumulators).reduce(0, +)))
    }
}
