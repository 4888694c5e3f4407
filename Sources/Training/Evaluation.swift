import Data
import Engine

/// Test-set loss and top-1 accuracy.
public struct EvaluationResult: Codable, Hashable, Sendable {
    /// Mean cross-entropy (without label smoothing).
    public var loss: Double
    /// Fraction of samples whose arg-max class is the label.
    public var accuracy: Double
    /// Samples evaluated.
    public var samples: Int
}

/// Runs a network in evaluation mode (running batch-norm statistics, no dropout) over a whole
/// data set, every sample exactly once, the last batch possibly short.
public enum Evaluation {
    /// Evaluates `network` on the samples `indices` of `set` (all of them by default), in order,
    /// `network.maxBatch` at a time; `logits` is handed each batch's outputs (samples × classes).
    public static func run(_ network: Network, on set: ImageSet, indices: Range<Int>? = nil,
                           augmenter: Augmenter, logits: (UnsafeBufferPointer<Float>) -> Void = { _ in },
                           afterBatch: () -> Void = {}) -> EvaluationResult {
        let batchSize = network.maxBatch
        let range = indices ?? 0..<set.count
        let order = range.map { Int32($0) }
        let batches = stride(from: 0, to: order.count, by: batchSize).map {
            order[$0..<min(order.count, $0 + batchSize)]
        }
        let pipeline = BatchPipeline(set: set, batches: batches, augmenter: augmenter, epoch: nil, capacity: batchSize)
        defer { pipeline.finish() }
        var lossSum = 0.0
        var correct = 0
        while let batch = pipeline.next() {
            network.input.update(from: batch.images.pointer, count: batch.count * CIFARImage.imageBytes)
            network.forward(batch: batch.count, training: false)
            let result = batch.labels.withUnsafeBufferPointer {
                SoftmaxCrossEntropy.evaluate(logits: network.output, labels: $0.baseAddress!, batch: batch.count,
                                             classes: network.outputCount)
            }
            logits(UnsafeBufferPointer(start: network.output, count: batch.count * network.outputCount))
            lossSum += result.lossSum
            correct += result.correct
            afterBatch()
        }
        let n = max(1, order.count)
        return EvaluationResult(loss: lossSum / Double(n), accuracy: Double(correct) / Double(n), samples: order.count)
    }
}
