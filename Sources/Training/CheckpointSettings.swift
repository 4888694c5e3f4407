/// When and how rank 0 writes checkpoints.
public struct CheckpointSettings: Codable, Hashable, Sendable {
    /// What the run does when a checkpoint cannot be written (disk full, I/O error).
    public enum FailurePolicy: String, Codable, Hashable, Sendable, CaseIterable {
        /// Report it, keep the previous checkpoint, and keep training.
        case `continue`
        /// Report it, keep the previous checkpoint, and stop all ranks after the current step.
        case stop
    }

    /// Write after every this many epochs (0: not by epoch).
    public var everyEpochs = 1
    /// Write after every this many optimizer steps (0: not by step).
    public var everySteps = 0
    /// Checkpoints kept in the run directory (older ones are deleted after a successful write).
    public var keep = 3
    /// zstd compression level.
    public var zstdLevel: Int32 = 3
    /// Byte-shuffle the float32 payload before compression (groups bytes of equal significance).
    public var shuffle = true
    /// What a failed write does to the run.
    public var onFailure = FailurePolicy.continue
    /// False disables checkpoints altogether.
    public var enabled = true

    /// The defaults: every epoch, keep 3, zstd level 3, shuffled, continue on failure.
    public init() {}
}
