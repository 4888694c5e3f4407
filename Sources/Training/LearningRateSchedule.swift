import Foundation

/// A learning-rate schedule and its state, updated every optimizer step.
///
/// It is a plain value: the specification (kind, base rate, milestones, warm-up, length) plus the
/// number of steps taken, so a checkpoint can store it and a resumed run continues on the same
/// curve. Every rate is a pure function of the step, so there is no hidden state to drift.
public struct LearningRateSchedule: Codable, Hashable, Sendable {
    /// The shape of the curve after warm-up.
    public enum Kind: String, Codable, Hashable, Sendable, CaseIterable {
        /// The base rate throughout.
        case constant
        /// The base rate multiplied by `gamma` at each milestone.
        case multistep
        /// Half a cosine from the base rate down to `minimumRate` over the run.
        case cosine
    }

    /// The curve.
    public var kind: Kind
    /// The rate before any decay.
    public var baseRate: Double
    /// Milestones of `multistep`: fractions of the run when all are below 1 (0.5, 0.75), else epoch numbers (150, 225).
    public var milestones: [Double]
    /// Factor applied at each milestone.
    public var gamma: Double
    /// Epochs of linear warm-up in front of the curve (0 for none; may be fractional).
    public var warmupEpochs: Double
    /// The cosine curve's final rate.
    public var minimumRate: Double
    /// Length of the run in epochs.
    public var epochs: Int
    /// Optimizer steps per epoch.
    public var stepsPerEpoch: Int
    /// State: optimizer steps taken so far.
    public var step: Int = 0

    /// Creates a schedule at step 0.
    public init(kind: Kind, baseRate: Double, milestones: [Double] = [0.5, 0.75], gamma: Double = 0.1,
                warmupEpochs: Double = 0, minimumRate: Double = 0, epochs: Int, stepsPerEpoch: Int) {
        self.kind = kind
        self.baseRate = baseRate
        self.milestones = milestones
        self.gamma = gamma
        self.warmupEpochs = warmupEpochs
        self.minimumRate = minimumRate
        self.epochs = epochs
        self.stepsPerEpoch = stepsPerEpoch
    }

    /// Steps in the whole run.
    public var totalSteps: Int { epochs * stepsPerEpoch }
    /// Steps of warm-up.
    public var warmupSteps: Int { Int((warmupEpochs * Double(stepsPerEpoch)).rounded()) }
    /// The epoch the next step belongs to (0-based).
    public var epoch: Int { stepsPerEpoch > 0 ? step / stepsPerEpoch : 0 }
    /// Fraction of warm-up completed, 1 when there is none or it is over.
    public var warmupProgress: Double { warmupSteps == 0 ? 1 : min(1, Double(step) / Double(warmupSteps)) }
    /// The rate of the next step.
    public var currentRate: Double { rate(atStep: step) }

    /// Milestones as epoch numbers.
    public var milestoneEpochs: [Double] {
        milestones.allSatisfy { $0 < 1 } ? milestones.map { $0 * Double(epochs) } : milestones
    }

    /// The rate used by optimizer step `s` (0-based).
    public func rate(atStep s: Int) -> Double {
        let t = Double(s) / Double(max(1, stepsPerEpoch))
        var rate: Double
        switch kind {
        case .constant:
            rate = baseRate
        case .multistep:
            let passed = milestoneEpochs.filter { $0 <= t + 1e-9 }.count
            rate = baseRate * pow(gamma, Double(passed))
        case .cosine:
            let span = max(1, totalSteps - warmupSteps)
            let progress = min(1, max(0, Double(s - warmupSteps) / Double(span)))
            rate = minimumRate + (baseRate - minimumRate) * (1 + cos(Double.pi * progress)) / 2
        }
        if s < warmupSteps {
            rate *= Double(s + 1) / Double(warmupSteps)
        }
        return rate
    }

    /// Moves to the next step.
    public mutating func advance() { step += 1 }

    /// Checks that the specification is usable; the message names the flag to change.
    public func validate() throws {
        func fail(_ flag: String, _ value: Any, _ rule: String) throws -> Never {
            throw TrainingError.invalidOption(flag: flag, value: "\(value)", rule: rule)
        }
        if !(baseRate > 0) || !baseRate.isFinite { try fail("--lr", baseRate, "must be a positive number") }
        if epochs < 1 { try fail("--epochs", epochs, "must be at least 1") }
        if !(gamma > 0) { try fail("--gamma", gamma, "must be positive") }
        if warmupEpochs < 0 || warmupEpochs > Double(epochs) {
            try fail("--warmup-epochs", warmupEpochs, "must be between 0 and --epochs")
        }
        if kind == .multistep {
            if milestones.contains(where: { $0 <= 0 }) || milestones != milestones.sorted() {
                try fail("--milestones", milestones.map { "\($0)" }.joined(separator: ","), "must be increasing positive fractions (0.5,0.75) or epoch numbers (150,225)")
            }
            if milestones.contains(where: { $0 >= 1 }) && milestones.contains(where: { $0 < 1 }) {
                try fail("--milestones", milestones.map { "\($0)" }.joined(separator: ","), "mixes fractions and epoch numbers")
            }
        }
        if minimumRate < 0 || minimumRate > baseRate { try fail("--min-lr", minimumRate, "must be between 0 and --lr") }
    }
}
