import Data
import Engine
import Foundation
import Models

/// Trains a model on CIFAR-10 in one process. The data path reads top to bottom:
/// files → `ImageSet` (loaded once) → `EpochPlan` (order of the epoch) → `BatchPipeline`
/// (augment and normalise on a background thread) → `Network` forward, loss, backward → SGD.
public final class Trainer {
    /// The resolved configuration (normalisation, sample counts and steps per epoch filled in).
    public private(set) var configuration: TrainingConfiguration
    /// The training set.
    public let trainingSet: ImageSet
    /// The test set.
    public let testSet: ImageSet
    /// The model with its parameters, gradients and activations.
    public let network: Network
    /// The optimizer and its momentum buffers.
    public let optimizer: SGD
    /// The learning-rate schedule and its state.
    public private(set) var schedule: LearningRateSchedule
    /// Where progress goes.
    public let reporter: ProgressReporter
    let augmenter: Augmenter
    let pool: ComputePool

    /// Loads the data, builds the model and resolves the configuration.
    public init(configuration: TrainingConfiguration, reporter: ProgressReporter = ProgressReporter()) throws {
        try configuration.validate()
        var c = configuration
        trainingSet = try ImageSet.load(directory: c.dataDirectory, split: .train)
        testSet = try ImageSet.load(directory: c.dataDirectory, split: .test)
        let normalization = c.normalization ?? Normalization.compute(from: trainingSet)
        c.normalization = normalization
        c.trainingSamples = trainingSet.count
        c.testSamples = testSet.count
        let plan = EpochPlan(sampleCount: trainingSet.count, batchSize: c.batchSize, dropLast: c.dropLast,
                             seed: Self.orderSeed(c.seed), epoch: 0)
        guard plan.batchCount > 0 else {
            throw TrainingError.invalidOption(flag: "--batch-size", value: "\(c.batchSize)",
                                              rule: "is larger than the \(trainingSet.count) training samples with --drop-last")
        }
        c.schedule.epochs = c.epochs
        c.schedule.stepsPerEpoch = plan.batchCount
        c.schedule.step = 0
        self.configuration = c
        schedule = c.schedule
        pool = ComputePool(threads: c.threads)
        network = Network(graph: try ModelBuilder.graph(for: c.model), maxBatch: c.batchSize, pool: pool, seed: c.seed)
        optimizer = SGD(arena: network.parameters, configuration: c.optimizer)
        augmenter = Augmenter(options: c.augmentation, normalization: normalization, seed: Self.augmentationSeed(c.seed))
        self.reporter = reporter
    }

    /// The seed of the epoch order, derived from the run's seed.
    public static func orderSeed(_ seed: UInt64) -> UInt64 { RandomStream.derive(seed, 0x6f72_6465_72) }
    /// The seed of the augmentations, derived from the run's seed.
    public static func augmentationSeed(_ seed: UInt64) -> UInt64 { RandomStream.derive(seed, 0x6175_676d) }

    /// Trains for the configured epochs, evaluating after each, writing `config.json` and
    /// `metrics.jsonl` to the run directory. Returns the metrics of every epoch.
    @discardableResult
    public func run() throws -> [EpochMetrics] {
        let c = configuration
        let log = try prepareRunDirectory()
        let start = Date()
        reporter.line("training \(c.model.name) (\(ModelSummary(network.graph).parameterCount) parameters) on "
                      + "\(trainingSet.count) images, testing on \(testSet.count); batch \(c.batchSize), "
                      + "\(schedule.stepsPerEpoch) steps/epoch, \(c.epochs) epochs, \(c.threads) threads, "
                      + "augment \(c.augmentation.description)")
        var history: [EpochMetrics] = []
        for epoch in 0..<c.epochs {
            var m = try trainEpoch(epoch)
            let evalStart = Date()
            let result = Evaluation.run(network, on: testSet, augmenter: augmenter)
            m.evalSeconds = Date().timeIntervalSince(evalStart)
            m.testLoss = result.loss
            m.testAccuracy = result.accuracy
            m.wallSeconds = Date().timeIntervalSince(start)
            try log.append(m)
            history.append(m)
            reporter.line(String(format: "epoch %d/%d  lr %.4g  train loss %.4f acc %.2f%%  test loss %.4f acc %.2f%%  "
                                 + "%.1f img/s  data wait %.2f s of %.1f s  eval %.1f s",
                                 m.epoch, c.epochs, m.lr, m.trainLoss, 100 * m.trainAccuracy, m.testLoss,
                                 100 * m.testAccuracy, m.imagesPerSecond, m.dataWaitSeconds, m.epochSeconds, m.evalSeconds))
        }
        return history
    }

    /// One pass over the training set in the epoch's order.
    func trainEpoch(_ epoch: Int) throws -> EpochMetrics {
        let c = configuration
        let plan = EpochPlan(sampleCount: trainingSet.count, batchSize: c.batchSize, dropLast: c.dropLast,
                             seed: Self.orderSeed(c.seed), epoch: epoch)
        let batches = (0..<plan.batchCount).map { plan.batch($0) }
        let pipeline = BatchPipeline(set: trainingSet, batches: batches, augmenter: augmenter, epoch: epoch,
                                     capacity: c.batchSize)
        defer { pipeline.finish() }
        let start = Date()
        var lossSum = 0.0, correct = 0, seen = 0, lr = schedule.currentRate
        while let batch = pipeline.next() {
            lr = schedule.currentRate
            let result = try step(batch, learningRate: lr, epoch: epoch)
            lossSum += result.lossSum
            correct += result.correct
            seen += batch.count
            let elapsed = Date().timeIntervalSince(start)
            reporter.update(epoch: epoch + 1, epochs: c.epochs, step: seen == 0 ? 0 : (seen + c.batchSize - 1) / c.batchSize,
                            steps: batches.count, loss: lossSum / Double(seen), accuracy: Double(correct) / Double(seen),
                            imagesPerSecond: Double(seen) / elapsed, elapsed: elapsed)
        }
        let seconds = Date().timeIntervalSince(start)
        return EpochMetrics(epoch: epoch + 1, step: schedule.step, lr: lr, trainLoss: lossSum / Double(max(1, seen)),
                            trainAccuracy: Double(correct) / Double(max(1, seen)), testLoss: 0, testAccuracy: 0,
                            imagesPerSecond: Double(seen) / seconds, epochSeconds: seconds,
                            dataWaitSeconds: pipeline.waitSeconds, evalSeconds: 0, wallSeconds: 0)
    }

    /// One optimizer step on a prepared batch: forward, loss, backward, (clip), SGD.
    func step(_ batch: PreparedBatch, learningRate: Double, epoch: Int) throws -> SoftmaxCrossEntropy.Result {
        let c = configuration
        network.input.update(from: batch.images.pointer, count: batch.count * CIFAR10.imageBytes)
        network.forward(batch: batch.count, training: true)
        let result = batch.labels.withUnsafeBufferPointer {
            network.loss(labels: $0.baseAddress!, smoothing: c.labelSmoothing)
        }
        guard result.lossSum.isFinite else {
            throw TrainingError.nonFinite(what: "training loss", epoch: epoch, step: schedule.step)
        }
        network.zeroParameterGradients()
        network.backward()
        if let limit = c.gradientClipNorm {
            let norm = network.parameters.gradientNorm()
            guard norm.isFinite else { throw TrainingError.nonFinite(what: "gradient norm", epoch: epoch, step: schedule.step) }
            if norm > limit { network.parameters.scaleGradients(by: Float(limit / norm)) }
        }
        optimizer.step(network.parameters, learningRate: Float(learningRate), pool: pool)
        schedule.advance()
        return result
    }

    /// Creates the run directory, writes `config.json`, and opens `metrics.jsonl`.
    func prepareRunDirectory() throws -> MetricsLog {
        let dir = configuration.runDirectory
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            throw TrainingError.runDirectory(path: dir, reason: error.localizedDescription)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        do {
            try encoder.encode(configuration).write(to: URL(fileURLWithPath: dir).appendingPathComponent("config.json"),
                                                    options: .atomic)
        } catch {
            throw TrainingError.runDirectory(path: dir, reason: "writing config.json failed: \(error.localizedDescription)")
        }
        return try MetricsLog(path: URL(fileURLWithPath: dir).appendingPathComponent("metrics.jsonl").path)
    }
}
