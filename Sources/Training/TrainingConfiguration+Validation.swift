import Data
import Models

extension TrainingConfiguration {
    /// The largest values the sizes of a run may take. They are far beyond any sensible run and
    /// keep every product of sizes (samples per step, steps, tensor sizes) inside `Int`, so no
    /// later arithmetic can overflow; memory is checked separately when the model is built.
    public enum Limits {
        /// Epochs of one run.
        public static let epochs = 100_000
        /// Samples per rank and step.
        public static let batchSize = 1 << 20
        /// Ranks of one run.
        public static let worldSize = 1 << 20
        /// Worker threads per rank.
        public static let threads = 1_024
        /// Micro-batches per optimizer step.
        public static let accumulateSteps = 1 << 16
        /// Gradient all-reduce bucket, in MiB.
        public static let bucketMegabytes = 1 << 16
        /// Checkpoints kept in a run directory.
        public static let keptCheckpoints = 1_000_000
        /// Samples recorded for a split.
        public static let samples = 1 << 31
        /// Seconds of `--step-timeout` (about four months).
        public static let stepTimeoutSeconds = 1e7
    }

    /// Checks every setting: ranges, finiteness and the rules between fields. The same check
    /// runs on the flags of a new run and on the configuration read from a checkpoint, so a file
    /// from another tool or an older version meets the rules the command line does.
    ///
    /// Throws `ConfigurationProblem` naming the flag and the field, or the model's `ModelError`.
    public func validate() throws {
        func problem(_ flag: String, _ field: String, _ value: Any, _ rule: String) -> ConfigurationProblem {
            ConfigurationProblem(flag: flag, field: field, value: "\(value)", rule: rule)
        }
        func within<T: Comparable>(_ value: T, _ range: ClosedRange<T>, _ flag: String, _ field: String) throws {
            guard range.contains(value) else {
                throw problem(flag, field, value, "must be between \(range.lowerBound) and \(range.upperBound)")
            }
        }
        try model.validate()
        try within(epochs, 1...Limits.epochs, "--epochs", "epochs")
        try within(batchSize, 1...Limits.batchSize, "--batch-size", "batchSize")
        try within(worldSize, 1...Limits.worldSize, "mpirun -np", "worldSize")
        try batchNormSync.validate(worldSize: worldSize)
        try within(accumulationSteps, 1...Limits.accumulateSteps, "--accumulate-steps", "accumulateSteps")
        if Double(batchSize) * Double(batchShares) > Double(Limits.batchSize) {
            throw problem("--accumulate-steps", "accumulateSteps", accumulationSteps,
                          "makes a global batch of more than \(Limits.batchSize) samples (batch size × ranks × steps)")
        }
        try within(threads, 1...Limits.threads, "--threads", "threads")
        if !(labelSmoothing >= 0 && labelSmoothing < 1) {
            throw problem("--label-smoothing", "labelSmoothing", labelSmoothing, "must be a number in [0, 1)")
        }
        if !(bucketMegabytes > 0 && bucketMegabytes <= Double(Limits.bucketMegabytes)) {
            throw problem("--bucket-mb", "bucketMegabytes", bucketMegabytes, "must be a number in (0, \(Limits.bucketMegabytes)]")
        }
        if let t = stepTimeout, !(t > 0 && t <= Limits.stepTimeoutSeconds) {
            throw problem("--step-timeout", "stepTimeout", t, "must be a positive number of seconds, at most \(Limits.stepTimeoutSeconds)")
        }
        if checkSyncEvery < 0 { throw problem("--check-sync-every", "checkSyncEvery", checkSyncEvery, "must not be negative") }
        if let c = gradientClipNorm, !(c > 0 && c.isFinite) {
            throw problem("--clip-grad-norm", "gradientClipNorm", c, "must be a positive number")
        }
        if !(optimizer.momentum >= 0 && optimizer.momentum < 1) {
            throw problem("--momentum", "optimizer.momentum", optimizer.momentum, "must be a number in [0, 1)")
        }
        if optimizer.nesterov && optimizer.momentum == 0 {
            throw problem("--momentum", "optimizer.momentum", 0, "Nesterov needs momentum > 0 (add --no-nesterov)")
        }
        if let trust = optimizer.larsTrust, !(trust > 0 && trust.isFinite) {
            throw problem("--lars-trust", "optimizer.larsTrust", trust, "must be a positive number (You et al. use 0.001)")
        }
        if !(optimizer.weightDecay >= 0 && optimizer.weightDecay.isFinite) {
            throw problem("--weight-decay", "optimizer.weightDecay", optimizer.weightDecay, "must be a number ≥ 0")
        }
        try validateAugmentation()
        try validateRecordedData()
        try checkpoint.validate()
        var s = schedule
        s.epochs = epochs
        try s.validate()
    }

    /// The augmentation's parameters: crop padding within the image's reach, shift a fraction.
    func validateAugmentation() throws(ConfigurationProblem) {
        let a = augmentation
        guard (0...16).contains(a.cropPadding) else {
            throw ConfigurationProblem(flag: "--crop-padding", field: "augmentation.cropPadding", value: "\(a.cropPadding)",
                                       rule: "must be between 0 and 16")
        }
        guard a.shiftFraction >= 0 && a.shiftFraction < 1 else {
            throw ConfigurationProblem(flag: "--shift", field: "augmentation.shiftFraction", value: "\(a.shiftFraction)",
                                       rule: "must be a number in [0, 1)")
        }
    }

    /// The data set and what start-up records about the data: the labels only CIFAR-100 has, a
    /// model whose outputs are the data set's classes, normalisation constants and sample counts.
    func validateRecordedData() throws(ConfigurationProblem) {
        do { try dataset.validate() } catch {
            throw ConfigurationProblem(flag: "--labels", field: "dataset.labels", value: dataset.labels?.rawValue ?? "(none)",
                                       rule: "must be fine or coarse for cifar100 and absent for cifar10")
        }
        guard model.classes == dataset.classes else {
            throw ConfigurationProblem(flag: "--dataset", field: "model.classes", value: "\(model.classes)",
                                       rule: "must be the \(dataset.classes) classes of \(dataset)")
        }
        if let n = normalization {
            func bad(_ field: String, _ value: [Float], _ rule: String) -> ConfigurationProblem {
                ConfigurationProblem(flag: "(computed from --data)", field: "normalization." + field,
                                     value: "[" + value.map { "\($0)" }.joined(separator: ", ") + "]", rule: rule)
            }
            guard n.mean.count == CIFARImage.channels, n.mean.allSatisfy({ $0 >= 0 && $0 <= 1 }) else {
                throw bad("mean", n.mean, "must hold \(CIFARImage.channels) numbers in [0, 1], one per colour channel")
            }
            guard n.std.count == CIFARImage.channels, n.std.allSatisfy({ $0 > 0 && $0 <= 1 }) else {
                throw bad("std", n.std, "must hold \(CIFARImage.channels) numbers in (0, 1], one per colour channel")
            }
        }
        for (field, count) in [("trainingSamples", trainingSamples), ("testSamples", testSamples)]
            where !(0...Limits.samples).contains(count) {
            throw ConfigurationProblem(flag: "(counted in --data)", field: field, value: "\(count)",
                                       rule: "must be between 0 and \(Limits.samples)")
        }
    }
}

extension CheckpointSettings {
    /// Checks the checkpoint flags' ranges.
    public func validate() throws(ConfigurationProblem) {
        func problem(_ flag: String, _ field: String, _ value: Any, _ rule: String) -> ConfigurationProblem {
            ConfigurationProblem(flag: flag, field: "checkpoint." + field, value: "\(value)", rule: rule)
        }
        if everyEpochs < 0 { throw problem("--checkpoint-every", "everyEpochs", everyEpochs, "must not be negative") }
        if everySteps < 0 { throw problem("--checkpoint-every-steps", "everySteps", everySteps, "must not be negative") }
        if !(1...TrainingConfiguration.Limits.keptCheckpoints).contains(keep) {
            throw problem("--keep", "keep", keep, "must be between 1 and \(TrainingConfiguration.Limits.keptCheckpoints)")
        }
        if !(1...19).contains(zstdLevel) { throw problem("--zstd-level", "zstdLevel", zstdLevel, "must be between 1 and 19") }
    }
}
