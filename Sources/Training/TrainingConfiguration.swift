import Data
import Distributed
import Engine
import Models

/// Everything that determines a training run, resolved from the command line and written to
/// `<run-dir>/config.json`. Two runs with equal configurations see the same samples, the same
/// augmentations and the same initial weights.
public struct TrainingConfiguration: Codable, Hashable, Sendable {
    /// The architecture.
    public var model: ModelConfiguration
    /// Directory holding the data set's files (`data_batch_1.bin` … `test_batch.bin` for
    /// CIFAR-10, `train.bin` and `test.bin` for CIFAR-100).
    public var dataDirectory: String
    /// The data set and, for CIFAR-100, the labels learnt; `model.classes` must be its class count.
    /// Files written before CIFAR-100 support have no such field and read as CIFAR-10.
    @RecordedDataset public var dataset: Dataset = .cifar10
    /// Directory for `config.json` and `metrics.jsonl`.
    public var runDirectory: String
    /// Epochs to train.
    public var epochs = 300
    /// Samples per micro-batch on each rank; the global batch is
    /// `worldSize × accumulationSteps × batchSize`.
    public var batchSize = 64
    /// Micro-batches each rank runs per optimizer step (`--accumulate-steps`), their gradients
    /// summed before the one all-reduce: nil (absent in `config.json`) for one. Each micro-batch
    /// is normalised on its own, so N ranks × K micro-batches train as N·K ranks would.
    public var accumulateSteps: Int?
    /// Whether a short last batch of an epoch is dropped (true) or trained on (false).
    public var dropLast = false
    /// Learning-rate curve (its `stepsPerEpoch` is filled in once the data set is loaded).
    public var schedule: LearningRateSchedule
    /// Momentum, Nesterov, weight decay, and whether biases and BN parameters are decayed.
    public var optimizer = SGD.Configuration()
    /// Label smoothing ε of the cross-entropy loss.
    public var labelSmoothing: Float = 0
    /// Clip the gradient's global L2 norm to this value (nil: no clipping).
    public var gradientClipNorm: Double?
    /// Augmentations of training samples.
    public var augmentation = AugmentationOptions()
    /// Seed of the weights, the epoch order, the augmentations and dropout.
    public var seed: UInt64 = 0
    /// Weights to start from instead of a random initialisation (`--init-from`): a safetensors
    /// file or a ddptrain checkpoint. Only rank 0 reads it; the others get its weights by broadcast.
    public var initFrom: String?
    /// Worker threads of the compute pool (per rank).
    public var threads = 2
    /// How batch norm computes its training statistics in a distributed run.
    public var batchNormSync = BatchNormSync.batch
    /// Size of a gradient all-reduce bucket, in MiB.
    public var bucketMegabytes = 1.0
    /// The number format gradients are exchanged in (`--allreduce-dtype`): nil (absent in
    /// `config.json`) for fp32, so that files written before the option read as fp32. It changes
    /// the gradients the optimizer sees, so a resume may change it only with
    /// `--continue-with-changes`.
    public var allReduceDataType: AllReduceDataType?
    /// Compare a checksum of the parameters across ranks every this many steps (0: never).
    public var checkSyncEvery = 0
    /// Number of ranks (processes) of the run.
    public var worldSize = 1
    /// When and how checkpoints are written.
    public var checkpoint = CheckpointSettings()
    /// Seconds a step (or an evaluation batch), collectives included, may take before the rank
    /// ends the job (nil: wait forever).
    public var stepTimeout: Double?
    /// Per-channel normalisation, computed from the training set at start-up.
    public var normalization: Normalization?
    /// Samples in the training and test sets, recorded at start-up.
    public var trainingSamples = 0, testSamples = 0
    /// The identity of the run: a random hexadecimal id given when the run starts fresh, kept by
    /// every resumed session and written into `config.json` and every checkpoint, so a run
    /// directory is known to belong to exactly one run (nil in files of versions before 0.3).
    public var runID: String?
    /// The per-step log of rank 0 (`--step-log`), as an absolute path, so a resumed session knows
    /// the file is this run's own and may continue it (nil: none).
    public var stepLogPath: String?
    /// The ddptrain version that wrote this configuration.
    public var softwareVersion = TrainingConfiguration.currentVersion

    /// The number format gradients are exchanged in (fp32 when not recorded).
    public var allReduceType: AllReduceDataType { allReduceDataType ?? .fp32 }

    /// Micro-batches per optimizer step on each rank (1 without accumulation).
    public var accumulationSteps: Int { accumulateSteps ?? 1 }

    /// The shares one global batch is cut into: a micro-batch of each rank, as many as the ranks
    /// of a run without accumulation that this one emulates.
    public var batchShares: Int { worldSize * accumulationSteps }

    /// Samples per optimizer step over all ranks and micro-batches.
    public var globalBatchSize: Int { batchSize * batchShares }

    // MARK: Which fields may differ
    //
    // The two functions below are the only places that say which settings are not the
    // computation's, the second built on the first:
    //  - rank-local: each rank's own, which ranks need not agree on (where its node keeps the data
    //    and the run directory, its threads, its step timeout, its step log);
    //  - per session: what a resumed session takes from its own flags instead of the checkpoint:
    //    the rank-local settings and the performance settings, the all-reduce bucket size and the
    //    sync-check interval (the ranks of one session must still agree on these two, which shape
    //    the collectives).

    /// Takes the rank-local settings from `other`: data and run directory, threads, step timeout
    /// and step log.
    public mutating func takeRankLocalSettings(from other: TrainingConfiguration) {
        dataDirectory = other.dataDirectory
        runDirectory = other.runDirectory
        threads = other.threads
        stepTimeout = other.stepTimeout
        stepLogPath = other.stepLogPath
    }

    /// Takes the per-session settings from `other` (the flags of a session resuming this
    /// configuration): the rank-local ones, the all-reduce bucket size and the sync-check interval.
    public mutating func takeSessionSettings(from other: TrainingConfiguration) {
        takeRankLocalSettings(from: other)
        bucketMegabytes = other.bucketMegabytes
        checkSyncEvery = other.checkSyncEvery
    }

    /// The configuration with its rank-local fields set to the defaults': what every rank of a
    /// run must agree on.
    public var sharedFields: TrainingConfiguration {
        var c = self
        c.takeRankLocalSettings(from: .defaults)
        return c
    }

    /// The version string of this build.
    public static let currentVersion = "0.3.0"

    /// A configuration with the papers' recipe: batch 64, lr 0.1 ÷10 at 50 % and 75 % of 300
    /// epochs, Nesterov momentum 0.9, weight decay 1e-4, crop and flip.
    /// What a run given no flags trains with (no data or run directory): the one place the
    /// defaults are written, which `ddptrain`'s help texts show.
    public static var defaults: TrainingConfiguration {
        let model = (try? ModelConfiguration(name: ModelConfiguration.defaultName)) ?? ModelConfiguration(family: .sparsenet, depth: 40)
        return TrainingConfiguration(model: model, dataDirectory: "", runDirectory: "")
    }

    public init(model: ModelConfiguration, dataDirectory: String, runDirectory: String) {
        self.model = model
        self.dataDirectory = dataDirectory
        self.runDirectory = runDirectory
        schedule = LearningRateSchedule(kind: .multistep, baseRate: 0.1, milestones: [0.5, 0.75], gamma: 0.1,
                                        epochs: 300, stepsPerEpoch: 1)
    }
}
