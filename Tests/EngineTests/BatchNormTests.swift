import TestSupport
import XCTest
@testable import Engine

/// Batch normalisation: finite-difference gradients in training mode (with and without ReLU,
/// one and two input segments), the running statistics, and evaluation mode.
final class BatchNormTests: XCTestCase {
    // MARK: Gradients

    func testBatchNormTrainingModeGradientsMatchCentralDifference() {
        let batch = 3
        var g = Graph(input: TensorShape(channels: 3, height: 5, width: 6))
        let source = g.dropout(g.input, rate: 0, name: "source")
        g.batchNorm([source], relu: false, name: "bn")
        let h = GraphHarness(graph: g, sources: [source], batch: batch)
        var rng = TestRandom(seed: 41)
        // Per-channel offsets and spreads, not centred: the statistics are really exercised.
        for n in 0..<batch {
            for c in 0..<3 {
                let p = h.view(source).plane(n, c)
                for i in 0..<30 { p[i] = Float(c) - 1 + Float(c + 1) * rng.uniform(-1, 1) }
            }
        }
        h.setNormParameters("bn", channels: 3, rng: &rng, scale: (0.5, 1.5), shift: (-0.5, 0.5))
        let results = h.checkAll(sourceNames: ["x"])
        XCTAssertEqual(Set(results.map(\.tensor)), ["x", "bn.weight", "bn.bias"])
    }

    func testBatchNormReLUOverTwoSegmentsGradientsMatchCentralDifference() {
        // The DenseNet case: BN-ReLU over the channel concatenation of two values.
        var rng = TestRandom(seed: 42)
        let h = GraphHarness(input: TensorShape(channels: 2, height: 4, width: 5),
                             pointwiseSources: [("sourceA", 2), ("sourceB", 3)], batch: 2, fill: .mirrored, rng: &rng) {
            $0.batchNorm($1, relu: true, name: "bn")
        }
        h.setNormParameters("bn", channels: 5, rng: &rng)
        let results = h.checkAll(sourceNames: ["a", "b"])
        XCTAssertEqual(Set(results.map(\.tensor)), ["a", "b", "bn.weight", "bn.bias"])
    }

    func testBatchNormReLUSingleSegmentGradientsMatchCentralDifference() {
        var rng = TestRandom(seed: 43)
        let h = GraphHarness(source: TensorShape(channels: 3, height: 3, width: 3), batch: 2, fill: .mirrored, rng: &rng) {
            $0.batchNorm([$1], relu: true, name: "bn")
        }
        h.setNormParameters("bn", channels: 3, rng: &rng)
        h.checkAll(sourceNames: ["x"])
    }

    func testBatchNormReadingNetworkInputAccumulatesScaleAndShiftGradients() {
        // γ and β are trainable even when the batch norm reads the network input (which itself
        // needs no gradient): their gradients must still be produced.
        var rng = TestRandom(seed: 44)
        let h = GraphHarness(networkInput: TensorShape(channels: 2, height: 3, width: 4), batch: 2, rng: &rng) {
            $0.batchNorm([$0.input], relu: false, name: "bn")
        }
        h.setNormParameters("bn", channels: 2, rng: &rng, scale: (0.5, 1.5), shift: (-0.5, 0.5))
        let results = h.checkAll()
        XCTAssertEqual(Set(results.map(\.tensor)), ["bn.weight", "bn.bias"])
    }

    // MARK: Statistics

    /// Per-channel batch mean and biased variance, in Double.
    func statistics(_ view: TensorView, batch: Int) -> [(mean: Double, variance: Double)] {
        (0..<view.shape.channels).map { c in
            var values: [Double] = []
            for n in 0..<batch { for i in 0..<view.shape.planeSize { values.append(Double(view.plane(n, c)[i])) } }
            let mean = values.reduce(0, +) / Double(values.count)
            let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)
            return (mean, variance)
        }
    }

    func buffer(_ net: Network, _ name: String) -> [Float] {
        let s = net.buffers.slot(named: name)!
        return Array(UnsafeBufferPointer(start: net.buffers.values.pointer + s.offset, count: s.declaration.count))
    }

    func testTrainingForwardUpdatesRunningStatisticsWithMomentumAndUnbiasedVariance() {
        let batch = 3, shape = TensorShape(channels: 3, height: 3, width: 4)
        var g = Graph(input: shape)
        let x = g.dropout(g.input, rate: 0, name: "copy")
        g.batchNorm([x], relu: false, name: "bn")
        let net = Network(graph: g, maxBatch: batch, pool: ComputePool(threads: 2), seed: 3)
        var rng = TestRandom(seed: 45)
        let input = TensorView(base: net.input, shape: shape)
        // Large offsets: the statistics must not lose the variance to cancellation.
        func fill(offset: Float) {
            for n in 0..<batch {
                for c in 0..<3 { for i in 0..<12 { input.plane(n, c)[i] = offset * Float(c + 1) + rng.uniform(-1, 1) * Float(c + 1) } }
            }
        }
        let m = Double(batch * shape.planeSize)
        XCTAssertEqual(buffer(net, "bn.running_mean"), [0, 0, 0])
        XCTAssertEqual(buffer(net, "bn.running_var"), [1, 1, 1])

        fill(offset: 3)
        let first = statistics(input, batch: batch)
        net.forward(batch: batch, training: true)
        var expectedMean = first.map { 0.1 * $0.mean }
        var expectedVariance = first.map { 0.9 + 0.1 * $0.variance * m / (m - 1) }
        for c in 0..<3 {
            XCTAssertEqual(Double(buffer(net, "bn.running_mean")[c]), expectedMean[c], accuracy: 1e-5 * max(1, abs(expectedMean[c])))
            XCTAssertEqual(Double(buffer(net, "bn.running_var")[c]), expectedVariance[c], accuracy: 1e-5 * expectedVariance[c])
        }
        // The training output is normalised with the batch statistics (γ = 1, β = 0 initially).
        let y = net.context.view(net.graph.output)
        for c in 0..<3 {
            for n in 0..<batch {
                for i in 0..<12 {
                    let expected = (Double(input.plane(n, c)[i]) - first[c].mean) / (first[c].variance + 1e-5).squareRoot()
                    XCTAssertEqual(Double(y.plane(n, c)[i]), expected, accuracy: 1e-4)
                }
            }
        }

        // A second step moves the running averages again from their new values.
        fill(offset: -5)
        let second = statistics(input, batch: batch)
        net.forward(batch: batch, training: true)
        expectedMean = (0..<3).map { 0.9 * expectedMean[$0] + 0.1 * second[$0].mean }
        expectedVariance = (0..<3).map { 0.9 * expectedVariance[$0] + 0.1 * second[$0].variance * m / (m - 1) }
        for c in 0..<3 {
            XCTAssertEqual(Double(buffer(net, "bn.running_mean")[c]), expectedMean[c], accuracy: 1e-5 * max(1, abs(expectedMean[c])))
            XCTAssertEqual(Double(buffer(net, "bn.running_var")[c]), expectedVariance[c], accuracy: 1e-5 * expectedVariance[c])
        }
        for c in 0..<3 {
            for n in 0..<batch {
                for i in 0..<12 {
                    let expected = (Double(input.plane(n, c)[i]) - second[c].mean) / (second[c].variance + 1e-5).squareRoot()
                    XCTAssertEqual(Double(y.plane(n, c)[i]), expected, accuracy: 1e-4)
                }
            }
        }
    }

    func testEvaluationModeNormalisesWithRunningStatisticsAndLeavesThemUnchanged() {
        let batch = 2, shape = TensorShape(channels: 2, height: 3, width: 3)
        for relu in [false, true] {
            var g = Graph(input: shape)
            let x = g.dropout(g.input, rate: 0, name: "copy")
            g.batchNorm([x], relu: relu, name: "bn")
            let net = Network(graph: g, maxBatch: batch, pool: ComputePool(threads: 2), seed: 3)
            var rng = TestRandom(seed: 46)
            fillUniform(TensorView(base: net.input, shape: shape), batch: batch, rng: &rng, -2, 2)
            let gamma: [Float] = [1.5, 0.5], beta: [Float] = [0.25, -0.5]
            let runningMean: [Float] = [0.3, -0.7], runningVariance: [Float] = [2.0, 0.25]
            let p = net.parameters.values.pointer, b = net.buffers.values.pointer
            for c in 0..<2 {
                p[net.parameters.slot(named: "bn.weight")!.offset + c] = gamma[c]
                p[net.parameters.slot(named: "bn.bias")!.offset + c] = beta[c]
                b[net.buffers.slot(named: "bn.running_mean")!.offset + c] = runningMean[c]
                b[net.buffers.slot(named: "bn.running_var")!.offset + c] = runningVariance[c]
            }
            net.forward(batch: batch, training: false)
            let input = TensorView(base: net.input, shape: shape), y = net.context.view(net.graph.output)
            for n in 0..<batch {
                for c in 0..<2 {
                    for i in 0..<9 {
                        var expected = Double(gamma[c]) * (Double(input.plane(n, c)[i]) - Double(runningMean[c]))
                            / (Double(runningVariance[c]) + 1e-5).squareRoot() + Double(beta[c])
                        if relu { expected = max(0, expected) }
                        XCTAssertEqual(Double(y.plane(n, c)[i]), expected, accuracy: 1e-5, "relu \(relu)")
                    }
                }
            }
            XCTAssertEqual(buffer(net, "bn.running_mean"), runningMean)
            XCTAssertEqual(buffer(net, "bn.running_var"), runningVariance)
        }
    }

    func testPreactivatedConvolutionUpdatesItsNormRunningStatistics() {
        let batch = 2, shape = TensorShape(channels: 2, height: 4, width: 4)
        var g = Graph(input: shape)
        let x = g.dropout(g.input, rate: 0, name: "copy")
        g.convolution([x], outChannels: 2, kernel: 3, preactivation: true, name: "conv")
        let net = Network(graph: g, maxBatch: batch, pool: ComputePool(threads: 2), seed: 3)
        var rng = TestRandom(seed: 47)
        fillUniform(TensorView(base: net.input, shape: shape), batch: batch, rng: &rng, 0, 4)
        let stats = statistics(TensorView(base: net.input, shape: shape), batch: batch)
        net.forward(batch: batch, training: true)
        let m = Double(batch * shape.planeSize)
        for c in 0..<2 {
            XCTAssertEqual(Double(buffer(net, "conv.norm.running_mean")[c]), 0.1 * stats[c].mean, accuracy: 1e-5)
            XCTAssertEqual(Double(buffer(net, "conv.norm.running_var")[c]), 0.9 + 0.1 * stats[c].variance * m / (m - 1),
                           accuracy: 1e-5)
        }
    }
}
