import Foundation

/// Softmax cross-entropy over class logits, averaged over the batch, with optional label smoothing.
public enum SoftmaxCrossEntropy {
    /// The outcome of one loss evaluation.
    public struct Result: Sendable {
        /// Summed (not averaged) loss over the samples.
        public var lossSum: Double
        /// Samples whose arg-max logit equals the label.
        public var correct: Int
    }

    /// Computes the loss of `batch` rows of `classes` logits against `labels`, and writes
    /// `∂(loss / normalizer)/∂logits` to `gradient` when it is given.
    ///
    /// - Parameters:
    ///   - smoothing: label smoothing ε: the target is `(1 − ε)` on the label plus `ε / classes` everywhere.
    ///   - normalizer: the count the loss is averaged over (the batch, or the global batch in a distributed run).
    public static func evaluate(logits: UnsafePointer<Float>, labels: UnsafePointer<Int32>, batch: Int, classes: Int,
                                smoothing: Float = 0, normalizer: Int? = nil,
                                gradient: UnsafeMutablePointer<Float>? = nil) -> Result {
        let scale = 1 / Float(normalizer ?? batch)
        var total = 0.0
        var correct = 0
        for n in 0..<batch {
            let row = logits + n * classes
            let label = Int(labels[n])
            var best = 0
            var top = row[0]
            for k in 1..<classes where row[k] > top { top = row[k]; best = k }
            if best == label { correct += 1 }
            // Log-probabilities from the shifted logits (row − top): exact differences in Double,
            // so equal huge logits give log(classes), not 0 from cancelling top + log(sum) − top.
            // Non-finite logits give NaN here, which the callers' NaN checks catch.
            var sum = 0.0
            for k in 0..<classes { sum += Double(expf(row[k] - top)) }
            let logSum = log(sum)
            var loss = 0.0
            for k in 0..<classes {
                let target = Double(smoothing) / Double(classes) + (k == label ? Double(1 - smoothing) : 0)
                let logProbability = (Double(row[k]) - Double(top)) - logSum
                loss -= target * logProbability
                if let gradient {
                    gradient[n * classes + k] = Float(exp(logProbability) - target) * scale
                }
            }
            total += loss
        }
        return Result(lossSum: total, correct: correct)
    }
}
