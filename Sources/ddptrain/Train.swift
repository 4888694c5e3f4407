import ArgumentParser
import Data  // ShiftFill is a flag value (ExpressibleByArgument below)
import Distributed  // the job's communicator is handed from Launch to Trainer
import Foundation  // ProcessInfo, FileManager, String(format:)
import Models  // model flags given on resume are a ModelConfiguration
import Training

/// `ddptrain train`: trains a model on CIFAR-10 or CIFAR-100, evaluating on the test set after every epoch.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model on CIFAR-10 or CIFAR-100 (one process, or every rank under mpirun).",
        discussion: """
            Defaults follow the papers' recipe: \(recipe). \
            Writes <run-dir>/config.json, one JSON line per epoch to <run-dir>/metrics.jsonl, and \
            checkpoints. With --resume the checkpoint's configuration is used; flags given \
            explicitly must agree with it (apart from node-local and performance settings).
            """)

    @OptionGroup var model: ModelOptions
    @OptionGroup var data: DataOptions

    @Option(name: .long, help: "Directory for config.json, metrics.jsonl and checkpoints (created if missing). It belongs to one run: a new run refuses a directory that holds another.")
    var runDir: String

    @Flag(name: .long, help: "Start a new run in a --run-dir that holds another: that run's files are moved into <run-dir>/replaced-<time>/ (nothing is deleted).")
    var overwrite = false

    @Option(name: .long, help: "Epochs to train (default: \(defaults.epochs)).")
    var epochs: Int?

    @Option(name: .long, help: "Samples per optimizer step on each rank (per micro-batch with --accumulate-steps); the global batch is ranks × accumulate steps × this (default: \(defaults.batchSize)).")
    var batchSize: Int?

    @Option(name: .long, help: "Micro-batches per optimizer step on each rank, their gradients summed before the one all-reduce; each micro-batch is batch-normalised on its own, so N ranks train as N·K ranks would (default: 1).")
    var accumulateSteps: Int?

    @Flag(name: .long, inversion: .prefixedNo, help: "Drop the last short batch of each epoch (default: train on it).")
    var dropLast: Bool?

    @Option(name: .long, help: "Base learning rate (default: \(number(defaults.schedule.baseRate))).")
    var lr: Double?

    @Option(name: .long, help: "Learning-rate schedule: constant, multistep, cosine or inverse-time (default: \(defaults.schedule.kind.rawValue)).")
    var schedule: LearningRateSchedule.Kind?

    @Option(name: .long, help: "multistep milestones: fractions of the run (0.5,0.75) or epoch numbers (150,225) (default: \(defaults.schedule.milestones.map(number).joined(separator: ","))).")
    var milestones: String?

    @Option(name: .long, help: "multistep factor at each milestone (default: \(number(defaults.schedule.gamma))).")
    var gamma: Double?

    @Option(name: .long, help: "Final learning rate of the cosine schedule (default: \(number(defaults.schedule.minimumRate))).")
    var minLr: Double?

    @Option(name: .long, help: "inverse-time decay per optimizer step, Keras' legacy decay: lr = base / (1 + decay · step).")
    var decay: Double?

    @Option(name: .long, help: "Epochs of linear learning-rate warm-up before the schedule, may be fractional; with --lr-scaling it ramps from the reference batch's rate to the scaled one (default: \(number(defaults.schedule.warmupEpochs))).")
    var warmupEpochs: Double?

    @Option(name: .long, help: "Scale the learning rate with the global batch: linear (× global / reference batch, Goyal et al.) or sqrt (× its square root) (default: no scaling).")
    var lrScaling: BatchScaling.Rule?

    @Option(name: .long, help: "The global batch --lr is meant for, with --lr-scaling (default: 64).")
    var referenceBatch: Int?

    @Option(name: .long, help: "The optimizer: sgd, or lars (SGD with LARS' layer-wise trust ratio, You et al. 2017, for very large batches) (default: sgd).")
    var optimizer: OptimizerKind?

    @Option(name: .long, help: "LARS' trust coefficient η, with --optimizer lars (default: \(number(Double(OptimizerKind.defaultTrust)))).")
    var larsTrust: Float?

    @Option(name: .long, help: "SGD momentum (default: \(number(defaults.optimizer.momentum))).")
    var momentum: Float?

    @Flag(name: .long, inversion: .prefixedNo, help: "Nesterov momentum (default: \(onOff(defaults.optimizer.nesterov))).")
    var nesterov: Bool?

    @Option(name: .long, help: "L2 weight decay (default: \(number(defaults.optimizer.weightDecay))).")
    var weightDecay: Float?

    @Flag(name: .long, inversion: .prefixedNo, help: "Exclude biases and batch-norm parameters from weight decay (default: \(onOff(!defaults.optimizer.decayBiasAndNorm))).")
    var noDecayBnBias: Bool?

    @Option(name: .long, help: "Clip the gradient's global L2 norm to this value (default: no clipping).")
    var clipGradNorm: Double?

    @Option(name: .long, help: "Label smoothing of the cross-entropy loss, in [0, 1) (default: \(number(defaults.labelSmoothing))).")
    var labelSmoothing: Float?

    @Option(name: .long, help: "Seed of weights, epoch order, augmentation and dropout (default: \(defaults.seed)).")
    var seed: UInt64?

    @Option(name: .long, help: ArgumentHelp("Start from these weights instead of a random initialisation: a safetensors file (from ddptrain export, or the state_dict of Scripts/ddptrain_torch.py's model saved by PyTorch) or a ddptrain checkpoint; every tensor's name and shape must be the model's.", valueName: "file"))
    var initFrom: String?

    @Option(name: .long, help: "Worker threads per rank, the engine's only source of parallelism (default: \(defaults.threads)).")
    var threads: Int?

    @Option(name: .long, help: ArgumentHelp("Batch-norm statistics across ranks: batch (global batch, all-reduced), local (per rank), group:K (groups of K consecutive ranks; K must divide the ranks) or node (the ranks of each host) (default: \(defaults.batchNormSync.rawValue)).", valueName: "mode"),
            transform: { try BatchNormSync(parsing: $0) })
    var bnSync: BatchNormSync?

    @Option(name: .long, help: "Size of a gradient all-reduce bucket in MiB (default: \(number(defaults.bucketMegabytes))).")
    var bucketMb: Double?

    @Option(name: .long, help: ArgumentHelp("Number format of the gradient all-reduce: fp32, or bf16 (bfloat16, half the bytes; pairs added in float32; a single process rounds its gradients the same way) (default: fp32).", valueName: "type"))
    var allreduceDtype: AllReduceDataType?

    @Option(name: .long, help: "Compare a parameter checksum across ranks every N steps and abort if they differ (default: \(defaults.checkSyncEvery), never).")
    var checkSyncEvery: Int?

    @Option(name: .long, help: "End the whole job when a step (collectives included) or an evaluation batch takes longer than this many seconds (default: no limit).")
    var stepTimeout: Double?

    @OptionGroup var checkpoints: CheckpointOptions

    @Flag(name: .long, help: "Write no TensorBoard event file (by default rank 0 writes <run-dir>/events.out.tfevents.*: per-step loss and lr, per-epoch metrics, the configuration).")
    var noTensorboard = false

    @Option(name: .long, help: "Also write one JSON line per optimizer step (step, lr, global loss) to this file.")
    var stepLog: String?

    @Option(name: .long, help: ArgumentHelp("Append the run's events (started, checkpoint, stopped, aborted) as JSON lines to this file, for supervisors and scripts (Docs/cli.md).", valueName: "file"))
    var events: String?

    @Option(name: .long, help: ArgumentHelp("For tests and debugging: after training, write this rank's parameters and batch-norm buffers as raw float32 to PREFIX.rank<K>.", valueName: "prefix"))
    var dumpState: String?

    func run() throws {
        // Watch start-up too: MPI's wire-up with an unreachable node, or a peer that never
        // reaches the resume broadcast or the configuration check, would otherwise hang this rank.
        let launchRank = Int(ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_RANK"] ?? "") ?? 0
        let watchdog = stepTimeout.map { StepWatchdog(timeout: $0, rank: launchRank) }
        watchdog?.beat("start-up (MPI initialisation, reading the checkpoint, checking that all ranks agree)")
        // Flags alone are checked before anything touches the disk or starts MPI.
        let requested = try requestedConfiguration()
        // Every rank appends to the events file: rank 0 the run's events, any rank its own abort.
        let eventLog = try events.map { try EventLog(path: $0, dataDirectory: data.data, runDirectory: runDir) }
        watchdog?.events = eventLog
        let communicator = Launch.communicator()
        var outcome = RunOutcome.finished
        try Launch.run(communicator, exitStatus: { ExitStatus.of($0).rawValue }) {
            do {
                outcome = try train(requested, communicator, watchdog: watchdog, events: eventLog)
            } catch {
                var event = RunEvent(.aborted, rank: communicator.rank)
                event.reason = "error"
                event.exitStatus = ExitStatus.of(error).rawValue
                event.message = "\(error)"
                eventLog?.record(event)
                throw error
            }
        }
        if let message = outcome.message, communicator.isLeader || outcome != .finished {
            if case .stoppedBySignal = outcome { print(message) } else { printError(message) }
        }
        let status: ExitStatus
        switch outcome {
        case .finished: status = .success
        case .stoppedBySignal: status = .stoppedBySignal
        case .checkpointFailed: status = .checkpointFailed
        }
        if communicator.isLeader, let eventLog {
            var event = RunEvent(.stopped, rank: communicator.rank)
            event.reason = status == .success ? "finished" : status == .stoppedBySignal ? "signal" : "checkpoint-failed"
            event.exitStatus = status.rawValue
            eventLog.record(event)
        }
        if status != .success { throw ExitCode(status.rawValue) }
    }

    /// The configuration the flags describe on their own (the papers' defaults for the rest),
    /// validated, with flags that would change nothing refused.
    func requestedConfiguration() throws -> TrainingConfiguration {
        if overwrite && checkpoints.resume == "auto" {
            throw ValidationError("--overwrite starts a new run, --resume auto continues the directory's run: give one of them")
        }
        var c = TrainingConfiguration(model: try model.configuration(), dataDirectory: data.data, runDirectory: runDir)
        c = try apply(to: c, model: nil)
        c.checkpoint = try checkpoints.settings(existing: nil)
        if let stepTimeout { c.stepTimeout = stepTimeout }
        // The number of ranks is known once MPI has started, and Trainer checks the rules that
        // depend on it then (--bn-sync group:K must divide it); the flags alone are checked for
        // a world of one group.
        c.worldSize = c.batchNormSync.ranksPerGroup ?? 1
        try c.validate()
        c.worldSize = 1
        if checkpoints.resume == nil { try refuseUnusedFlags(c) }
        return c
    }

    /// Every flag must change what runs: a flag whose setting the chosen schedule, augmentation
    /// or checkpointing does not use is refused, naming what would use it. (Model flags follow
    /// the same rule in `ModelOptions`.)
    func refuseUnusedFlags(_ c: TrainingConfiguration) throws {
        let kind = c.schedule.kind
        if milestones != nil && kind != .multistep { throw ValidationError("--milestones: only --schedule multistep has milestones (the schedule is \(kind.rawValue))") }
        if gamma != nil && kind != .multistep { throw ValidationError("--gamma: only --schedule multistep uses it (the schedule is \(kind.rawValue))") }
        if minLr != nil && kind != .cosine { throw ValidationError("--min-lr: only --schedule cosine uses it (the schedule is \(kind.rawValue))") }
        if checkpoints.continueWithChanges && checkpoints.resume == nil { throw ValidationError("--continue-with-changes continues a checkpoint: add --resume") }
        if referenceBatch != nil && c.schedule.batchScaling == nil { throw ValidationError("--reference-batch: only --lr-scaling uses it (add --lr-scaling linear or sqrt)") }
        if larsTrust != nil && c.optimizer.larsTrust == nil { throw ValidationError("--lars-trust: only --optimizer lars uses it") }
        if decay != nil && kind != .inverseTime { throw ValidationError("--decay: only --schedule inverse-time uses it (the schedule is \(kind.rawValue))") }
        let a = c.augmentation
        if data.cropPadding != nil && !a.crop { throw ValidationError("--crop-padding: the augmentation (\(a.description)) has no crop; add crop to --augment") }
        if (data.shift != nil || data.shiftFill != nil) && !a.shift {
            throw ValidationError("--shift and --shift-fill: the augmentation (\(a.description)) has no shift; add shift to --augment")
        }
        if !c.checkpoint.enabled, checkpoints.givesSettings {
            throw ValidationError("--no-checkpoints: the other checkpoint flags given (--checkpoint-every…, --keep, --zstd-level, --shuffle, --on-checkpoint-failure) would do nothing")
        }
    }

    func train(_ requested: TrainingConfiguration, _ communicator: Communicator, watchdog: StepWatchdog?,
               events: EventLog?) throws -> RunOutcome {
        let directory = communicator.isLeader ? try RunDirectory.open(runDir, dataDirectory: data.data) : nil
        do {
            if let dumpState {
                if dumpState.hasSuffix("/") || FileManager.default.fileExists(atPath: dumpState) {
                    throw RunDirectoryError.output(flag: "--dump-state", path: dumpState,
                                                   reason: "is a prefix of file names (PREFIX.rank<K> is written); give one that ends in a name, not a directory")
                }
                try PathCheck.checkNewFile("\(dumpState).rank\(communicator.rank)", flag: "--dump-state",
                                           dataDirectory: data.data, runDirectory: runDir)
            }
            let resume = try ResumePoint.find(checkpoints.resume, runDirectory: runDir, runID: directory?.occupant?.runID,
                                              communicator: communicator)
            var c = requested, changes: [String] = []
            c.worldSize = communicator.size
            if let resume {
                c = resume.state.configuration
                c.dataDirectory = data.data
                c.runDirectory = runDir
                c = try apply(to: c, model: model.isGiven ? try model.configuration() : nil)
                (c, changes) = checkpoints.continueWithChanges
                    ? try resume.reconcileWithChanges(c, worldSize: communicator.size, explicitBatchSize: batchSize,
                                                      explicitBatchNormSync: bnSync)
                    : (try resume.reconcile(c, worldSize: communicator.size, explicitBatchSize: batchSize,
                                            explicitBatchNormSync: bnSync), [])
                c.checkpoint = try checkpoints.settings(existing: resume.state.configuration.checkpoint)
                if let stepTimeout { c.stepTimeout = stepTimeout }
                try c.validate()
            }
            try refuseUnusedFlags(c)
            // Rank 0 decides which run the directory holds; every rank learns its id.
            c.runID = communicator.leaders(try directory?.settle(resume: resume, requested: c,
                                                                 resumeAuto: checkpoints.resume == "auto", overwrite: overwrite) ?? "")
            if let directory, let stepLog {
                c.stepLogPath = try directory.checkStepLog(stepLog, runID: c.runID, dataDirectory: data.data)
            }
            let trainer = try Trainer(configuration: c, communicator: communicator, resume: resume, directory: directory)
            trainer.watchdog = watchdog
            trainer.events = events
            trainer.tensorBoard = !noTensorboard
            trainer.beginPhase(changes)
            let history = try trainer.run()
            // The dump is of a finished run's state (a stopped run is continued, not compared).
            if let dumpState, trainer.outcome == .finished { try trainer.dumpState(to: "\(dumpState).rank\(communicator.rank)") }
            if communicator.isLeader, trainer.outcome == .finished, let last = history.last {
                print(String(format: "done: test accuracy %.2f%% after %d epochs; metrics in %@",
                             100 * last.testAccuracy, last.epoch, trainer.configuration.runDirectory + "/metrics.jsonl"))
            }
            return trainer.outcome
        } catch {
            directory?.abandon()
            throw error
        }
    }

    /// `c` with every explicitly given flag applied.
    func apply(to base: TrainingConfiguration, model: ModelConfiguration?) throws -> TrainingConfiguration {
        var c = base
        if data.choice.isGiven { c.dataset = try data.choice.choice(base: c.dataset) }
        if let model { c.model = model }
        // The model's outputs are the data set's classes (model flags cannot set them).
        c.model.classes = c.dataset.classes
        if let epochs { c.epochs = epochs }
        if let initFrom { c.initFrom = initFrom }
        if let batchSize { c.batchSize = batchSize }
        if let accumulateSteps { c.accumulateSteps = accumulateSteps == 1 ? nil : accumulateSteps }
        if let dropLast { c.dropLast = dropLast }
        if let lr { c.schedule.baseRate = lr }
        if let schedule { c.schedule.kind = schedule }
        if let milestones { c.schedule.milestones = try Self.parseList(milestones, flag: "--milestones") }
        if let gamma { c.schedule.gamma = gamma }
        if let minLr { c.schedule.minimumRate = minLr }
        if let decay { c.schedule.decay = decay }
        if let warmupEpochs { c.schedule.warmupEpochs = warmupEpochs }
        if let lrScaling {
            // The global batch is the run's, filled in at start-up; a resume keeps the recorded one.
            c.schedule.batchScaling = BatchScaling(rule: lrScaling, referenceBatch: referenceBatch ?? c.schedule.batchScaling?.referenceBatch ?? 64,
                                                   globalBatch: c.schedule.batchScaling?.globalBatch ?? 0)
        } else if let referenceBatch, c.schedule.batchScaling != nil {
            c.schedule.batchScaling?.referenceBatch = referenceBatch
        }
        if let optimizer { c.optimizer.larsTrust = optimizer == .lars ? (larsTrust ?? c.optimizer.larsTrust ?? OptimizerKind.defaultTrust) : nil }
        if let larsTrust, optimizer == nil, c.optimizer.larsTrust != nil { c.optimizer.larsTrust = larsTrust }
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
        if let allreduceDtype { c.allReduceDataType = allreduceDtype == .fp32 ? nil : allreduceDtype }
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
extension ShiftFill: ExpressibleByArgument {}
extension BatchScaling.Rule: ExpressibleByArgument {}
extension AllReduceDataType: ExpressibleByArgument {}

/// The optimizers `--optimizer` names: both are `SGD`, LARS with a trust coefficient.
enum OptimizerKind: String, ExpressibleByArgument, CaseIterable {
    /// Plain SGD with (Nesterov) momentum.
    case sgd
    /// SGD with LARS' layer-wise trust ratio.
    case lars

    /// LARS' trust coefficient when `--lars-trust` is not given (You et al. use 0.001).
    static let defaultTrust: Float = 0.001
}

/// The defaults `train`'s help shows, from the configuration that owns them.
private var defaults: TrainingConfiguration { TrainingConfiguration.defaults }

/// The default recipe in a sentence for the command's discussion, from `TrainingConfiguration.defaults`.
private var recipe: String {
    let d = defaults, s = d.schedule, o = d.optimizer
    let steps = s.milestones.map { number(100 * $0) + "%" }.joined(separator: " and ")
    return "batch \(d.batchSize), lr \(number(s.baseRate)) multiplied by \(number(s.gamma)) at \(steps) of \(d.epochs) epochs, "
        + (o.nesterov ? "Nesterov " : "") + "momentum \(number(o.momentum)), weight decay \(number(o.weightDecay)), "
        + "augmentation \(d.augmentation.description)"
}
