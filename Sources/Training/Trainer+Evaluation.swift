/// Test-set evaluation across the ranks.
extension Trainer {
    /// Test-set loss and accuracy, each rank evaluating a contiguous shard and the sums added, so
    /// every image counts once and the figures equal a single process's.
    public func evaluate() -> EvaluationResult {
        if runner.runningStatisticsDiffer { averageRunningStatistics() }
        let shard = Self.share(of: testSet.count, rank: communicator.rank, ranks: communicator.size)
        let watchdog = self.watchdog
        watchdog?.beat("evaluation")
        let local = Evaluation.run(network, on: testSet, indices: shard, augmenter: augmenter, afterBatch: { watchdog?.beat("evaluation") })
        watchdog?.beat("the all-reduce of the evaluation results")
        var sums = [local.loss * Double(local.samples), local.accuracy * Double(local.samples), Double(local.samples)]
        communicator.sumAcrossRanks(&sums, count: 3)
        let n = max(1, sums[2])
        return EvaluationResult(loss: sums[0] / n, accuracy: sums[1] / n, samples: Int(sums[2]))
    }

    /// Replaces every rank's batch-norm running statistics by their mean over all ranks (a
    /// collective): with local or grouped statistics each rank (group) has its own.
    public func averageRunningStatistics() {
        let buffers = network.buffers
        communicator.sumAcrossRanks(buffers.values.pointer, count: buffers.count)
        let scale = 1 / Float(communicator.size)
        for i in 0..<buffers.count { buffers.values.pointer[i] *= scale }
    }
}
