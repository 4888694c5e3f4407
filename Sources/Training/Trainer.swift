import Checkpoint
import Data
import Distributed
import Engine
import Foundation
import Models

/// Trains a model on CIFAR-10 or CIFAR-100 on one or more ranks. The data path reads top to bottom:
/// files → `ImageSet` (loaded once per rank) → `EpochPlan` (the epoch's global order, the same on
/// every rank) → this rank's slice of each global batch → `BatchPipeline` (augment and normalise
/// on a background thread) → `Network` forward (batch norm synchronised across ranks), loss over
/// the global batch, backward (gradient buckets all-reduced while it runs) → SGD.
public final class Trainer {
    /// The resolved configuration (normalisation, sample counts and steps per epoch filled in).
    public private(set) var configuration: TrainingConfiguration
    /// The training set.
    public let trainingSet: ImageSet
    /// The test set.
    public let testSet: ImageSet
    /// Runs each optimizer step: the network, the optimizer and the gradient all-reduce.
    public let runner: StepRunner
    /// The model with its parameters, gradients and activations.
    public var network: Network { runner.network }
    /// The optimizer and its momentum buffers.
    public var optimizer: SGD { runner.optimizer }
    /// The learning-rate schedule and its state.
    public internal(set) var schedule: LearningRateSchedule
    /// Where progress goes (silent on ranks other than 0).
    public let reporter: ProgressReporter
    /// Where rank 0 records the run's `started` and `checkpoint` events (`--events`).
    public var events: EventLog?
    /// The ranks of the run.
    public let communicator: Communicator
    let augmenter: Augmenter
    /// Optional per-step log (`--step-log`): one JSON line per optimizer step, rank 0 only.
    var stepLog: MetricsLog?
    /// Whether rank 0 writes TensorBoard event files into the run directory (`--no-tensorboard`).
    public var tensorBoard = true
    /// Rank 0's event file of this session, while `run` runs.
    var tensorBoardLog: TensorBoardLog?
    /// Where the run continues: epoch and global batch within it (0, 0 for a fresh run).
    var startEpoch = 0, startBatch = 0
    /// Metrics of completed epochs (restored on resume).
    public internal(set) var history: [EpochMetrics] = []
    /// Accumulators of the epoch in progress (restored on resume mid-epoch).
    var partial = TrainingState.PartialEpoch()
    /// The run's deliberate recipe changes (`beginPhase`), carried into every checkpoint.
    var phases: [TrainingState.Phase] = []
    /// Seconds of earlier sessions of this run.
    var earlierWallSeconds = 0.0
    /// Rank 0's checkpoint writer.
    let writer: CheckpointWriter?
    /// Set by a failed checkpoint write under `--on-checkpoint-failure stop` (rank 0's vote to stop).
    let writeFailed = StopFlag()
    /// Stall of each checkpoint on the training loop, in seconds (rank 0).
    public internal(set) var checkpointStalls: [Double] = []
    /// Ends the job when a step stops making progress (`--step-timeout`); created by `run` when
    /// the caller has not already started one.
    public var watchdog: StepWatchdog?
    /// When this session's `run` started (wall time of earlier sessions is `earlierWallSeconds`).
    var sessionStart = Date()
    /// True when the last `run` ended early on a stop request, after writing a checkpoint.
    public private(set) var stoppedEarly = false
    /// How the last `run` ended (rank 0 knows about checkpoints; other ranks report `finished`
    /// or `stoppedBySignal(nil)`).
    public private(set) var outcome = RunOutcome.finished
    /// Rank 0's run directory: lock, ownership, config.json, metrics (opened by `run` if the
    /// caller has not).
    public private(set) var directory: RunDirectory?
    /// Where the checkpoint being resumed from left the run (for `settle`, when `run` opens the directory).
    let resumePoint: ResumePoint?
    /// Rank 0's record of which checkpoints were written and whether the last one failed.
    let ledger = CheckpointLedger()
    /// Rank 0's hash of the weights training starts from (the `started` event's `weightsHash`).
    var initialWeightsHash: UInt64?

    /// Loads the data, builds the model, checks that every rank has the same configuration, and
    /// gives every rank rank 0's initial parameters.
    public init(configuration: TrainingConfiguration, communicator: Communicator = SingleProcessCommunicator(),
                reporter: ProgressReporter = ProgressReporter(), resume: ResumePoint? = nil,
                directory: RunDirectory? = nil) throws {
        var c = configuration
        self.directory = directory
        resumePoint = resume
        c.worldSize = communicator.size
        try c.validate()
        trainingSet = try ImageSet.load(directory: c.dataDirectory, split: .train, dataset: c.dataset)
        testSet = try ImageSet.load(directory: c.dataDirectory, split: .test, dataset: c.dataset)
        let normalization = c.normalization ?? Normalization.compute(from: trainingSet)
        c.normalization = normalization
        c.trainingSamples = trainingSet.count
        c.testSamples = testSet.count
        let plan = EpochPlan(sampleCount: trainingSet.count, batchSize: c.globalBatchSize, dropLast: c.dropLast,
                             seed: Self.orderSeed(c.seed), epoch: 0)
        let steps = Self.trainedBatches(plan, ranks: c.batchShares).count
        guard steps > 0 else {
            throw TrainingError.invalidOption(flag: "--batch-size", value: "\(c.batchSize)",
                                              rule: "leaves no batch of the \(trainingSet.count) training samples for \(communicator.size) rank(s)"
                                                + (c.accumulationSteps > 1 ? " × \(c.accumulationSteps) micro-batches" : ""))
        }
        c.schedule.epochs = c.epochs
        c.schedule.stepsPerEpoch = steps
        let globalBatch = c.globalBatchSize
        c.schedule.batchScaling?.globalBatch = globalBatch
        c.schedule.step = resume?.state.schedule.step ?? 0
        if let resume, resume.state.schedule.stepsPerEpoch != c.schedule.stepsPerEpoch {
            throw ResumeError.contradictingFlags(path: resume.path, fields: ["the data set (steps per epoch \(steps), checkpoint \(resume.state.schedule.stepsPerEpoch))"])
        }
        self.configuration = c
        self.communicator = communicator
        try Self.checkAgreement(c, communicator)
        schedule = c.schedule
        // Activations are allocated for the largest share a rank really trains: a batch larger than
        // the data set does not reserve memory for samples that do not exist.
        // The model and batch must fit in this rank's part of the node's available memory, or the
        // run stops with the memory it would need instead of being killed half-way.
        let largestShare = (min(c.globalBatchSize, trainingSet.count) + c.batchShares - 1) / c.batchShares
        let maxBatch = min(c.batchSize, largestShare)
        let graph = try ModelBuilder.checkedGraph(for: c.model, batch: maxBatch, threads: c.threads,
                                                  availableBytes: SystemMemory.availableBytes().map { $0 / Self.ranksOnThisNode() })
        runner = StepRunner(graph: graph, maxBatch: maxBatch, threads: c.threads, seed: c.seed, communicator: communicator,
                            batchNormSync: c.batchNormSync, bucketBytes: Int(c.bucketMegabytes * 1_048_576),
                            allReduceDataType: c.allReduceType,
                            optimizer: c.optimizer, accumulationSteps: c.accumulationSteps)
        if resume == nil, let source = c.initFrom { try Self.initialize(runner.network, from: source, communicator) }
        communicator.broadcast(runner.network.parameters.values.pointer, count: runner.network.parameters.count)
        communicator.broadcast(runner.network.buffers.values.pointer, count: runner.network.buffers.count)
        augmenter = Augmenter(options: c.augmentation, normalization: normalization, seed: Self.augmentationSeed(c.seed))
        self.reporter = communicator.isLeader ? reporter : ProgressReporter(output: { _ in })
        writer = communicator.isLeader && c.checkpoint.enabled
            ? CheckpointWriter(directory: c.runDirectory, keep: c.checkpoint.keep) : nil
        if let resume { try restore(resume) }
        if communicator.isLeader {
            initialWeightsHash = CheckpointFile.valueHash(CheckpointTensors.snapshot(of: network, momentum: nil))
        }
    }

    /// Trains for the configured epochs (from where a resumed checkpoint left off), evaluating
    /// after each. Rank 0 writes `config.json`, `metrics.jsonl` and checkpoints. Stops early, after
    /// a final checkpoint, when any rank receives SIGTERM or SIGINT. Returns the metrics of every
    /// epoch (the same on every rank).
    @discardableResult
    public func run(stepLogPath: String? = nil) throws -> [EpochMetrics] {
        if communicator.isLeader, directory == nil {
            // Called without the command line's set-up (tests, embedding): claim the directory here.
            let opened = try RunDirectory.open(configuration.runDirectory, dataDirectory: configuration.dataDirectory)
            configuration.runID = try opened.settle(resume: resumePoint, requested: configuration, resumeAuto: false, overwrite: false)
            directory = opened
        }
        if let stepLogPath { configuration.stepLogPath = stepLogPath }
        let c = configuration
        let log = try directory?.begin(c, history: history, say: reporter.line)
        try openTensorBoard()
        if communicator.isLeader, let path = c.stepLogPath {
            stepLog = try MetricsLog(path: path, keepingStepsBelow: schedule.step)
        }
        StopRequest.install()
        if watchdog == nil, let timeout = c.stepTimeout { watchdog = StepWatchdog(timeout: timeout, rank: communicator.rank) }
        watchdog?.beat("the first step")
        defer { watchdog?.stop() }
        sessionStart = Date()
        let start = sessionStart
        announceStart()
        var epoch = startEpoch
        while epoch < c.epochs {
            let finished = try trainEpoch(epoch, from: epoch == startEpoch ? startBatch : 0)
            guard var m = finished else {
                // Stopped by a signal or a failed checkpoint: save where we are and end cleanly.
                try saveCheckpoint(reason: "signal", wallSeconds: earlierWallSeconds + Date().timeIntervalSince(start), wait: true)
                stoppedEarly = true
                outcome = endOfRun(stopped: true)
                reporter.line("stopped at epoch \(epoch + 1), step \(schedule.step): " + (outcome.message ?? ""))
                return history
            }
            let evalStart = Date()
            let result = evaluate()
            m.evalSeconds = Date().timeIntervalSince(evalStart)
            m.testLoss = result.loss
            m.testAccuracy = result.accuracy
            m.wallSeconds = earlierWallSeconds + Date().timeIntervalSince(start)
            try log?.append(m)
            logToTensorBoard { try $0.epoch(m) }
            history.append(m)
            partial = TrainingState.PartialEpoch()
            reporter.line(String(format: "epoch %d/%d  lr %.4g  train loss %.4f acc %.2f%%  test loss %.4f acc %.2f%%  "
                                 + "%.1f img/s  data wait %.2f s, all-reduce wait %.2f s of %.1f s  eval %.1f s",
                                 m.epoch, c.epochs, m.lr, m.trainLoss, 100 * m.trainAccuracy, m.testLoss,
                                 100 * m.testAccuracy, m.imagesPerSecond, m.dataWaitSeconds, m.communicationWaitSeconds,
                                 m.epochSeconds, m.evalSeconds))
            // A new best test accuracy is checkpointed even when no checkpoint is due, and named `best`.
            let best = m.testAccuracy > (history.dropLast().map(\.testAccuracy).max() ?? -1)
            epoch += 1
            let last = epoch == c.epochs, due = c.checkpoint.everyEpochs > 0 && epoch % c.checkpoint.everyEpochs == 0
            if last || due || best {
                try saveCheckpoint(reason: last ? "final" : due ? "epoch" : "best",
                                   wallSeconds: earlierWallSeconds + Date().timeIntervalSince(start), wait: last, best: best)
            }
        }
        writer?.waitForPending()
        outcome = endOfRun(stopped: false)
        return history
    }

    /// One pass over the training set in the epoch's global order, starting at global batch
    /// `first`, this rank taking its share of every global batch (with accumulation, K shares:
    /// the micro-batches of the K ranks it stands in for). Returns nil when the ranks agreed to
    /// stop early (signal, or a failed checkpoint under `--on-checkpoint-failure stop`).
    func trainEpoch(_ epoch: Int, from first: Int) throws -> EpochMetrics? {
        let c = configuration
        let plan = EpochPlan(sampleCount: trainingSet.count, batchSize: c.globalBatchSize, dropLast: c.dropLast,
                             seed: Self.orderSeed(c.seed), epoch: epoch)
        let global = Array(Self.trainedBatches(plan, ranks: c.batchShares)[first...])
        let k = c.accumulationSteps
        // Rank r's micro-batches are the shares r·K ..< r·K + K: the ranks K·N ranks would give them to.
        let ranges = global.map { batch in
            (0..<k).map { Self.share(of: batch.count, rank: communicator.rank * k + $0, ranks: c.batchShares) }
        }
        let shares = zip(global, ranges).flatMap { batch, micro in
            micro.map { r in batch[(batch.startIndex + r.lowerBound)..<(batch.startIndex + r.upperBound)] }
        }
        let pipeline = BatchPipeline(set: trainingSet, batches: shares, augmenter: augmenter, epoch: epoch,
                                     capacity: network.maxBatch)
        defer { pipeline.finish() }
        runner.resetWaitTimer()
        let start = Date()
        let before = partial
        var lr = schedule.currentRate
        var b = 0
        func progress() -> TrainingState.PartialEpoch {
            var p = before
            p.seconds += Date().timeIntervalSince(start)
            p.dataWaitSeconds += pipeline.waitSeconds
            p.communicationWaitSeconds += runner.allReduceWaitSeconds
            p.lossSum = partial.lossSum; p.correct = partial.correct; p.seen = partial.seen
            return p
        }
        while b < global.count {
            lr = schedule.currentRate
            let totals = try step(from: pipeline, globalCount: global[b].count, offsets: ranges[b].map(\.lowerBound),
                                  learningRate: lr, epoch: epoch)
            watchdog?.beat("the step after global step \(schedule.step) (epoch \(epoch + 1))")
            partial.lossSum += totals.lossSum
            partial.correct += totals.correct
            partial.seen += totals.count
            b += 1
            let elapsed = Date().timeIntervalSince(start)
            reporter.update(epoch: epoch + 1, epochs: c.epochs, step: first + b, steps: first + global.count,
                            loss: partial.lossSum / partial.seen, accuracy: partial.correct / partial.seen,
                            imagesPerSecond: (partial.seen - before.seen) / elapsed, elapsed: elapsed)
            if totals.stop {
                partial = progress()
                return nil
            }
            if c.checkpoint.everySteps > 0 && schedule.step % c.checkpoint.everySteps == 0 && first + b < first + global.count {
                let snapshot = partial
                partial = progress()
                try saveCheckpoint(reason: "steps", wallSeconds: earlierWallSeconds + Date().timeIntervalSince(sessionStart), wait: false)
                partial = snapshot
            }
        }
        let p = progress()
        return EpochMetrics(epoch: epoch + 1, step: schedule.step, lr: lr, trainLoss: p.lossSum / max(1, p.seen),
                            trainAccuracy: p.correct / max(1, p.seen), testLoss: 0, testAccuracy: 0,
                            imagesPerSecond: (p.seen - 0) / max(1e-9, p.seconds), epochSeconds: p.seconds,
                            dataWaitSeconds: p.dataWaitSeconds, communicationWaitSeconds: p.communicationWaitSeconds,
                            evalSeconds: 0, wallSeconds: 0)
    }

    /// One optimizer step on this rank's share of a global batch, its micro-batches (one per
    /// offset: where each share starts in the global batch) taken from `pipeline`: forward, loss
    /// over the global batch, backward (the last micro-batch's with bucketed all-reduce), (clip),
    /// SGD. Returns the global loss sum, correct count and sample count, identical on every rank.
    func step(from pipeline: BatchPipeline, globalCount: Int, offsets: [Int], learningRate: Double,
              epoch: Int) throws -> (lossSum: Double, correct: Double, count: Double, stop: Bool) {
        let c = configuration
        var lossSum = 0.0, correct = 0.0, count = 0.0
        for (k, offset) in offsets.enumerated() {
            guard let batch = pipeline.next() else { preconditionFailure("the batch pipeline ended inside a step") }
            network.input.update(from: batch.images.pointer, count: batch.count * CIFARImage.imageBytes)
            network.context.sampleOffset = offset
            let result = batch.labels.withUnsafeBufferPointer {
                runner.forward(count: batch.count, labels: $0.baseAddress!, smoothing: c.labelSmoothing, globalCount: globalCount,
                               microBatch: k)
            }
            lossSum += result.lossSum
            correct += Double(result.correct)
            count += Double(batch.count)
            // The last micro-batch's backward waits for the collective verdicts below.
            if k < offsets.count - 1 { runner.backward(microBatch: k) }
        }
        // One small all-reduce gives the global figures and collective verdicts: NaN anywhere,
        // and whether any rank was asked to stop (signal, or rank 0's failed checkpoint write).
        let vote = StopRequest.isRequested || writeFailed.isSet ? 1.0 : 0.0
        var totals = [lossSum, correct, count, vote]
        communicator.sumAcrossRanks(&totals, count: 4)
        guard totals[0].isFinite else {
            throw TrainingError.nonFinite(what: "training loss", epoch: epoch, step: schedule.step)
        }
        do {
            runner.backward(microBatch: offsets.count - 1)
            try runner.update(learningRate: Float(learningRate), clipNorm: c.gradientClipNorm)
        } catch {
            throw TrainingError.nonFinite(what: "gradient norm", epoch: epoch, step: schedule.step)
        }
        try stepLog?.append(StepRecord(step: schedule.step, lr: learningRate, loss: totals[0] / totals[2]))
        logToTensorBoard { try $0.scalars([("train/loss", totals[0] / totals[2]), ("train/lr", learningRate)], step: schedule.step) }
        schedule.advance()
        if c.checkSyncEvery > 0 && schedule.step % c.checkSyncEvery == 0 { try checkParametersAgree() }
        return (totals[0], totals[1], totals[2], totals[3] > 0)
    }
}
