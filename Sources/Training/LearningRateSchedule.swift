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
        /// Keras' legacy `decay`: `baseRate / (1 + decay · t)` at optimizer step t (0-based).
        case inverseTime = "inverse-time"
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
    /// The inverse-time decay per optimizer step (nil unless the kind is `inverseTime`; absent in
    /// files written before it existed).
    public var decay: Double?
    /// Length of the run in epochs.
    public var epochs: Int
    /// Optimizer steps per epoch.
    public var stepsPerEpoch: Int
    /// State: optimizer steps taken so far.
    public var step: Int = 0
    /// How the rate grows with the global batch (`--lr-scaling`); nil for not at all (and in
    /// files written before scaling existed).
    public var batchScaling: BatchScaling?

    /// Creates a schedule at step 0.
    public init(kind: Kind, baseRate: Double, milestones: [Double] = [0.5, 0.75], gamma: Double = 0.1,
                warmupEpochs: Double = 0, minimumRate: Double = 0, decay: Double? = nil, epochs: Int, stepsPerEpoch: Int) {
        self.kind = kind
        self.baseRate = baseRate
        self.milestones = milestones
        self.gamma = gamma
        self.warmupEpochs = warmupEpochs
        self.minimumRate = minimumRate
        self.decay = decay
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
        case .inverseTime:
            rate = baseRate / (1 + (decay ?? 0) * Double(s))
        }
        // Warm-up ramps linearly over its steps: from 0 to the curve, or with batch scaling from
        // the curve at the reference batch to the scaled one (Goyal et al. 2017's gradual warm-up).
        let factor = batchScaling?.factor ?? 1
        if s < warmupSteps {
            let progress = Double(s + 1) / Double(warmupSteps)
            rate *= batchScaling == nil ? progress : 1 + (factor - 1) * progress
        } else {
            rate *= factor
        }
        return rate
    }

    /// Moves to the next step.
    public mutating func advance() { step += 1 }

    /// Checks that the specification is usable: finite rates and factors, warm-up within the run,
    /// and for `multistep` at least one milestone, increasing, all fractions or all epoch numbers,
    /// each before the end of the run (a milestone at or after the last epoch would change nothing).
    /// The problem names the flag to change and the field that stores it.
    public func validate() throws(ConfigurationProblem) {
        func fail(_ flag: String, _ field: String, _ value: Any, _ rule: String) -> ConfigurationProblem {
            ConfigurationProblem(flag: flag, field: "schedule." + field, value: "\(value)", rule: rule)
        }
        let list = milestones.map { "\($0)" }.joined(separator: ",")
        if !(baseRate > 0 && baseRate.isFinite) { throw fail("--lr", "baseRate", baseRate, "must be a positive number") }
        if epochs < 1 { throw fail("--epochs", "epochs", epochs, "must be at least 1") }
        if !(gamma > 0 && gamma.isFinite) { throw fail("--gamma", "gamma", gamma, "must be a positive number") }
        if !(warmupEpochs >= 0 && warmupEpochs <= Double(epochs)) {
            throw fail("--warmup-epochs", "warmupEpochs", warmupEpochs, "must be a number between 0 and --epochs (\(epochs))")
        }
        if !(minimumRate >= 0 && minimumRate <= baseRate) {
            throw fail("--min-lr", "minimumRate", minimumRate, "must be a number between 0 and --lr (\(baseRate))")
        }
        if let b = batchScaling, !(1...(1 << 30)).contains(b.referenceBatch) {
            throw fail("--reference-batch", "batchScaling.referenceBatch", b.referenceBatch, "must be a positive number of samples")
        }
        if kind == .inverseTime, !((decay ?? -1) > 0 && (decay ?? .infinity).isFinite) {
            throw fail("--decay", "decay", decay.map { "\($0)" } ?? "missing", "must be a positive number for --schedule inverse-time (Keras' decay, e.g. 1e-4)")
        }
        if kind == .multistep {
            if milestones.isEmpty {
                throw fail("--milestones", "milestones", "''", "must list at least one milestone; for no decay use --schedule constant")
            }
            if milestones.contains(where: { !($0 > 0 && $0.isFinite) }) || milestones != milestones.sorted()
                || Set(milestones).count != milestones.count {
                throw fail("--milestones", "milestones", list, "must be increasing positive fractions (0.5,0.75) or epoch numbers (150,225)")
            }
            if milestones.contains(where: { $0 >= 1 }) && milestones.contains(where: { $0 < 1 }) {
                throw fail("--milestones", "milestones", list, "mixes fractions and epoch numbers")
            }
            if let last = milestoneEpochs.last, last >= Double(epochs) {
                throw fail("--milestones", "milestones", list,
                           "must lie before the end of the run (--epochs \(epochs)): a milestone at epoch \(last) would never take effect")
            }
        }
    }
}

/// How the learning rate follows the global batch (`--lr-scaling`, `--reference-batch`): the
/// schedule's rates are multiplied by `factor`, the global batch over the batch the recipe was
/// tuned for (linear: Goyal et al. 2017), or its square root (Krizhevsky 2014; Hoffer et al. 2017).
public struct BatchScaling: Codable, Hashable, Sendable {
    /// The rule, as `--lr-scaling` names it.
    public enum Rule: String, Codable, CaseIterable, Sendable {
        /// Rate × global batch / reference batch.
        case linear
        /// Rate × √(global batch / reference batch).
        case sqrt
    }

    /// The rule.
    public var rule: Rule
    /// The global batch the base rate is meant for.
    public var referenceBatch: Int
    /// The run's global batch (filled in at start-up, as `stepsPerEpoch` is; 0 before).
    public var globalBatch: Int

    /// A scaling by `rule` from `referenceBatch` (the global batch is filled in at start-up).
    public init(rule: Rule, referenceBatch: Int, globalBatch: Int = 0) {
        self.rule = rule
        self.referenceBatch = referenceBatch
        self.globalBatch = globalBatch
    }

    /// The multiplier of every rate (1 until the global batch is known).
    public var factor: Double {
        guard globalBatch > 0, referenceBatch > 0 else { return 1 }
        let ratio = Double(globalBatch) / Double(referenceBatch)
        return rule == .linear ? ratio : ratio.squareRoot()
    }
}
