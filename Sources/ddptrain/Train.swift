import ArgumentParser
import Data
import Distributed
import Engine
import Foundation
import Models
import Training

/// `ddptrain train`: trains a model on CIFAR-10, evaluating on the test set after every epoch.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model on CIFAR-10 (one process, or every rank under mpirun).",
        discussion: """
            Defaults follow the papers' recipe: batch 64, lr 0.1 divided by 10 at 50% and 75% of \
            300 epochs, Nesterov momentum 0.9, weight decay 1e-4, random crop (padding 4) and flip. \
            Writes <run-dir>/config.json, one JSON line per epoch to <run-dir>/metrics.jsonl, and \
            checkpoints. With --resume the checkpoint's configuration is used; flags given \
            explicitly must agree with it (apart from node-local and performance settings).
            """)

    @OptionGroup var model: ModelOptions
    @OptionGroup var data: DataOptions

    @Option(name: .long, help: "Directory for config.json, metrics.jsonl and checkpoints (created if missing).")
    var runDir: String

    @Option(name: .long, help: "Epochs to train (default: 300).")
    var epochs: Int?

    @Option(name: .long, help: "Samples per optimizer step on each rank; the global batch is ranks × this (default: 64).")
    var batchSize: Int?

    @Flag(name: .long, inversion: .prefixedNo, help: "Drop the last short batch of each epoch (default: train on it).")
    var dropLast: Bool?

    @Option(name: .long, help: "Base learning rate (default: 0.1).")
    var lr: Double?

    @Option(name: .long, help: "Learning-rate schedule: constant, multistep or cosine (default: multistep).")
    var schedule: LearningRateSchedule.Kind?

    @Option(name: .long, help: "multistep milestones: fractions of the run (0.5,0.75) or epoch numbers (150,225) (default: 0.5,0.75).")
    var milestones: String?

    @Option(name: .long, help: "multistep factor at each milestone (default: 0.1).")
    var gamma: Double?

    @Option(name: .long, help: "Final learning rate of the cosine schedule (default: 0).")
    var minLr: Double?

    @Option(name: .long, help: "Epochs of linear learning-rate warm-up before the schedule, may be fractional (default: 0).")
    var warmupEpochs: Double?

    @Option(name: .long, help: "SGD momentum (default: 0.9).")
    var momentum: Float?

    @Flag(name: .long, inversion: .prefixedNo, help: "Nesterov momentum (default: on).")
    var nesterov: Bool?

    @Option(name: .long, help: "L2 weight decay (default: 1e-4).")
    var weightDecay: Float?

    @Flag(name: .long, inversion: .prefixedNo, help: "Exclude biases and batch-norm parameters from weight decay (default: off).")
    var noDecayBnBias: Bool?

    @Option(name: .long, help: "Clip the gradient's global L2 norm to this value (default: no clipping).")
    var clipGradNorm: Double?

    @Option(name: .long, help: "Label smoothing of the cross-entropy loss, in [0, 1) (default: 0).")
    var labelSmoothing: Float?

    @Option(name: .long, help: "Seed of weights, epoch order, augmentation and dropout (default: 0).")
    var seed: UInt64?

    @Option(name: .long, help: "Worker threads per rank, the engine's only source of parallelism (default: 2).")
    var threads: Int?

    @Option(name: .long, help: "Batch-norm statistics across ranks: batch (global batch, all-reduced) or local (per rank) (default: batch).")
    var bnSync: BatchNormSync?

    @Option(name: .long, help: "Size of a gradient all-reduce bucket in MiB (default: 1).")
    var bucketMb: Double?

    @Option(name: .long, help: "Compare a parameter checksum across ranks every N steps and abort if they differ (default: 0, never).")
    var checkSyncEvery: Int?

    @Option(name: .long, help: "End the whole job when a step (collectives included) or an evaluation batch takes longer than this many seconds (default: no limit).")
    var stepTimeout: Double?

    @OptionGroup var checkpoints: CheckpointOptions

    @Option(name: .long, help: "Also write one JSON line per optimizer step (step, lr, global loss) to this file.")
    var stepLog: String?

    @Option(name: .long, help: ArgumentHelp("For tests and debugging: after training, write this rank's parameters and batch-norm buffers as raw float32 to PREFIX.rank<K>.", valueName: "prefix"))
    var dumpState: String?

    func run() throws {
        // Watch start-up too: MPI's wire-up with an unreachable node, or a peer that never
        // reaches the resume broadcast or the configuration check, would otherwise hang this rank.
        let launchRank = Int(ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_RANK"] ?? "") ?? 0
        let watchdog = stepTimeout.map { StepWatchdog(timeout: $0, rank: launchRank) }
        watchdog?.beat("start-up (MPI initialisation, reading the checkpoint, checking that all ranks agree)")
        let communicator = Launch.communicator()
        try Launch.run(communicator) { try train(communicator, watchdog: watchdog) }
    }

    func train(_ communicator: Communicator, watchdog: StepWatchdog?) throws {
        let resume = try ResumePoint.find(checkpoints.resume, runDirectory: runDir, communicator: communicator)
        var c: TrainingConfiguration
        if let resume {
            c = resume.state.configuration
            c.dataDirectory = data.data
            c.runDirectory = runDir
            let requested = try apply(to: c, model: model.isGiven ? try model.configuration() : nil)
            c = try resume.reconcile(requested, worldSize: communicator.size, explicitBatchSize: batchSize)
        } else {
            c = TrainingConfiguration(model: try model.configuration(), dataDirectory: data.data, runDirectory: runDir)
            c = try apply(to: c, model: nil)
        }
        c.checkpoint = try checkpoints.settings(existing: resume?.state.configuration.checkpoint)
        if let stepTimeout { c.stepTimeout = stepTimeout }
        let trainer = try Trainer(configuration: c, communicator: communicator, resume: resume)
        trainer.watchdog = watchdog
        let history = try trainer.run(stepLogPath: stepLog)
        if let dumpState { try trainer.dumpState(to: "\(dumpState).rank\(communicator.rank)") }
        if communicator.isLeader, !trainer.stoppedEarly, let last = history.last {
            print(String(format: "done: test accuracy %.2f%% after %d epochs; metrics in %@",
                         100 * last.testAccuracy, last.epoch, trainer.configuration.runDirectory + "/metrics.jsonl"))
        }
    }

    /// `c` with every explicitly given flag applied.
    func apply(to base: TrainingConfiguration, model: ModelConfiguration?) throws -> TrainingConfiguration {
        var c = base
        if let model { c.model = model }
        if let epochs { c.epochs = epochs }
        if let batchSize { c.batchSize = batchSize }
        if let dropLast { c.dropLast = dropLast }
        if let lr { c.schedule.baseRate = lr }
        if let schedule { c.schedule.kind = schedule }
        if let milestones { c.schedule.milestones = try Self.parseList(milestones, flag: "--milestones") }
        if let gamma { c.schedule.gamma = gamma }
        if let minLr { c.schedule.minimumRate = minLr }
        if let warmupEpochs { c.schedule.warmupEpochs = warmupEpochs }
        if let momentum { c.optimizer.momentum = momentum }
        if let nesterov { c.optimizer.nesterov = nesterov }
        if let weightDecay { c.optimizer.weightDecay = weightDecay }
        if let noDecayBnBias { c.optimizer.decayBiasAndNorm = !noDecayBnBias }
        if let clipGradNorm { c.gradientClipNorm = clipGradNorm }
        if let labelSmoothing { c.labelSmoothing = labelSmoothing }
        if data.isGiven { c.augmentation = try data.augmentation() }
        if let seed { c.seed = seed }
        if let threads { c.threads = threads }
        if let bnSync { c.batchNormSync = bnSync }
        if let bucketMb { c.bucketMegabytes = bucketMb }
        if let checkSyncEvery { c.checkSyncEvery = checkSyncEvery }
        return c
    }

    /// Parses `0.5,0.75` into numbers, naming the flag when it cannot.
    static func parseList(_ text: String, flag: String) throws -> [Double] {
        if text.trimmingCharacters(in: .whitespaces).isEmpty { return [] }
        return try text.split(separator: ",").map {
            guard let v = Double($0.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("\(flag): '\($0)' is not a number (expected e.g. 0.5,0.75 or 150,225)")
            }
            return v
        }
    }
}

extension LearningRateSchedule.Kind: ExpressibleByArgument {}
extension BatchNormSync: ExpressibleByArgument {}
extension ShiftFill: ExpressibleByArgument {}
