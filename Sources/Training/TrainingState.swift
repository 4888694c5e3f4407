import Foundation

/// Everything a checkpoint holds besides the tensors: the run's configuration and exactly where
/// it stands, so a resumed run continues as if it had never stopped. Encoded as the checkpoint's
/// JSON metadata.
///
/// The position is one counter, `schedule.step` (optimizer steps taken), with the completed
/// epochs' `history`: the epoch is the number of completed (evaluated) epochs, and the batch
/// within it and the samples seen follow from the step. (So an epoch whose last batch was trained
/// but which a signal stopped before its evaluation is at batch `stepsPerEpoch`, not at the next
/// epoch.) The JSON also carries the derived numbers, and the ranks and global batch, for readers
/// of the file; decoding checks that they agree.
public struct TrainingState: Codable, Sendable {
    /// Accumulators of an epoch interrupted mid-way, so its metrics line covers the whole epoch.
    public struct PartialEpoch: Codable, Hashable, Sendable {
        /// Sums over the global samples trained so far in the epoch.
        public var lossSum = 0.0, correct = 0.0, seen = 0.0
        /// Seconds so far of training, waiting for data, and waiting for all-reduces.
        public var seconds = 0.0, dataWaitSeconds = 0.0, communicationWaitSeconds = 0.0
    }

    /// A deliberate change of recipe (`--continue-with-changes`): the step it took effect at and
    /// each changed field as `field old → new`.
    public struct Phase: Codable, Hashable, Sendable {
        /// The optimizer step the changed recipe starts at.
        public var step: Int
        /// The changes, e.g. `schedule.baseRate 0.1 → 0.01`.
        public var changes: [String]
    }

    /// The position fields the JSON carries beside `schedule.step`, as a file states them.
    struct StatedPosition: Codable, Sendable {
        var epoch: Int, batchInEpoch: Int, globalStep: Int, samplesSeen: Int, worldSize: Int, globalBatchSize: Int
    }

    /// The resolved configuration (model, data order, schedule specification, optimizer, …). Its
    /// `schedule` is the same value as `schedule`.
    public var configuration: TrainingConfiguration
    /// The learning-rate schedule with its state: `schedule.step` is the run's step counter.
    public var schedule: LearningRateSchedule
    /// The network's training-pass counter (keys dropout masks).
    public var networkStep: UInt64
    /// Metrics of every completed epoch.
    public var history: [EpochMetrics]
    /// The interrupted epoch's accumulators (nil at an epoch boundary).
    public var partialEpoch: PartialEpoch?
    /// Seconds of training and evaluation so far, over all sessions of the run.
    public var wallSeconds: Double
    /// When the checkpoint was taken (ISO 8601).
    public var savedAt: String
    /// Why: "epoch", "steps", "best", "final" or "signal".
    public var reason: String
    /// The run's deliberate recipe changes, oldest first (empty for most runs; absent in files
    /// written before it existed).
    public var phases: [Phase] = []
    /// What a decoded file stated about the position, for `inconsistency()`; nil for a state
    /// made in memory.
    var stated: StatedPosition?

    /// A state at `schedule.step` (which `configuration.schedule` takes as well).
    public init(configuration: TrainingConfiguration, schedule: LearningRateSchedule, networkStep: UInt64,
                history: [EpochMetrics], partialEpoch: PartialEpoch?, wallSeconds: Double, savedAt: String, reason: String) {
        self.configuration = configuration
        self.configuration.schedule = schedule
        self.schedule = schedule
        self.networkStep = networkStep
        self.history = history
        self.partialEpoch = partialEpoch
        self.wallSeconds = wallSeconds
        self.savedAt = savedAt
        self.reason = reason
    }

    // MARK: The position, derived from the step counter

    /// Optimizer steps taken.
    public var globalStep: Int { schedule.step }
    /// The epoch to continue, 0-based: the number of completed epochs.
    public var epoch: Int { history.count }
    /// Global batches of `epoch` already trained (0 through `stepsPerEpoch`).
    public var batchInEpoch: Int { schedule.step - history.count * schedule.stepsPerEpoch }
    /// Ranks of the run that wrote the state.
    public var worldSize: Int { configuration.worldSize }
    /// Samples per optimizer step over all ranks.
    public var globalBatchSize: Int { configuration.globalBatchSize }
    /// Training samples processed over all ranks, counting every step as a full global batch
    /// (`Int.max` if that does not fit, which validation refuses).
    public var samplesSeen: Int {
        let (product, overflow) = schedule.step.multipliedReportingOverflow(by: globalBatchSize)
        return overflow ? .max : product
    }

    // MARK: Coding

    enum CodingKeys: String, CodingKey {
        case configuration, schedule, networkStep, history, partialEpoch, wallSeconds, savedAt, reason, phases
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        schedule = try container.decode(LearningRateSchedule.self, forKey: .schedule)
        // Older files keep the configuration's copy at the step its session started from; the
        // top-level schedule is the state.
        configuration = try container.decode(TrainingConfiguration.self, forKey: .configuration)
        configuration.schedule = schedule
        networkStep = try container.decode(UInt64.self, forKey: .networkStep)
        history = try container.decode([EpochMetrics].self, forKey: .history)
        partialEpoch = try container.decodeIfPresent(PartialEpoch.self, forKey: .partialEpoch)
        wallSeconds = try container.decode(Double.self, forKey: .wallSeconds)
        savedAt = try container.decode(String.self, forKey: .savedAt)
        reason = try container.decode(String.self, forKey: .reason)
        phases = try container.decodeIfPresent([Phase].self, forKey: .phases) ?? []
        // The derived position lives beside the other keys of the same object.
        stated = try StatedPosition(from: decoder)
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(configuration, forKey: .configuration)
        try container.encode(schedule, forKey: .schedule)
        try container.encode(networkStep, forKey: .networkStep)
        try container.encode(history, forKey: .history)
        try container.encodeIfPresent(partialEpoch, forKey: .partialEpoch)
        try container.encode(wallSeconds, forKey: .wallSeconds)
        try container.encode(savedAt, forKey: .savedAt)
        try container.encode(reason, forKey: .reason)
        if !phases.isEmpty { try container.encode(phases, forKey: .phases) }
        try StatedPosition(epoch: epoch, batchInEpoch: batchInEpoch, globalStep: globalStep, samplesSeen: samplesSeen,
                           worldSize: worldSize, globalBatchSize: globalBatchSize).encode(to: encoder)
    }
}
