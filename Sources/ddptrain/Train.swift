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
        abstract: "Train a model on CIFAR-10.",
        discussion: """
            Defaults follow the papers' recipe: batch 64, lr 0.1 divided by 10 at 50% and 75% of \
            300 epochs, Nesterov momentum 0.9, weight decay 1e-4, random crop (padding 4) and flip.
            Writes <run-dir>/config.json and one JSON line per epoch to <run-dir>/metrics.jsonl.
            """)

    @OptionGroup var model: ModelOptions
    @OptionGroup var data: DataOptions

    @Option(name: .long, help: "Directory for config.json and metrics.jsonl (created if missing).")
    var runDir: String

    @Option(name: .long, help: "Epochs to train.")
    var epochs: Int = 300

    @Option(name: .long, help: "Samples per optimizer step.")
    var batchSize: Int = 64

    @Flag(name: .long, help: "Drop the last short batch of each epoch instead of training on it.")
    var dropLast = false

    @Option(name: .long, help: "Base learning rate.")
    var lr: Double = 0.1

    @Option(name: .long, help: "Learning-rate schedule: constant, multistep or cosine.")
    var schedule: LearningRateSchedule.Kind = .multistep

    @Option(name: .long, help: "multistep milestones: fractions of the run (0.5,0.75) or epoch numbers (150,225).")
    var milestones: String = "0.5,0.75"

    @Option(name: .long, help: "multistep factor at each milestone.")
    var gamma: Double = 0.1

    @Option(name: .long, help: "Final learning rate of the cosine schedule.")
    var minLr: Double = 0

    @Option(name: .long, help: "Epochs of linear learning-rate warm-up before the schedule (may be fractional).")
    var warmupEpochs: Double = 0

    @Option(name: .long, help: "SGD momentum.")
    var momentum: Float = 0.9

    @Flag(name: .long, inversion: .prefixedNo, help: "Nesterov momentum.")
    var nesterov = true

    @Option(name: .long, help: "L2 weight decay.")
    var weightDecay: Float = 1e-4

    @Flag(name: .long, help: "Exclude biases and batch-norm parameters from weight decay.")
    var noDecayBnBias = false

    @Option(name: .long, help: "Clip the gradient's global L2 norm to this value.")
    var clipGradNorm: Double?

    @Option(name: .long, help: "Label smoothing of the cross-entropy loss, in [0, 1).")
    var labelSmoothing: Float = 0

    @Option(name: .long, help: "Seed of weights, epoch order, augmentation and dropout.")
    var seed: UInt64 = 0

    @Option(name: .long, help: "Worker threads per rank (the engine's only source of parallelism).")
    var threads: Int = 2

    @Option(name: .long, help: "Batch-norm statistics across ranks: batch (global batch, all-reduced) or local (per rank).")
    var bnSync: BatchNormSync = .batch

    @Option(name: .long, help: "Size of a gradient all-reduce bucket in MiB.")
    var bucketMb: Double = 1

    @Option(name: .long, help: "Compare a parameter checksum across ranks every N steps and abort if they differ (0: never).")
    var checkSyncEvery: Int = 0

    @Option(name: .long, help: "Also write one JSON line per optimizer step (step, lr, global loss) to this file.")
    var stepLog: String?

    @Option(name: .long, help: ArgumentHelp("For tests and debugging: after training, write this rank's parameters and batch-norm buffers as raw float32 to PREFIX.rank<K>.", valueName: "prefix"))
    var dumpState: String?

    func run() throws {
        let communicator = Launch.communicator()
        try Launch.run(communicator) { try train(communicator) }
    }

    func train(_ communicator: Communicator) throws {
        var c = TrainingConfiguration(model: try model.configuration(), dataDirectory: data.data, runDirectory: runDir)
        c.epochs = epochs
        c.batchSize = batchSize
        c.dropLast = dropLast
        c.schedule = LearningRateSchedule(kind: schedule, baseRate: lr, milestones: try Self.parseList(milestones, flag: "--milestones"),
                                          gamma: gamma, warmupEpochs: warmupEpochs, minimumRate: minLr,
                                          epochs: epochs, stepsPerEpoch: 1)
        c.optimizer.momentum = momentum
        c.optimizer.nesterov = nesterov
        c.optimizer.weightDecay = weightDecay
        c.optimizer.decayBiasAndNorm = !noDecayBnBias
        c.gradientClipNorm = clipGradNorm
        c.labelSmoothing = labelSmoothing
        c.augmentation = try data.augmentation()
        c.seed = seed
        c.threads = threads
        c.batchNormSync = bnSync
        c.bucketMegabytes = bucketMb
        c.checkSyncEvery = checkSyncEvery
        let trainer = try Trainer(configuration: c, communicator: communicator)
        let history = try trainer.run(stepLogPath: stepLog)
        if let dumpState { try trainer.dumpState(to: "\(dumpState).rank\(communicator.rank)") }
        if communicator.isLeader, let last = history.last {
            print(String(format: "done: test accuracy %.2f%% after %d epochs; metrics in %@",
                         100 * last.testAccuracy, last.epoch, trainer.configuration.runDirectory + "/metrics.jsonl"))
        }
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
