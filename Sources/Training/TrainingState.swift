import Foundation

/// Everything a checkpoint holds besides the tensors: the run's configuration and exactly where
/// it stands, so a resumed run continues as if it had never stopped. Encoded as the checkpoint's
/// JSON metadata.
public struct TrainingState: Codable, Sendable {
    /// Accumulators of an epoch interrupted mid-way, so its metrics line covers the whole epoch.
    public struct PartialEpoch: Codable, Hashable, Sendable {
        /// Sums over the global samples trained so far in the epoch.
        public var lossSum = 0.0, correct = 0.0, seen = 0.0
        /// Seconds so far of training, waiting for data, and waiting for all-reduces.
        public var seconds = 0.0, dataWaitSeconds = 0.0, communicationWaitSeconds = 0.0
    }

    /// The resolved configuration (model, data order, schedule specification, optimizer, …).
    public var configuration: TrainingConfiguration
    /// The learning-rate schedule with its state (step, hence epoch, current rate, warm-up progress).
    public var schedule: LearningRateSchedule
    /// The epoch to continue, 0-based.
    public var epoch: Int
    /// Global batches of `epoch` already trained.
    public var batchInEpoch: Int
    /// Optimizer steps taken.
    public var globalStep: Int
    /// Training samples processed, over all ranks.
    public var samplesSeen: Int
    /// The network's training-pass counter (keys dropout masks).
    public var networkStep: UInt64
    /// Ranks and global batch of the run that wrote the checkpoint.
    public var worldSize: Int, globalBatchSize: Int
    /// Metrics of every completed epoch.
    public var history: [EpochMetrics]
    /// The interrupted epoch's accumulators (nil at an epoch boundary).
    public var partialEpoch: PartialEpoch?
    /// Seconds of training and evaluation so far, over all sessions of the run.
    public var wallSeconds: Double
    /// When the checkpoint was taken (ISO 8601).
    public var savedAt: String
    /// Why: "epoch", "steps", "final" or "signal".
    public var reason: String
}
