import Engine

/// Batch-norm running statistics across the micro-batches of one accumulated optimizer step,
/// kept as the ranks those micro-batches stand in for would keep them.
///
/// K micro-batches on one rank emulate K ranks, and K ranks each move their running statistics
/// once per step from the same starting values; averaged before an evaluation (as `local` and
/// group batch norm do), that is one move by the mean of the K batch statistics, because the
/// running average is linear. So every micro-batch's forward pass starts from the step's
/// starting values, its result is summed, and after the last micro-batch the buffers hold the
/// mean of the K results. (Letting the K passes move the statistics one after the other would
/// weigh the later micro-batches more.)
final class MicroBatchStatistics {
    /// The network's running statistics.
    let buffers: ParameterArena
    /// The values before the step's first micro-batch.
    let start: FloatBuffer
    /// The sum of the micro-batches' results so far.
    let sum: FloatBuffer

    init(buffers: ParameterArena) {
        self.buffers = buffers
        start = FloatBuffer(count: buffers.count)
        sum = FloatBuffer(count: buffers.count)
    }

    /// Before micro-batch `k`'s forward pass: the first saves the step's starting values.
    func beforeForward(microBatch k: Int) {
        if k == 0 { start.pointer.update(from: buffers.values.pointer, count: buffers.count) }
    }

    /// After micro-batch `k`'s forward pass (of `count` per step): adds its result to the sum and
    /// puts back the step's starting values, or, after the last, leaves the mean of all results.
    func afterForward(microBatch k: Int, of count: Int) {
        let n = buffers.count
        let values = buffers.values.pointer, start = self.start.pointer, sum = self.sum.pointer
        for i in 0..<n { sum[i] = (k == 0 ? 0 : sum[i]) + values[i] }
        if k < count - 1 {
            values.update(from: start, count: n)
        } else {
            let scale = 1 / Float(count)
            for i in 0..<n { values[i] = sum[i] * scale }
        }
    }
}
