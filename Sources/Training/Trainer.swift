import Checkpoint
import Data
import Distributed
import Engine
import Foundation
import Models

/// Trains a model on CIFAR-10 on one or more ranks. The data path reads top to bottom:
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
    /// The model with its parameters, gradients and activations.
    public let network: Network
    /// The optimizer and its momentum buffers.
    public let optimizer: SGD
    /// The learning-rate schedule and its state.
    public private(set) var schedule: LearningRateSchedule
    /// Where progress goes (silent on ranks other than 0).
    public let reporter: ProgressReporter
    /// The ranks of the run.
    public let communicator: Communicator
    let buckets: GradientBuckets
    let augmenter: Augmenter
    let pool: ComputePool
    /// Optional per-step log (`--step-log`): one JSON line per optimizer step, rank 0 only.
    var stepLog: MetricsLog?
    /// Where the run continues: epoch and global batch within it (0, 0 for a fresh run).
    var startEpoch = 0, startBatch = 0
    /// Metrics of completed epochs (restored on resume).
    public private(set) var history: [EpochMetrics] = []
    /// Accumulators of the epoch in progress (restored on resume mid-epoch).
    var partial = TrainingState.PartialEpoch()
    /// Seconds of earlier sessions of this run.
    var earlierWallSeconds = 0.0
    /// Rank 0's checkpoint writer.
    let writer: CheckpointWriter?
    /// Set by a failed checkpoint write under `--on-checkpoint-failure stop` (rank 0's vote to stop).
    let writeFailed = StopFlag()
    /// Stall of each checkpoint on the training loop, in seconds (rank 0).
    public private(set) var checkpointStalls: [Double] = []
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
        trainingSet = try ImageSet.load(directory: c.dataDirectory, split: .train)
        testSet = try ImageSet.load(directory: c.dataDirectory, split: .test)
        let normalization = c.normalization ?? Normalization.compute(from: trainingSet)
        c.normalization = normalization
        c.trainingSamples = trainingSet.count
        c.testSamples = testSet.count
        let plan = EpochPlan(sampleCount: trainingSet.count, batchSize: c.globalBatchSize, dropLast: c.dropLast,
                             seed: Self.orderSeed(c.seed), epoch: 0)
        let steps = Self.trainedBatches(plan, ranks: communicator.size).count
        guard steps > 0 else {
            throw TrainingError.invalidOption(flag: "--batch-size", value: "\(c.batchSize)",
                                              rule: "leaves no batch of the \(trainingSet.count) training samples for \(communicator.size) rank(s)")
        }
        c.schedule.epochs = c.epochs
        c.schedule.stepsPerEpoch = steps
        c.schedule.step = resume?.state.schedule.step ?? 0
        if let resume, resume.state.schedule.stepsPerEpoch != c.schedule.stepsPerEpoch {
            throw ResumeError.contradictingFlags(path: resume.path, fields: ["the data set (steps per epoch \(steps), checkpoint \(resume.state.schedule.stepsPerEpoch))"])
        }
        self.configuration = c
        self.communicator = communicator
        try Self.checkAgreement(c, communicator)
        schedule = c.schedule
        pool = ComputePool(threads: c.threads)
        // Activations are allocated for the largest share a rank really trains: a batch larger than
        // the data set does not reserve memory for samples that do not exist.
        // The model and batch must fit in this rank's part of the node's available memory, or the
        // run stops with the memory it would need instead of being killed half-way.
        let largestShare = (min(c.globalBatchSize, trainingSet.count) + communicator.size - 1) / communicator.size
        let maxBatch = min(c.batchSize, largestShare)
        let graph = try ModelBuilder.checkedGraph(for: c.model, batch: maxBatch, threads: c.threads,
                                                  availableBytes: SystemMemory.availableBytes().map { $0 / Self.ranksOnThisNode() })
        network = Network(graph: graph, maxBatch: maxBatch, pool: pool, seed: c.seed)
        communicator.broadcast(network.parameters.values.pointer, count: network.parameters.count)
        communicator.broadcast(network.buffers.values.pointer, count: network.buffers.count)
        if c.batchNormSync == .batch && communicator.size > 1 {
            network.context.statisticsReducer = communicator
        }
        buckets = GradientBuckets(network: network, communicator: communicator,
                                  bucketBytes: Int(c.bucketMegabytes * 1_048_576))
        optimizer = SGD(arena: network.parameters, configuration: c.optimizer)
        augmenter = Augmenter(options: c.augmentation, normalization: normalization, seed: Self.augmentationSeed(c.seed))
        self.reporter = communicator.isLeader ? reporter : ProgressReporter(output: { _ in })
        writer = communicator.isLeader && c.checkpoint.enabled
            ? CheckpointWriter(directory: c.runDirectory, keep: c.checkpoint.keep) : nil
        if let resume { try restore(resume) }
    }

    /// Puts the network, optimizer, schedule and progress where the checkpoint left them.
    func restore(_ resume: ResumePoint) throws {
        try resume.restore(into: network)
        try resume.load(network.parameters, into: optimizer.velocity.pointer, suffix: Self.momentumSuffix)
        let state = resume.state
        schedule = state.schedule
        network.context.step = state.networkStep
        startEpoch = state.epoch
        startBatch = state.batchInEpoch
        history = state.history
        partial = state.partialEpoch ?? TrainingState.PartialEpoch()
        earlierWallSeconds = state.wallSeconds
    }

    /// Ranks of the job on this machine (Open MPI's local size; 1 outside `mpirun`), which share
    /// its memory.
    static func ranksOnThisNode() -> Int {
        max(1, Int(ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"] ?? "") ?? 1)
    }

    /// Suffix of the optimizer's momentum tensors in a checkpoint.
    static let momentumSuffix = ".momentum_buffer"

    /// The seed of the epoch order, derived from the run's seed.
    public static func orderSeed(_ seed: UInt64) -> UInt64 { RandomStream.derive(seed, 0x6f72_6465_72) }
    /// The seed of the augmentations, derived from the run's seed.
    public static func augmentationSeed(_ seed: UInt64) -> UInt64 { RandomStream.derive(seed, 0x6175_676d) }

    /// The global batches an epoch trains on: all of the plan's, except a final one too short to
    /// give every rank at least one sample (dropped identically on every rank).
    static func trainedBatches(_ plan: EpochPlan, ranks: Int) -> [ArraySlice<Int32>] {
        (0..<plan.batchCount).map { plan.batch($0) }.filter { $0.count >= ranks }
    }

    /// Rank `rank`'s contiguous share of a global batch of `count` samples: sizes differ by at most one.
    public static func share(of count: Int, rank: Int, ranks: Int) -> Range<Int> {
        (count * rank / ranks)..<(count * (rank + 1) / ranks)
    }

    /// Stops with a message naming the differing fields when the ranks' configurations differ.
    static func checkAgreement(_ c: TrainingConfiguration, _ communicator: Communicator) throws {
        guard communicator.size > 1 else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let mine = try encoder.encode(c.sharedFields)
        let hash = FNV1a.hash(mine)
        let (low, high) = communicator.range(of: hash)
        guard low != high else { return }
        var leader = [UInt8](mine)
        communicator.broadcast(&leader)
        let differing = ConfigurationDifference.fields(Data(leader), mine)
        if differing.isEmpty {
            // This rank agrees with rank 0; a rank that differs names the fields and aborts the
            // job. Give its message time to get out before ending the job from here.
            Thread.sleep(forTimeInterval: 5)
            communicator.abort("configuration differs between ranks (see the other ranks' messages)")
        }
        communicator.abort("configuration differs from rank 0 in: " + differing.joined(separator: ", ")
                           + ". Start every rank with the same flags and the same data.")
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
        if communicator.isLeader, let path = c.stepLogPath {
            stepLog = try MetricsLog(path: path, keepingStepsBelow: schedule.step)
        }
        StopRequest.install()
        if watchdog == nil, let timeout = c.stepTimeout { watchdog = StepWatchdog(timeout: timeout, rank: communicator.rank) }
        watchdog?.beat("the first step")
        defer { watchdog?.stop() }
        sessionStart = Date()
        let start = sessionStart
        reporter.line("training \(c.model.name) (\(ModelSummary(network.graph).parameterCount) parameters) on "
                      + "\(trainingSet.count) images, testing on \(testSet.count); \(communicator.size) rank(s) × batch "
                      + "\(c.batchSize) = global batch \(c.globalBatchSize), \(schedule.stepsPerEpoch) steps/epoch, "
                      + "\(c.epochs) epochs, \(c.threads) thread(s) per rank, batch norm \(c.batchNormSync.rawValue), "
                      + "augment \(c.augmentation.description), 3×3 convolutions \(ConvolutionAlgorithm.selected.rawValue), kernels \(KernelSet.summary)"
                      + (startEpoch + startBatch > 0 ? "; resuming at epoch \(startEpoch + 1), step \(schedule.step)" : ""))
        var epoch = startEpoch
        while epoch < c.epochs {
            let finished = try trainEpoch(epoch, from: epoch == startEpoch ? startBatch : 0)
            guard var m = finished else {
                // Stopped by a signal or a failed checkpoint: save where we are and end cleanly.
                try saveCheckpoint(epoch: epoch, batchInEpoch: schedule.step - epoch * schedule.stepsPerEpoch,
                                   reason: "signal", wallSeconds: earlierWallSeconds + Date().timeIntervalSince(start), wait: true)
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
            history.append(m)
            partial = TrainingState.PartialEpoch()
            reporter.line(String(format: "epoch %d/%d  lr %.4g  train loss %.4f acc %.2f%%  test loss %.4f acc %.2f%%  "
                                 + "%.1f img/s  data wait %.2f s, all-reduce wait %.2f s of %.1f s  eval %.1f s",
                                 m.epoch, c.epochs, m.lr, m.trainLoss, 100 * m.trainAccuracy, m.testLoss,
                                 100 * m.testAccuracy, m.imagesPerSecond, m.dataWaitSeconds, m.communicationWaitSeconds,
                                 m.epochSeconds, m.evalSeconds))
            epoch += 1
            let last = epoch == c.epochs
            if last || (c.checkpoint.everyEpochs > 0 && epoch % c.checkpoint.everyEpochs == 0) {
                try saveCheckpoint(epoch: epoch, batchInEpoch: 0, reason: last ? "final" : "epoch",
                                   wallSeconds: earlierWallSeconds + Date().timeIntervalSince(start), wait: last)
            }
        }
        writer?.waitForPending()
        outcome = endOfRun(stopped: false)
        return history
    }

    /// How the run ended, judged from rank 0's checkpoint ledger: a failed last checkpoint, or a
    /// stop asked for by a failed write, makes it `checkpointFailed`.
    func endOfRun(stopped: Bool) -> RunOutcome {
        let (written, failure, lastFailed) = ledger.state
        let onDisk = written ?? (directory.flatMap { CheckpointDirectory.candidates(in: $0.path).first })
        if let failure, lastFailed || (stopped && writeFailed.isSet) {
            return .checkpointFailed(name: failure.name, reason: failure.reason, onDisk: onDisk, stopped: stopped)
        }
        return stopped ? .stoppedBySignal(checkpoint: configuration.checkpoint.enabled ? onDisk : nil) : .finished
    }

    /// One pass over the training set in the epoch's global order, starting at global batch
    /// `first`, this rank taking its share of every global batch. Returns nil when the ranks
    /// agreed to stop early (signal, or a failed checkpoint under `--on-checkpoint-failure stop`).
    func trainEpoch(_ epoch: Int, from first: Int) throws -> EpochMetrics? {
        let c = configuration
        let plan = EpochPlan(sampleCount: trainingSet.count, batchSize: c.globalBatchSize, dropLast: c.dropLast,
                             seed: Self.orderSeed(c.seed), epoch: epoch)
        let global = Array(Self.trainedBatches(plan, ranks: communicator.size)[first...])
        let ranges = global.map { Self.share(of: $0.count, rank: communicator.rank, ranks: communicator.size) }
        let shares = zip(global, ranges).map { batch, r in
            batch[(batch.startIndex + r.lowerBound)..<(batch.startIndex + r.upperBound)]
        }
        let pipeline = BatchPipeline(set: trainingSet, batches: shares, augmenter: augmenter, epoch: epoch,
                                     capacity: network.maxBatch)
        defer { pipeline.finish() }
        buckets.resetTimer()
        let start = Date()
        let before = partial
        var lr = schedule.currentRate
        var b = 0
        func progress() -> TrainingState.PartialEpoch {
            var p = before
            p.seconds += Date().timeIntervalSince(start)
            p.dataWaitSeconds += pipeline.waitSeconds
            p.communicationWaitSeconds += buckets.exposedSeconds
            p.lossSum = partial.lossSum; p.correct = partial.correct; p.seen = partial.seen
            return p
        }
        while let batch = pipeline.next() {
            lr = schedule.currentRate
            let totals = try step(batch, globalCount: global[b].count,
                                  offset: ranges[b].lowerBound,
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
                try saveCheckpoint(epoch: epoch, batchInEpoch: first + b, reason: "steps",
                                   wallSeconds: earlierWallSeconds + Date().timeIntervalSince(sessionStart), wait: false)
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

    /// One optimizer step on this rank's share of a global batch: forward, loss over the global
    /// batch, backward with bucketed all-reduce, (clip), SGD. Returns the global loss sum,
    /// correct count and sample count, identical on every rank.
    func step(_ batch: PreparedBatch, globalCount: Int, offset: Int, learningRate: Double,
              epoch: Int) throws -> (lossSum: Double, correct: Double, count: Double, stop: Bool) {
        let c = configuration
        network.input.update(from: batch.images.pointer, count: batch.count * CIFAR10.imageBytes)
        network.context.sampleOffset = offset
        network.forward(batch: batch.count, training: true)
        let result = batch.labels.withUnsafeBufferPointer {
            network.loss(labels: $0.baseAddress!, smoothing: c.labelSmoothing, normalizer: globalCount)
        }
        // One small all-reduce gives the global figures and collective verdicts: NaN anywhere,
        // and whether any rank was asked to stop (signal, or rank 0's failed checkpoint write).
        let vote = StopRequest.isRequested || writeFailed.isSet ? 1.0 : 0.0
        var totals = [result.lossSum, Double(result.correct), Double(batch.count), vote]
        communicator.sumAcrossRanks(&totals, count: 4)
        guard totals[0].isFinite else {
            throw TrainingError.nonFinite(what: "training loss", epoch: epoch, step: schedule.step)
        }
        network.zeroParameterGradients()
        network.backward()
        buckets.finish()
        if let limit = c.gradientClipNorm {
            let norm = network.parameters.gradientNorm()
            guard norm.isFinite else { throw TrainingError.nonFinite(what: "gradient norm", epoch: epoch, step: schedule.step) }
            if norm > limit { network.parameters.scaleGradients(by: Float(limit / norm)) }
        }
        optimizer.step(network.parameters, learningRate: Float(learningRate), pool: pool)
        try stepLog?.append(StepRecord(step: schedule.step, lr: learningRate, loss: totals[0] / totals[2]))
        schedule.advance()
        if c.checkSyncEvery > 0 && schedule.step % c.checkSyncEvery == 0 { try checkParametersAgree() }
        return (totals[0], totals[1], totals[2], totals[3] > 0)
    }

    /// Aborts the job when the ranks' parameters are no longer bitwise identical.
    func checkParametersAgree() throws {
        let checksum = network.parameters.checksum()
        let (low, high) = communicator.range(of: checksum)
        if low != high {
            communicator.abort("parameters diverged across ranks at step \(schedule.step) (checksum \(String(checksum, radix: 16)) "
                               + "on this rank); the ranks no longer train the same model")
        }
    }

    /// Test-set loss and accuracy, each rank evaluating a contiguous shard and the sums added, so
    /// every image counts once and the figures equal a single process's.
    public func evaluate() -> EvaluationResult {
        if configuration.batchNormSync == .local && communicator.size > 1 {
            averageRunningStatistics()
        }
        let shard = Self.share(of: testSet.count, rank: communicator.rank, ranks: communicator.size)
        let watchdog = self.watchdog
        watchdog?.beat("evaluation")
        let local = Evaluation.run(network, on: testSet, indices: shard, augmenter: augmenter) { watchdog?.beat("evaluation") }
        watchdog?.beat("the all-reduce of the evaluation results")
        var sums = [local.loss * Double(local.samples), local.accuracy * Double(local.samples), Double(local.samples)]
        communicator.sumAcrossRanks(&sums, count: 3)
        let n = max(1, sums[2])
        return EvaluationResult(loss: sums[0] / n, accuracy: sums[1] / n, samples: Int(sums[2]))
    }

    /// Replaces every rank's batch-norm running statistics by their mean over the ranks.
    public func averageRunningStatistics() {
        let buffers = network.buffers
        communicator.sumAcrossRanks(buffers.values.pointer, count: buffers.count)
        let scale = 1 / Float(communicator.size)
        for i in 0..<buffers.count { buffers.values.pointer[i] *= scale }
    }

    /// Takes a checkpoint at the current position. Every rank calls this at the same point (with
    /// local batch norm the running statistics are averaged first, a collective); rank 0
    /// snapshots the state into memory and compresses and writes it on a background thread, so
    /// training stalls only for the copy. `wait` blocks until the file is on disk.
    func saveCheckpoint(epoch: Int, batchInEpoch: Int, reason: String, wallSeconds: Double, wait: Bool) throws {
        guard configuration.checkpoint.enabled else { return }
        if configuration.batchNormSync == .local && communicator.size > 1 { averageRunningStatistics() }
        guard let writer else { return }
        let stallStart = Date()
        writer.waitForPending()
        let c = configuration
        let state = TrainingState(
            configuration: c, schedule: schedule, epoch: epoch, batchInEpoch: batchInEpoch, globalStep: schedule.step,
            samplesSeen: schedule.step * c.globalBatchSize, networkStep: network.context.step, worldSize: communicator.size,
            globalBatchSize: c.globalBatchSize, history: history, partialEpoch: batchInEpoch > 0 ? partial : nil,
            wallSeconds: wallSeconds, savedAt: ISO8601DateFormatter().string(from: Date()), reason: reason)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let metadata = try encoder.encode(state)
        let tensors = snapshotTensors()
        let name = CheckpointDirectory.fileName(epoch: epoch, globalStep: schedule.step)
        let settings = c.checkpoint
        let reporter = self.reporter, failed = writeFailed, ledger = self.ledger
        let size = SizeBox()
        let writeStart = Date()
        writer.writeInBackground(name: name, make: {
            let bytes = try CheckpointFile.encode(metadata: metadata, tensors: tensors,
                                                  softwareVersion: TrainingConfiguration.currentVersion,
                                                  level: settings.zstdLevel, shuffle: settings.shuffle)
            size.bytes = bytes.count
            return bytes
        }, completion: { result in
            ledger.record(name, result)
            switch result {
            case .success:
                reporter.line(String(format: "checkpoint %@: %.2f MiB, compressed and written in %.0f ms in the background",
                                     name, Double(size.bytes) / 1_048_576, 1000 * Date().timeIntervalSince(writeStart)))
            case .failure(let error):
                reporter.line("warning: checkpoint \(name) could not be written: \(error). Any earlier checkpoint is kept; "
                              + (settings.onFailure == .stop ? "stopping after this step (--on-checkpoint-failure stop)."
                                                             : "training continues (--on-checkpoint-failure continue)."))
                if settings.onFailure == .stop { failed.set() }
            }
        })
        let stall = Date().timeIntervalSince(stallStart)
        checkpointStalls.append(stall)
        reporter.line(String(format: "checkpoint %@ (%@): training stalled %.1f ms for the snapshot", name, reason, 1000 * stall))
        if wait { writer.waitForPending() }
    }

    /// Copies of every parameter, buffer and momentum tensor, by name.
    func snapshotTensors() -> [NamedTensor] {
        func tensors(_ arena: ParameterArena, _ values: UnsafeMutablePointer<Float>, section: String, suffix: String) -> [NamedTensor] {
            arena.slots.map { slot in
                NamedTensor(name: slot.declaration.name + suffix, shape: slot.declaration.shape, section: section,
                            values: Array(UnsafeBufferPointer(start: values + slot.offset, count: slot.declaration.count)))
            }
        }
        return tensors(network.parameters, network.parameters.values.pointer, section: "parameters", suffix: "")
            + tensors(network.buffers, network.buffers.values.pointer, section: "buffers", suffix: "")
            + tensors(network.parameters, optimizer.velocity.pointer, section: "optimizer", suffix: Self.momentumSuffix)
    }

    /// Writes the parameters and then the batch-norm buffers as raw native-endian float32 to `path`
    /// (for tests that compare ranks or runs bit for bit).
    public func dumpState(to path: String) throws {
        var data = Data(buffer: UnsafeBufferPointer(network.parameters.values.buffer))
        data.append(Data(buffer: UnsafeBufferPointer(network.buffers.values.buffer)))
        do { try data.write(to: URL(fileURLWithPath: path)) } catch {
            throw TrainingError.runDirectory(path: path, reason: "writing the state dump failed: \(error.localizedDescription)")
        }
    }
}

/// The size of a checkpoint, filled in by the background writer.
final class SizeBox: @unchecked Sendable {
    var bytes = 0
}

/// One line of the optional per-step log.
struct StepRecord: Codable {
    var step: Int
    var lr: Double
    var loss: Double
}
