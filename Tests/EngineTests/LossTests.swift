import Foundation
import TestSupport
import XCTest
@testable import Engine

/// Softmax cross-entropy: loss values, accuracy counting, gradients (kernel and through a
/// network) with and without label smoothing, and the normaliser.
final class LossTests: XCTestCase {
    /// −Σ_k t_k log softmax(x)_k with t = ε/K + (1 − ε)·[k = label], in Double.
    func referenceLoss(_ row: [Float], label: Int, smoothing: Double) -> Double {
        let top = Double(row.max()!)
        let logSum = log(row.reduce(0.0) { $0 + exp(Double($1) - top) }) + top
        var loss = 0.0
        for (k, x) in row.enumerated() {
            let t = smoothing / Double(row.count) + (k == label ? 1 - smoothing : 0)
            loss -= t * (Double(x) - logSum)
        }
        return loss
    }

    func testCrossEntropyLossSumAndCorrectCountMatchDirectComputation() {
        let classes = 4
        let logits: [Float] = [2, 1, 0, -1,   0, 0, 0, 0,   -3, 5, 1, 0.5]
        let labels: [Int32] = [0, 2, 1]
        for smoothing: Float in [0, 0.1] {
            let result = SoftmaxCrossEntropy.evaluate(logits: logits, labels: labels, batch: 3, classes: classes,
                                                      smoothing: smoothing)
            var expected = 0.0
            for n in 0..<3 {
                expected += referenceLoss(Array(logits[(n * classes)..<((n + 1) * classes)]), label: Int(labels[n]),
                                          smoothing: Double(smoothing))
            }
            XCTAssertEqual(result.lossSum, expected, accuracy: 1e-6)
            // Rows 0 and 2 are right; row 1 ties (arg-max is the first class) against label 2.
            XCTAssertEqual(result.correct, 2)
        }
        // Uniform logits: log K per sample.
        let uniform = SoftmaxCrossEntropy.evaluate(logits: [Float](repeating: 0.5, count: 8), labels: [1, 3], batch: 2, classes: 4)
        XCTAssertEqual(uniform.lossSum, 2 * log(4.0), accuracy: 1e-6)
    }

    func testCrossEntropyIsStableForLargeLogits() {
        var gradient = [Float](repeating: 0, count: 6)
        let result = SoftmaxCrossEntropy.evaluate(logits: [1000, 0, -1000, 50, 1000, 0], labels: [0, 0], batch: 2,
                                                  classes: 3, gradient: &gradient)
        XCTAssertEqual(result.lossSum, 950, accuracy: 1e-3)
        XCTAssertTrue(gradient.allSatisfy { $0.isFinite })
        XCTAssertEqual(gradient[0], 0, accuracy: 1e-6)
        XCTAssertEqual(gradient[3], -0.5, accuracy: 1e-6)
        XCTAssertEqual(gradient[4], 0.5, accuracy: 1e-6)
    }

    func checkCrossEntropyGradient(smoothing: Float, normalizer: Int?, file: StaticString = #filePath, line: UInt = #line) {
        let batch = 3, classes = 5
        var rng = TestRandom(seed: 81)
        let logits = FloatBuffer(count: batch * classes)
        logits.copy(from: rng.floats(batch * classes, -2, 2))
        let labels: [Int32] = [4, 0, 2]
        var gradient = [Float](repeating: 99, count: batch * classes)
        _ = SoftmaxCrossEntropy.evaluate(logits: logits.pointer, labels: labels, batch: batch, classes: classes,
                                         smoothing: smoothing, normalizer: normalizer, gradient: &gradient)
        let divisor = Double(normalizer ?? batch)
        // Each row of the gradient sums to zero (probabilities and targets both sum to one).
        for n in 0..<batch {
            XCTAssertEqual(gradient[(n * classes)..<((n + 1) * classes)].reduce(0.0) { $0 + Double($1) }, 0,
                           accuracy: 1e-6, file: file, line: line)
        }
        let result = compareWithCentralDifference(tensor: "logits", values: logits.pointer, analytic: gradient,
                                                  samples: .max) {
            SoftmaxCrossEntropy.evaluate(logits: logits.pointer, labels: labels, batch: batch, classes: classes,
                                         smoothing: smoothing, normalizer: normalizer).lossSum / divisor
        }
        XCTAssertEqual(result.checked, batch * classes, file: file, line: line)
        assertGradientMatches(result, file: file, line: line)
    }

    func testCrossEntropyGradientMatchesCentralDifference() {
        checkCrossEntropyGradient(smoothing: 0, normalizer: nil)
    }

    func testLabelSmoothedCrossEntropyGradientMatchesCentralDifference() {
        checkCrossEntropyGradient(smoothing: 0.1, normalizer: nil)
    }

    func testCrossEntropyGradientIsDividedByTheGivenNormalizer() {
        // A distributed run averages over the global batch, not the local one.
        checkCrossEntropyGradient(smoothing: 0.1, normalizer: 8)
    }

    func testNetworkCrossEntropyGradientsMatchCentralDifference() {
        // `Network.loss` writes ∂(mean loss)/∂logits; back-propagated through a linear layer.
        for smoothing: Float in [0, 0.2] {
            var rng = TestRandom(seed: 82)
            let h = GraphHarness(source: TensorShape(channels: 2, height: 2, width: 2), batch: 3, fill: .uniform(-2, 2),
                                 rng: &rng) {
                $0.linear($1, outFeatures: 4, name: "fc")
            }
            h.labels = [3, 1, 0]
            h.smoothing = smoothing
            let results = h.checkAll(sourceNames: ["x"])
            XCTAssertEqual(Set(results.map(\.tensor)), ["x", "fc.weight", "fc.bias"])
        }
    }

    /// Issue 10 #5: ten equal logits of 3e38 give the loss log(10) (softmax is uniform), not 0:
    /// the log-sum-exp is taken of the shifted logits, without adding the huge maximum back and
    /// cancelling it. Checked for every label and through the gradient (p − t: 0.1 − [k = label]).
    func testEqualHugeLogitsGiveTheLogOfTheClassCount() {
        let classes = 10
        let logits = [Float](repeating: 3e38, count: classes)
        for label in [0, 7] {
            var gradient = [Float](repeating: 99, count: classes)
            let result = SoftmaxCrossEntropy.evaluate(logits: logits, labels: [Int32(label)], batch: 1, classes: classes,
                                                      gradient: &gradient)
            XCTAssertEqual(result.lossSum, log(10.0), accuracy: 1e-6 * log(10.0), "label \(label)")
            for k in 0..<classes {
                XCTAssertEqual(gradient[k], 0.1 - (k == label ? 1 : 0), accuracy: 1e-6, "label \(label), class \(k)")
            }
        }
    }

    /// Issue 10 #5: a NaN logit, wherever it sits in the row (first, middle, last), gives a NaN
    /// loss, which the training loop's NaN check then catches.
    func testANaNLogitGivesANaNLoss() {
        for position in [0, 4, 9] {
            var logits = [Float](repeating: 0.5, count: 10)
            logits[position] = .nan
            let result = SoftmaxCrossEntropy.evaluate(logits: logits, labels: [3], batch: 1, classes: 10)
            XCTAssertTrue(result.lossSum.isNaN, "NaN logit at \(position): loss \(result.lossSum)")
        }
    }
}
