@testable import Training
import XCTest

final class LearningRateScheduleTests: XCTestCase {
    func testConstantScheduleKeepsTheBaseRate() {
        let s = LearningRateSchedule(kind: .constant, baseRate: 0.05, epochs: 10, stepsPerEpoch: 7)
        for step in [0, 1, 35, 69] { XCTAssertEqual(s.rate(atStep: step), 0.05, accuracy: 1e-12) }
    }

    func testMultistepWithFractionsDecaysAtHalfAndThreeQuartersOfTheRun() {
        // 300 epochs of 10 steps: milestones at epochs 150 and 225, i.e. steps 1500 and 2250.
        let s = LearningRateSchedule(kind: .multistep, baseRate: 0.1, milestones: [0.5, 0.75], gamma: 0.1,
                                     epochs: 300, stepsPerEpoch: 10)
        XCTAssertEqual(s.milestoneEpochs, [150, 225])
        XCTAssertEqual(s.rate(atStep: 0), 0.1, accuracy: 1e-12)
        XCTAssertEqual(s.rate(atStep: 1499), 0.1, accuracy: 1e-12)
        XCTAssertEqual(s.rate(atStep: 1500), 0.01, accuracy: 1e-12)
        XCTAssertEqual(s.rate(atStep: 2249), 0.01, accuracy: 1e-12)
        XCTAssertEqual(s.rate(atStep: 2250), 0.001, accuracy: 1e-12)
        XCTAssertEqual(s.rate(atStep: 2999), 0.001, accuracy: 1e-12)
    }

    func testMultistepWithEpochNumbers() {
        let s = LearningRateSchedule(kind: .multistep, baseRate: 1, milestones: [2, 3], gamma: 0.5, epochs: 5, stepsPerEpoch: 4)
        XCTAssertEqual((0..<20).map { s.rate(atStep: $0) },
                       [1, 1, 1, 1, 1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25])
    }

    func testCosineGoesFromBaseToMinimumThroughTheMidpoint() {
        let s = LearningRateSchedule(kind: .cosine, baseRate: 0.1, minimumRate: 0.001, epochs: 10, stepsPerEpoch: 10)
        XCTAssertEqual(s.rate(atStep: 0), 0.1, accuracy: 1e-12)
        XCTAssertEqual(s.rate(atStep: 50), (0.1 + 0.001) / 2, accuracy: 1e-12)
        XCTAssertEqual(s.rate(atStep: 25), 0.001 + 0.099 * (1 + cos(Double.pi / 4)) / 2, accuracy: 1e-12)
        XCTAssertEqual(s.rate(atStep: 100), 0.001, accuracy: 1e-12)
        for step in 1..<100 { XCTAssertLessThan(s.rate(atStep: step), s.rate(atStep: step - 1)) }
    }

    func testLinearWarmupRampsUpInFrontOfTheSchedule() {
        // Two warm-up epochs of 5 steps: rates base·1/10 … base·10/10, then the cosine over the other 90 steps.
        let s = LearningRateSchedule(kind: .cosine, baseRate: 0.2, warmupEpochs: 2, epochs: 20, stepsPerEpoch: 5)
        XCTAssertEqual(s.warmupSteps, 10)
        XCTAssertEqual(s.rate(atStep: 0), 0.02, accuracy: 1e-12)
        XCTAssertEqual(s.rate(atStep: 4), 0.1, accuracy: 1e-12)
        XCTAssertEqual(s.rate(atStep: 9), 0.2, accuracy: 1e-12)
        XCTAssertEqual(s.rate(atStep: 10), 0.2, accuracy: 1e-12)
        XCTAssertEqual(s.rate(atStep: 55), 0.1, accuracy: 1e-12)
        let m = LearningRateSchedule(kind: .multistep, baseRate: 0.1, milestones: [0.5], warmupEpochs: 1, epochs: 4, stepsPerEpoch: 4)
        XCTAssertEqual(m.rate(atStep: 1), 0.05, accuracy: 1e-12)
        XCTAssertEqual(m.rate(atStep: 8), 0.01, accuracy: 1e-12)
    }

    /// Issue 14 #5: Keras' legacy decay, `lr₀ / (1 + decay · iterations)` with iterations the
    /// optimizer steps taken before the update (0 for the first), computed here from the
    /// formula, and the warm-up ramp multiplying it during warm-up.
    func testInverseTimeDecayFollowsKerasFormulaAndCombinesWithWarmUp() {
        let s = LearningRateSchedule(kind: .inverseTime, baseRate: 0.1, decay: 1e-4, epochs: 100, stepsPerEpoch: 500)
        for t in [0, 1, 499, 500, 25_000, 49_999] {
            XCTAssertEqual(s.rate(atStep: t), 0.1 * (1 / (1 + 1e-4 * Double(t))), accuracy: 1e-15, "step \(t)")
        }
        XCTAssertEqual(s.rate(atStep: 10_000), 0.05, accuracy: 1e-15, "the rate halves at t = 1 / decay")
        let warm = LearningRateSchedule(kind: .inverseTime, baseRate: 0.1, warmupEpochs: 1, decay: 1e-2, epochs: 4, stepsPerEpoch: 10)
        XCTAssertEqual(warm.rate(atStep: 4), 0.1 / (1 + 1e-2 * 4) * 5 / 10, accuracy: 1e-15)
        XCTAssertEqual(warm.rate(atStep: 10), 0.1 / (1 + 1e-2 * 10), accuracy: 1e-15)
        XCTAssertNoThrow(try s.validate())
    }

    /// A schedule written before `decay` existed (no such key) still decodes, with no decay.
    func testAScheduleWithoutADecayKeyDecodes() throws {
        let old = #"{"baseRate":0.1,"epochs":2,"gamma":0.1,"kind":"multistep","milestones":[0.5],"minimumRate":0,"step":3,"stepsPerEpoch":5,"warmupEpochs":0}"#
        let s = try JSONDecoder().decode(LearningRateSchedule.self, from: Data(old.utf8))
        XCTAssertNil(s.decay)
        XCTAssertEqual(s.step, 3)
    }

    func testStateAdvancesAndSurvivesEncoding() throws {
        var s = LearningRateSchedule(kind: .multistep, baseRate: 0.1, milestones: [0.5], warmupEpochs: 1, epochs: 4, stepsPerEpoch: 4)
        for _ in 0..<9 { s.advance() }
        XCTAssertEqual(s.step, 9)
        XCTAssertEqual(s.epoch, 2)
        XCTAssertEqual(s.warmupProgress, 1)
        XCTAssertEqual(s.currentRate, 0.01, accuracy: 1e-12)
        let restored = try JSONDecoder().decode(LearningRateSchedule.self, from: JSONEncoder().encode(s))
        XCTAssertEqual(restored, s)
        XCTAssertEqual(restored.currentRate, s.currentRate)
    }

    func testInvalidSpecificationsNameTheFlag() {
        let bad: [(LearningRateSchedule, String)] = [
            (LearningRateSchedule(kind: .constant, baseRate: 0, epochs: 1, stepsPerEpoch: 1), "--lr"),
            (LearningRateSchedule(kind: .multistep, baseRate: 0.1, milestones: [0.75, 0.5], epochs: 1, stepsPerEpoch: 1), "--milestones"),
            (LearningRateSchedule(kind: .multistep, baseRate: 0.1, milestones: [0.5, 150], epochs: 300, stepsPerEpoch: 1), "--milestones"),
            (LearningRateSchedule(kind: .constant, baseRate: 0.1, warmupEpochs: 5, epochs: 2, stepsPerEpoch: 1), "--warmup-epochs"),
            (LearningRateSchedule(kind: .cosine, baseRate: 0.1, minimumRate: 0.5, epochs: 2, stepsPerEpoch: 1), "--min-lr"),
            (LearningRateSchedule(kind: .inverseTime, baseRate: 0.1, epochs: 2, stepsPerEpoch: 1), "--decay"),
            (LearningRateSchedule(kind: .inverseTime, baseRate: 0.1, decay: -1e-4, epochs: 2, stepsPerEpoch: 1), "--decay"),
            (LearningRateSchedule(kind: .inverseTime, baseRate: 0.1, decay: .infinity, epochs: 2, stepsPerEpoch: 1), "--decay"),
        ]
        for (schedule, flag) in bad {
            XCTAssertThrowsError(try schedule.validate()) { XCTAssertTrue("\($0)".hasPrefix(flag), "\($0)") }
        }
    }
}

/// `--lr-scaling`: rates multiplied by the global batch over the reference (or its root), a
/// warm-up that ramps from the reference batch's rate, and files without the field.
final class BatchScalingTests: XCTestCase {
    func testLinearAndSquareRootScalingMultiplyEveryRateAfterWarmUp() {
        var s = LearningRateSchedule(kind: .multistep, baseRate: 0.1, milestones: [0.5], epochs: 4, stepsPerEpoch: 10)
        s.batchScaling = BatchScaling(rule: .linear, referenceBatch: 64, globalBatch: 1024)
        XCTAssertEqual(s.rate(atStep: 0), 1.6, accuracy: 1e-12)
        XCTAssertEqual(s.rate(atStep: 25), 0.16, accuracy: 1e-12)
        s.batchScaling = BatchScaling(rule: .sqrt, referenceBatch: 64, globalBatch: 1024)
        XCTAssertEqual(s.rate(atStep: 0), 0.4, accuracy: 1e-12)
        s.batchScaling = BatchScaling(rule: .linear, referenceBatch: 64)
        XCTAssertEqual(s.rate(atStep: 0), 0.1, accuracy: 1e-12, "no factor before the global batch is known")
    }

    func testWarmUpRampsFromTheReferenceRateToTheScaledOne() {
        var s = LearningRateSchedule(kind: .constant, baseRate: 0.1, warmupEpochs: 1, epochs: 3, stepsPerEpoch: 5)
        s.batchScaling = BatchScaling(rule: .linear, referenceBatch: 32, globalBatch: 256)
        // Goyal et al.: η at the start, kη = 0.8 after the warm-up, linear in between.
        let expected = [0.24, 0.38, 0.52, 0.66, 0.8, 0.8, 0.8]
        for (step, rate) in expected.enumerated() {
            XCTAssertEqual(s.rate(atStep: step), rate, accuracy: 1e-12, "step \(step)")
        }
        s.batchScaling = nil
        XCTAssertEqual(s.rate(atStep: 0), 0.02, accuracy: 1e-12, "without scaling the warm-up starts near 0")
    }

    func testAScheduleWithoutTheFieldDecodesUnscaled() throws {
        let s = LearningRateSchedule(kind: .cosine, baseRate: 0.1, epochs: 2, stepsPerEpoch: 3)
        let json = try JSONEncoder().encode(s)
        XCTAssertFalse(String(decoding: json, as: UTF8.self).contains("batchScaling"))
        XCTAssertNil(try JSONDecoder().decode(LearningRateSchedule.self, from: json).batchScaling)
    }
}
