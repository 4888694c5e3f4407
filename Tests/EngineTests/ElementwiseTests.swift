import TestSupport
import XCTest
@testable import Engine

/// ReLU, dropout, channel concatenation and the residual sum: forward semantics and gradients.
final class ElementwiseTests: XCTestCase {
    // MARK: ReLU

    func testReLUForwardClampsNegativesAndBackwardMasksByOutput() {
        let x: [Float] = [-2, -0.5, 0, 0.25, 3]
        var y = [Float](repeating: 9, count: 5)
        ReLU.forward(x, &y, count: 5)
        XCTAssertEqual(y, [0, 0, 0, 0.25, 3])
        let dy: [Float] = [1, 2, 3, 4, 5]
        var dx: [Float] = [10, 10, 10, 10, 10]
        ReLU.backward(output: y, outputGradient: dy, inputGradient: &dx, count: 5)
        // Accumulates, and passes the gradient only where the output is positive.
        XCTAssertEqual(dx, [10, 10, 10, 14, 15])
    }

    /// Issue 10 #5: a NaN input stays NaN (as in PyTorch), so overflowing activations reach the
    /// loss and stop training; `max(0, x)` used to turn it into 0. Infinities pass as max(x, 0).
    func testReLUForwardPropagatesNaN() {
        let x: [Float] = [.nan, -1, 2, .infinity, -.infinity]
        var y = [Float](repeating: 9, count: 5)
        ReLU.forward(x, &y, count: 5)
        XCTAssertTrue(y[0].isNaN, "ReLU(NaN) is \(y[0]), not NaN")
        XCTAssertEqual(Array(y[1...]), [0, 2, .infinity, 0])
    }

    // MARK: Dropout

    func testDropoutMaskKeepsAboutOneMinusRateAndScalesKeptElements() {
        let count = 20_000, rate: Float = 0.3
        var mask = [Float](repeating: -1, count: count)
        Dropout.makeMask(seed: 12345, rate: rate, range: 0..<count, mask: &mask)
        let keep = 1 / (1 - rate)
        XCTAssertTrue(mask.allSatisfy { $0 == 0 || $0 == keep })
        let dropped = Double(mask.filter { $0 == 0 }.count) / Double(count)
        XCTAssertEqual(dropped, Double(rate), accuracy: 0.015)
        // Inverted dropout preserves the mean.
        XCTAssertEqual(mask.reduce(0.0) { $0 + Double($1) } / Double(count), 1, accuracy: 0.03)
    }

    func testDropoutMaskIsAPureFunctionOfSeedAndIndex() {
        let count = 1000, rate: Float = 0.5
        var whole = [Float](repeating: 0, count: count), pieces = [Float](repeating: 0, count: count)
        Dropout.makeMask(seed: 7, rate: rate, range: 0..<count, mask: &whole)
        // Filled in arbitrary pieces and order (as threads do), the mask is the same.
        for range in [600..<1000, 0..<1, 1..<333, 333..<600] {
            Dropout.makeMask(seed: 7, rate: rate, range: range, mask: &pieces)
        }
        XCTAssertEqual(whole, pieces)
        var other = [Float](repeating: 0, count: count)
        Dropout.makeMask(seed: 8, rate: rate, range: 0..<count, mask: &other)
        XCTAssertNotEqual(whole, other)
    }

    func testDropoutBackwardIsOutputGradientTimesMaskAndMatchesCentralDifference() {
        // With a fixed mask, y = x·mask is linear: ∂(Σ r·y)/∂x = r·mask.
        let count = 64, rate: Float = 0.25
        var rng = TestRandom(seed: 71)
        var mask = [Float](repeating: 0, count: count)
        Dropout.makeMask(seed: 99, rate: rate, range: 0..<count, mask: &mask)
        XCTAssertTrue(mask.contains(0) && mask.contains(1 / (1 - rate)))
        let r = rng.floats(count)
        let x = FloatBuffer(count: count)
        x.copy(from: rng.floats(count))
        var y = [Float](repeating: 0, count: count)
        Dropout.forward(x.pointer, mask: mask, &y, count: count)
        for i in 0..<count { XCTAssertEqual(y[i], x.pointer[i] * mask[i]) }
        let before = rng.floats(count)
        var dx = before
        Dropout.backward(r, mask: mask, &dx, count: count)
        for i in 0..<count { XCTAssertEqual(dx[i], before[i] + r[i] * mask[i], accuracy: 1e-6) }
        let analytic = (0..<count).map { r[$0] * mask[$0] }
        let result = compareWithCentralDifference(tensor: "x", values: x.pointer, analytic: analytic, samples: .max) {
            var out = [Float](repeating: 0, count: count)
            Dropout.forward(x.pointer, mask: mask, &out, count: count)
            return (0..<count).reduce(0.0) { $0 + Double(r[$1]) * Double(out[$1]) }
        }
        assertGradientMatches(result)
    }

    func testDropoutLayerAppliesTheStepMaskAndBackpropagatesThroughTheSameMask() {
        let batch = 2, shape = TensorShape(channels: 3, height: 4, width: 4), rate: Float = 0.4
        var g = Graph(input: shape)
        let x = g.dropout(g.input, rate: 0, name: "copy")
        g.dropout(x, rate: rate, name: "drop")
        let net = Network(graph: g, maxBatch: batch, pool: ComputePool(threads: 2), seed: 5)
        var rng = TestRandom(seed: 72)
        let count = batch * shape.elementCount
        var previousMask: [Float]?
        for _ in 0..<2 {
            fillUniform(TensorView(base: net.input, shape: shape), batch: batch, rng: &rng, 0.5, 1.5)
            net.forward(batch: batch, training: true)
            var mask = [Float](repeating: 0, count: count)
            let seed = RandomStream.derive(net.context.seed, ParameterArena.hash("drop"), net.context.step)
            Dropout.makeMask(seed: seed, rate: rate, range: 0..<count, mask: &mask)
            let input = net.input, output = net.output
            for i in 0..<count { XCTAssertEqual(output[i], input[i] * mask[i]) }
            let dy = net.context.gradient(net.graph.output).base
            let r = rng.floats(count)
            for i in 0..<count { dy[i] = r[i] }
            net.backward()
            let dx = net.context.gradient(x).base
            for i in 0..<count { XCTAssertEqual(dx[i], r[i] * mask[i]) }
            // Every training step draws a new mask.
            if let previousMask { XCTAssertNotEqual(previousMask, mask) }
            previousMask = mask
        }
    }

    func testDropoutIsTheIdentityInEvaluationModeAndAtRateZero() {
        let batch = 2, shape = TensorShape(channels: 2, height: 3, width: 3)
        for (rate, training) in [(Float(0.5), false), (Float(0), true)] {
            var g = Graph(input: shape)
            let x = g.dropout(g.input, rate: 0, name: "copy")
            g.dropout(x, rate: rate, name: "drop")
            let net = Network(graph: g, maxBatch: batch, pool: ComputePool(threads: 2), seed: 5)
            var rng = TestRandom(seed: 73)
            fillUniform(TensorView(base: net.input, shape: shape), batch: batch, rng: &rng)
            net.forward(batch: batch, training: training)
            let count = batch * shape.elementCount
            XCTAssertEqual(Array(UnsafeBufferPointer(start: net.output, count: count)),
                           Array(UnsafeBufferPointer(start: net.input, count: count)), "rate \(rate)")
            if training {
                let r = rng.floats(count)
                let dy = net.context.gradient(net.graph.output).base
                for i in 0..<count { dy[i] = r[i] }
                net.backward()
                XCTAssertEqual(Array(UnsafeBufferPointer(start: net.context.gradient(x).base, count: count)), r)
            }
        }
    }

    // MARK: Concatenation

    func testConcatenationStacksChannelsInOrderAndSplitsGradient() {
        let batch = 2
        var rng = TestRandom(seed: 74)
        let h = GraphHarness(input: TensorShape(channels: 2, height: 3, width: 4),
                             pointwiseSources: [("sourceA", 2), ("sourceB", 3)], batch: batch, rng: &rng) {
            $0.concatenation($1, name: "concat")
        }
        // The concatenation is the last layer: its value is the graph's output.
        let y = h.net.graph.output
        XCTAssertEqual(h.net.graph.shape(y), TensorShape(channels: 5, height: 3, width: 4))
        _ = h.objective()
        let out = h.view(y), av = h.view(h.sources[0]), bv = h.view(h.sources[1])
        for n in 0..<batch {
            for i in 0..<12 {
                for c in 0..<2 { XCTAssertEqual(out.plane(n, c)[i], av.plane(n, c)[i]) }
                for c in 0..<3 { XCTAssertEqual(out.plane(n, 2 + c)[i], bv.plane(n, c)[i]) }
            }
        }
        h.checkAll(sourceNames: ["a", "b"])
    }

    func testConcatenationBackwardAddsToGradientsFromOtherConsumers() {
        // `a` feeds both the concatenation and the residual's shortcut: its gradient is the sum.
        var rng = TestRandom(seed: 78)
        let h = GraphHarness(input: TensorShape(channels: 2, height: 3, width: 3),
                             pointwiseSources: [("sourceA", 2), ("sourceB", 3)], batch: 2, rng: &rng) { g, sources in
            let c = g.concatenation(sources, name: "concat")
            g.residual(c, shortcut: sources[0], relu: false, name: "add")
        }
        h.checkAll(sourceNames: ["a", "b"])
    }

    // MARK: Residual

    /// Builds `relu?(x + shortcut(s))` with free sources `x` (C×H×W) and `s` (Cs×(k·H)×(k·W)), and
    /// fills them so that every sum is at least 0.2 away from ReLU's kink.
    func residualHarness(channels: Int, shortcutChannels: Int, height: Int, width: Int, factor: Int,
                         relu: Bool, seed: UInt64) -> (GraphHarness, ValueID, ValueID, ValueID) {
        let batch = 2
        var g = Graph(input: TensorShape(channels: shortcutChannels, height: factor * height, width: factor * width))
        let s = g.dropout(g.input, rate: 0, name: "sourceS")
        let x = g.convolution([g.input], outChannels: channels, kernel: 1, stride: factor, name: "sourceX")
        let y = g.residual(x, shortcut: s, relu: relu, name: "add")
        let h = GraphHarness(graph: g, sources: [s, x], batch: batch)
        var rng = TestRandom(seed: seed)
        fillUniform(h.view(s), batch: batch, rng: &rng)
        let pad = (channels - shortcutChannels) / 2
        let sv = h.view(s), xv = h.view(x)
        for n in 0..<batch {
            for c in 0..<channels {
                for oy in 0..<height {
                    for ox in 0..<width {
                        let sc = c - pad
                        let base = sc >= 0 && sc < shortcutChannels ? sv.plane(n, sc)[oy * factor * width * factor + ox * factor] : 0
                        var v = rng.uniform(-1, 1)
                        let t = v + base
                        if abs(t) < 0.2 { v += t >= 0 ? 0.4 : -0.4 }
                        xv.plane(n, c)[oy * width + ox] = v
                    }
                }
            }
        }
        return (h, x, s, y)
    }

    func testIdentityResidualGradientsMatchCentralDifference() {
        for relu in [false, true] {
            let (h, _, _, _) = residualHarness(channels: 3, shortcutChannels: 3, height: 4, width: 5, factor: 1,
                                               relu: relu, seed: 75)
            h.checkAll(sourceNames: ["shortcut", "x"])
        }
    }

    func testOptionAResidualFromLargerInputGradientsMatchCentralDifference() {
        // Stride-2 subsampling and zero-padded channels (4 → 8: two before, two after; 2 → 5: one before, two after).
        for (channels, shortcutChannels) in [(8, 4), (5, 2)] {
            let (h, _, _, _) = residualHarness(channels: channels, shortcutChannels: shortcutChannels, height: 3, width: 4,
                                               factor: 2, relu: true, seed: 76)
            h.checkAll(sourceNames: ["shortcut", "x"])
        }
    }

    func testOptionAResidualAddsSubsampledShortcutIntoCentralChannels() {
        let (h, x, s, y) = residualHarness(channels: 6, shortcutChannels: 2, height: 2, width: 3, factor: 2,
                                           relu: false, seed: 77)
        _ = h.objective()
        let xv = h.view(x), sv = h.view(s), yv = h.view(y)
        for n in 0..<2 {
            for c in 0..<6 {
                for oy in 0..<2 {
                    for ox in 0..<3 {
                        let shortcut: Float = (c == 2 || c == 3) ? sv.plane(n, c - 2)[2 * oy * 6 + 2 * ox] : 0
                        XCTAssertEqual(yv.plane(n, c)[oy * 3 + ox], xv.plane(n, c)[oy * 3 + ox] + shortcut, "n\(n) c\(c)")
                    }
                }
            }
        }
    }
}
