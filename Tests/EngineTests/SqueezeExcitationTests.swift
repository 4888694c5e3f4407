import TestSupport
import XCTest
@testable import Engine

/// Squeeze-and-excitation: each kernel (pooling to a vector, the small dense products, ReLU and
/// sigmoid on a vector, per-channel scaling) against central differences of its own forward pass;
/// the fused layer's forward against a direct float64 evaluation; and the layer's input and
/// parameter gradients through a network, both as the first writer of its input's gradient and
/// after another layer wrote it.
final class SqueezeExcitationTests: XCTestCase {
    // MARK: Kernels

    /// Checks the analytic gradient `analytic` of the linear objective `Σ r · f(values)` in every
    /// element of `values` against central differences, where `forward` evaluates `f`.
    func checkKernel(_ name: String, values: inout [Float], analytic: [Float], weights r: [Float],
                     forward: @escaping (UnsafePointer<Float>) -> [Float],
                     file: StaticString = #filePath, line: UInt = #line) {
        values.withUnsafeMutableBufferPointer { v in
            let p = v.baseAddress!
            let result = compareWithCentralDifference(tensor: name, values: p, analytic: analytic, samples: .max) {
                zip(forward(UnsafePointer(p)), r).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            }
            XCTAssertEqual(result.checked, analytic.count, file: file, line: line)
            assertGradientMatches(result, file: file, line: line)
        }
    }

    func testPoolingToAVectorGradientMatchesCentralDifference() {
        // 11-pixel planes: one 8-wide step and a scalar tail.
        let c = 3, plane = 11
        var rng = TestRandom(seed: 301)
        var x = rng.floats(c * plane)
        let r = rng.floats(c)
        let forward = { (x: UnsafePointer<Float>) -> [Float] in
            var s = [Float](repeating: 0, count: c)
            SqueezeExcitation.poolForward(x, channels: c, planeSize: plane, means: &s)
            return s
        }
        // The pooling's backward is the mean-gradient term of `scaleBackward` (with dy = 0).
        var dx = [Float](repeating: .nan, count: c * plane)
        let zeros = [Float](repeating: 0, count: c * plane), gate = rng.floats(c)
        SqueezeExcitation.scaleBackward(zeros, gate: gate, meanGradient: r, &dx, accumulate: false, channels: c, planeSize: plane)
        checkKernel("pooled x", values: &x, analytic: dx, weights: r, forward: forward)
    }

    func testDenseProductGradientsMatchCentralDifference() {
        let batch = 2, inFeatures = 9, outFeatures = 3
        var rng = TestRandom(seed: 302)
        var x = rng.floats(batch * inFeatures), w = rng.floats(outFeatures * inFeatures), b = rng.floats(outFeatures)
        let r = rng.floats(batch * outFeatures)
        func forward(x: UnsafePointer<Float>, w: UnsafePointer<Float>, b: UnsafePointer<Float>) -> [Float] {
            var y = [Float](repeating: 0, count: batch * outFeatures)
            y.withUnsafeMutableBufferPointer { y in
                for n in 0..<batch {
                    SqueezeExcitation.denseForward(x + n * inFeatures, weight: w, bias: b, y.baseAddress! + n * outFeatures,
                                                   inFeatures: inFeatures, outFeatures: outFeatures)
                }
            }
            return y
        }
        var dx = [Float](repeating: .nan, count: batch * inFeatures)
        dx.withUnsafeMutableBufferPointer { dx in
            for n in 0..<batch {
                SqueezeExcitation.denseInputGradient(Array(r[(n * outFeatures)..<((n + 1) * outFeatures)]), weight: w,
                                                     dx.baseAddress! + n * inFeatures, inFeatures: inFeatures, outFeatures: outFeatures)
            }
        }
        // The parameter gradients add to what is there: start from zero, in two row ranges.
        var dw = [Float](repeating: 0, count: outFeatures * inFeatures), db = [Float](repeating: 0, count: outFeatures)
        for rows in [0..<1, 1..<outFeatures] {
            SqueezeExcitation.denseParameterGradient(x, inputStride: inFeatures, r, rows: rows, batch: batch, inFeatures: inFeatures,
                                                     outFeatures: outFeatures, weightGradient: &dw, biasGradient: &db)
        }
        let (wc, bc) = (w, b), xc = x
        checkKernel("dense x", values: &x, analytic: dx, weights: r) { forward(x: $0, w: wc, b: bc) }
        checkKernel("dense weight", values: &w, analytic: dw, weights: r) { forward(x: xc, w: $0, b: bc) }
        checkKernel("dense bias", values: &b, analytic: db, weights: r) { forward(x: xc, w: wc, b: $0) }
    }

    func testSigmoidAndReLUGradientsMatchCentralDifference() {
        let count = 10
        var rng = TestRandom(seed: 303)
        let r = rng.floats(count)
        // Sigmoid over a wide range (its slope varies by 40×); ReLU away from its kink.
        var u = rng.floats(count, -4, 4)
        let sigmoid = { (u: UnsafePointer<Float>) -> [Float] in
            var g = Array(UnsafeBufferPointer(start: u, count: count))
            SqueezeExcitation.sigmoidForward(&g, count: count)
            return g
        }
        let g = sigmoid(u)
        var du = r
        SqueezeExcitation.sigmoidBackward(&du, output: g, count: count)
        checkKernel("sigmoid", values: &u, analytic: du, weights: r, forward: sigmoid)

        var a = (0..<count).map { i in (i % 2 == 0 ? 1 : -1) * rng.uniform(0.1, 1) }
        let relu = { (a: UnsafePointer<Float>) -> [Float] in
            var z = Array(UnsafeBufferPointer(start: a, count: count))
            SqueezeExcitation.reluForward(&z, count: count)
            return z
        }
        var da = r
        SqueezeExcitation.reluBackward(&da, output: relu(a), count: count)
        checkKernel("relu", values: &a, analytic: da, weights: r, forward: relu)
        var extremes: [Float] = [-200, 200]
        SqueezeExcitation.sigmoidForward(&extremes, count: 2)
        XCTAssertEqual(extremes, [0, 1], "the sigmoid saturates without NaN")
    }

    func testPerChannelScalingGradientsMatchCentralDifference() {
        let c = 3, plane = 13
        var rng = TestRandom(seed: 304)
        var x = rng.floats(c * plane), g = rng.floats(c, 0.1, 0.9)
        let r = rng.floats(c * plane)
        func forward(x: UnsafePointer<Float>, g: UnsafePointer<Float>) -> [Float] {
            var y = [Float](repeating: 0, count: c * plane)
            SqueezeExcitation.scaleForward(x, gate: g, &y, channels: c, planeSize: plane)
            return y
        }
        var dx = [Float](repeating: .nan, count: c * plane), dg = [Float](repeating: .nan, count: c)
        SqueezeExcitation.scaleBackward(r, gate: g, meanGradient: [Float](repeating: 0, count: c), &dx, accumulate: false,
                                        channels: c, planeSize: plane)
        SqueezeExcitation.gateGradient(r, x, &dg, channels: c, planeSize: plane)
        let (xc, gc) = (x, g)
        checkKernel("scaled x", values: &x, analytic: dx, weights: r) { forward(x: $0, g: gc) }
        checkKernel("gate", values: &g, analytic: dg, weights: r) { forward(x: xc, g: $0) }

        // With `accumulate`, the same gradient is added to what is there.
        let before = rng.floats(c * plane)
        var added = before
        SqueezeExcitation.scaleBackward(r, gate: g, meanGradient: [Float](repeating: 0, count: c), &added, accumulate: true,
                                        channels: c, planeSize: plane)
        for i in 0..<(c * plane) { XCTAssertEqual(added[i], before[i] + dx[i], accuracy: 1e-6) }
    }

    // MARK: The fused layer

    /// Sets the unit's parameters so every hidden pre-activation `W₁ s + b₁` stays at least 0.2
    /// from ReLU's kink (|W₁ s| ≤ 0.3 for |s| ≤ 1, biases ±0.5 or more), more than a finite-difference
    /// step can move it, with one hidden feature off so the ReLU's mask is exercised.
    func setParameters(_ h: GraphHarness, _ name: String, channels c: Int, hidden: Int, rng: inout TestRandom) {
        h.setParameter(name + ".fc1.weight", rng.floats(hidden * c, -0.3 / Float(c), 0.3 / Float(c)))
        h.setParameter(name + ".fc1.bias", (0..<hidden).map { $0 == 1 ? -0.6 : 0.5 + 0.1 * Float($0) })
        h.setParameter(name + ".fc2.weight", rng.floats(c * hidden, -1.5, 1.5))
        h.setParameter(name + ".fc2.bias", rng.floats(c, -0.5, 0.5))
    }

    func testForwardScalesEachChannelByTheGateOfAFloat64Evaluation() {
        let shape = TensorShape(channels: 5, height: 3, width: 3), hidden = 2, batch = 3
        var g = Graph(input: shape)
        g.squeezeExcitation(g.input, hidden: hidden, name: "se")
        let net = Network(graph: g, maxBatch: batch, pool: ComputePool(threads: 2), seed: 7)
        var rng = TestRandom(seed: 305)
        fillUniform(TensorView(base: net.input, shape: shape), batch: batch, rng: &rng)
        net.forward(batch: batch, training: false)
        let p = net.parameters
        func tensor(_ name: String) -> [Double] {
            let s = p.slot(named: name)!
            return (s.range).map { Double(p.values.pointer[$0]) }
        }
        let w1 = tensor("se.fc1.weight"), b1 = tensor("se.fc1.bias"), w2 = tensor("se.fc2.weight"), b2 = tensor("se.fc2.bias")
        XCTAssertEqual(p.slot(named: "se.fc1.weight")?.declaration.shape, [hidden, 5])
        XCTAssertEqual(p.slot(named: "se.fc2.weight")?.declaration.shape, [5, hidden])
        let c = shape.channels, plane = shape.planeSize
        for n in 0..<batch {
            let x = (0..<(c * plane)).map { Double(net.input[n * c * plane + $0]) }
            let s = (0..<c).map { ch in x[(ch * plane)..<((ch + 1) * plane)].reduce(0, +) / Double(plane) }
            let z = (0..<hidden).map { j in max(0, b1[j] + (0..<c).reduce(0.0) { $0 + w1[j * c + $1] * s[$1] }) }
            let gate = (0..<c).map { ch in 1 / (1 + exp(-(b2[ch] + (0..<hidden).reduce(0.0) { $0 + w2[ch * hidden + $1] * z[$1] }))) }
            for i in 0..<(c * plane) {
                XCTAssertEqual(Double(net.output[n * c * plane + i]), x[i] * gate[i / plane], accuracy: 1e-6, "sample \(n) element \(i)")
            }
        }
        XCTAssertEqual(net.graph.macsPerSample, 2 * c * hidden)
        XCTAssertEqual(net.graph.parameterCount, 2 * c * hidden + hidden + c)
    }

    /// The unit as the only writer of its input's gradient (which starts as NaN): 9-pixel planes
    /// and 5 channels exercise every scalar tail; batch 3 on 2 threads splits unevenly.
    func testLayerGradientsMatchCentralDifference() {
        var rng = TestRandom(seed: 306)
        let c = 5, hidden = 3
        let h = GraphHarness(source: TensorShape(channels: c, height: 3, width: 3), batch: 3, rng: &rng) {
            $0.squeezeExcitation($1, hidden: hidden, name: "se")
        }
        setParameters(h, "se", channels: c, hidden: hidden, rng: &rng)
        let results = h.checkAll(sourceNames: ["x"])
        XCTAssertEqual(Set(results.map(\.tensor)), ["x", "se.fc1.weight", "se.fc1.bias", "se.fc2.weight", "se.fc2.bias"])
    }

    /// The unit on a residual branch, as in SE-ResNet: the sum writes the source's gradient first
    /// and the unit must add to it. 16-pixel planes and 8 channels take the 8-wide paths.
    func testLayerAddsToAnInputGradientAnotherLayerWrote() {
        var rng = TestRandom(seed: 307)
        let c = 8, hidden = 2
        let h = GraphHarness(source: TensorShape(channels: c, height: 4, width: 4), batch: 2, rng: &rng) { g, x in
            let se = g.squeezeExcitation(x, hidden: hidden, name: "se")
            g.residual(se, shortcut: x, relu: false, name: "add")
        }
        setParameters(h, "se", channels: c, hidden: hidden, rng: &rng)
        h.checkAll(sourceNames: ["x"])
    }

    /// The parameter gradients are summed over the batch in one order whatever the thread count.
    func testParameterGradientsAreTheSameOnOneAndTwoThreads() {
        func gradients(threads: Int) -> [Float] {
            var g = Graph(input: TensorShape(channels: 6, height: 2, width: 2))
            let x = g.dropout(g.input, rate: 0, name: "source")
            g.squeezeExcitation(x, hidden: 2, name: "se")
            let h = GraphHarness(graph: g, sources: [x], batch: 5, threads: threads)
            var rng = TestRandom(seed: 308)
            h.fillSources(.uniform(), rng: &rng)
            h.computeGradients()
            return h.net.parameters.gradients!.toArray()
        }
        XCTAssertEqual(gradients(threads: 1).map(\.bitPattern), gradients(threads: 2).map(\.bitPattern))
    }
}
