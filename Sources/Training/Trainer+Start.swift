import Engine
import Models

extension Trainer {
    /// Says that training begins: rank 0's start line for people, and its `started` event for
    /// scripts (which read only the event, so the line's wording is free to change).
    func announceStart() {
        let c = configuration
        reporter.line("training \(c.model.name) (\(ModelSummary(network.graph).parameterCount) parameters) on "
                      + "\(trainingSet.count) images, testing on \(testSet.count); \(communicator.size) rank(s) × batch "
                      + "\(c.batchSize) = global batch \(c.globalBatchSize), \(schedule.stepsPerEpoch) steps/epoch, "
                      + "\(c.epochs) epochs, \(c.threads) thread(s) per rank, batch norm \(c.batchNormSync.rawValue), "
                      + "augment \(c.augmentation.description), 3×3 convolutions \(ConvolutionAlgorithm.selected.rawValue), kernels \(KernelSet.summary)"
                      + (startEpoch + startBatch > 0 ? "; resuming at epoch \(startEpoch + 1), step \(schedule.step)" : ""))
        if communicator.isLeader, let events {
            var event = RunEvent(.started, rank: communicator.rank)
            event.model = c.model.name
            event.parameters = ModelSummary(network.graph).parameterCount
            event.worldSize = communicator.size
            event.runID = c.runID
            event.step = schedule.step
            events.record(event)
        }
    }
}
