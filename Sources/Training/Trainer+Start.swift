import Foundation  // String(format:)
import Distributed
import Engine
import Models

extension Trainer {
    /// Says that training begins: rank 0's start line for people, and its `started` event for
    /// scripts (which read only the event, so the line's wording is free to change).
    func announceStart() {
        let c = configuration
        reporter.line("training \(c.model.name) (\(ModelSummary(network.graph).parameterCount) parameters) on "
                      + "\(trainingSet.count) \(c.dataset) images (\(c.dataset.classes) classes), testing on \(testSet.count); \(communicator.size) rank(s) × "
                      + (c.accumulationSteps > 1 ? "\(c.accumulationSteps) accumulated micro-batches × " : "")
                      + "batch \(c.batchSize) = global batch \(c.globalBatchSize), \(schedule.stepsPerEpoch) steps/epoch, "
                      + "\(c.epochs) epochs, \(c.threads) thread(s) per rank, batch norm \(c.batchNormSync.rawValue), "
                      + (communicator.size > 1 || c.allReduceType != .fp32 ? runner.exchangeSummary + ", " : "")
                      + "augment \(c.augmentation.description), 3×3 convolutions \(ConvolutionAlgorithm.selected.rawValue), kernels \(KernelSet.summary)"
                      + (startEpoch + startBatch > 0 ? "; resuming at epoch \(startEpoch + 1), step \(schedule.step)" : ""))
        if c.batchNormSync == .node && communicator.size > 1 {
            reporter.line("batch norm over the ranks of each host: rank 0's host runs \(runner.batchNormGroup?.size ?? 1) "
                          + "of the \(communicator.size) ranks")
        }
        if communicator.isLeader, let events {
            var event = RunEvent(.started, rank: communicator.rank)
            event.model = c.model.name
            event.parameters = ModelSummary(network.graph).parameterCount
            event.worldSize = communicator.size
            event.runID = c.runID
            event.step = schedule.step
            event.weightsHash = initialWeightsHash.map { String(format: "%016llx", $0) }
            events.record(event)
        }
    }

    /// Rank 0 copies the weights of `source` (`--init-from`) into `network`; every rank learns
    /// whether that worked, so a failure ends the job on every rank instead of leaving the others
    /// waiting for the broadcast.
    static func initialize(_ network: Network, from source: String, _ communicator: Communicator) throws {
        var failure: Error?
        if communicator.isLeader {
            do { try ModelWeights.load(source).restore(into: network) } catch { failure = error }
        }
        let failed = communicator.anyRank(failure != nil)
        if let failure { throw TrainingError.initialWeights(path: source, reason: "\(failure)") }
        if failed { communicator.abort("rank 0 could not read the --init-from weights \(source)") }
    }

    /// Puts the network, optimizer, schedule and progress where the checkpoint left them.
    func restore(_ resume: ResumePoint) throws {
        try CheckpointTensors.restore(resume.tensors, from: resume.path, into: network, momentum: optimizer.velocity.pointer)
        let state = resume.state
        // The schedule stays the one `init` made from the configuration at the saved step: the
        // checkpoint's, or a deliberate continuation's new recipe.
        network.context.step = state.networkStep
        startEpoch = state.epoch
        startBatch = state.batchInEpoch
        history = state.history
        partial = state.partialEpoch ?? TrainingState.PartialEpoch()
        earlierWallSeconds = state.wallSeconds
        phases = state.phases
    }

    /// Records a deliberate change of recipe (`ResumePoint.reconcileWithChanges`) at the current
    /// step: said on rank 0's console, and kept in every later checkpoint's `phases`.
    public func beginPhase(_ changes: [String]) {
        guard !changes.isEmpty else { return }
        phases.append(TrainingState.Phase(step: schedule.step, changes: changes))
        reporter.line("continuing at step \(schedule.step) with changes: " + changes.joined(separator: ", "))
    }

    /// Records into the event file, if there is one. A failed write (a full disk, say) never ends
    /// the run, which the checkpoints and metrics.jsonl carry: it is said once, and the file is
    /// left as written so far.
    func logToTensorBoard(_ record: (TensorBoardLog) throws -> Void) {
        guard let log = tensorBoardLog else { return }
        do { try record(log) } catch {
            reporter.line("warning: \(error); no more TensorBoard events this session (training continues)")
            tensorBoardLog = nil
        }
    }

    /// Rank 0 opens this session's TensorBoard event file in the run directory (when on) and
    /// records the configuration as text at the session's first step.
    func openTensorBoard() throws {
        guard communicator.isLeader, tensorBoard, let directory else { return }
        let log = try TensorBoardLog(directory: directory.path, startingAt: schedule.step)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let json = String(decoding: try encoder.encode(configuration), as: UTF8.self)
        try log.text("config", "```json\n" + json + "\n```", step: schedule.step)
        tensorBoardLog = log
    }
}
