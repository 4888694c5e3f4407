import TestSupport
import XCTest
@testable import Engine

/// `PooledConvolutionLayer` (BN-ReLU, 2×2 average pooling, then a 1×1 convolution) computes the
/// DenseNet transition in its architectural order — BN-ReLU-Conv1×1 at full resolution, then
/// pooling — checked against a naive Double reference of that order (forward output and every
/// gradient) and against central differences.
final class PooledConvolutionTests: XCTestCase {
    /// `|engine − reference| ≤ referenceTolerance · max(1, |reference|)`.
    let referenceTolerance = 1e-4

    /// Builds `sources → pooled transition "t"` with one free source value per input segment.
    func harness(segments: [Int], height: Int, width: Int, outChannels: Int, batch: Int, threads: Int,
                 seed: UInt64) -> (GraphHarness, [ValueID]) {
        var g = Graph(input: TensorShape(channels: 2, height: height, width: width))
        let sources = segments.enumerated().map { k, channels in
            g.convolution([g.input], outChannels: channels, kernel: 1, name: "source\(k)")
        }
        g.pooledConvolution(sources, outChannels: outChannels, name: "t")
        return (GraphHarness(graph: g, sources: sources, batch: batch, threads: threads, seed: seed), sources)
    }

    /// The transition in its architectural order, naively in Double over the concatenated input
    /// `x[n][c][i]` (`i` over `height × width`): batch-norm with batch statistics, ReLU, 1×1
    /// convolution at full resolution, 2×2 average pooling; then backward by hand for
    /// `L = Σ r · y`. Returns `y` and the gradients of `x`, γ, β and `W` (dense, row-major).
    static func reference(x: [[[Double]]], height h: Int, width w: Int, gamma: [Double], beta: [Double],
                          weight: [[Double]], r: [Double])
        -> (y: [Double], dx: [[[Double]]], dGamma: [Double], dBeta: [Double], dWeight: [[Double]]) {
        let batch = x.count, channels = gamma.count, outChannels = weight.count, plane = h * w
        let m = Double(batch * plane), epsilon = Double(BatchNorm.epsilon)
        let window = { (i: Int) in (i / w / 2) * (w / 2) + (i % w) / 2 }
        var xhat = x, z = x
        var invStd = [Double](repeating: 0, count: channels)
        for c in 0..<channels {
            let values = x.flatMap { $0[c] }
            let mean = values.reduce(0, +) / m
            let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / m
            invStd[c] = 1 / (variance + epsilon).squareRoot()
            for n in 0..<batch {
                for i in 0..<plane {
                    xhat[n][c][i] = (x[n][c][i] - mean) * invStd[c]
                    z[n][c][i] = max(0, gamma[c] * xhat[n][c][i] + beta[c])
                }
            }
        }
        // Forward: u = W·z at full resolution, y = 2×2 mean of u.
        let pooledPlane = plane / 4
        var y = [Double](repeating: 0, count: batch * outChannels * pooledPlane)
        for n in 0..<batch {
            for o in 0..<outChannels {
                for i in 0..<plane {
                    var u = 0.0
                    for c in 0..<channels { u += weight[o][c] * z[n][c][i] }
                    y[(n * outChannels + o) * pooledPlane + window(i)] += 0.25 * u
                }
            }
        }
        // Backward: du = ¼ r of the window; dW = Σ du·z; dz = Wᵀ·du; ReLU mask; batch norm.
        var dWeight = weight.map { $0.map { _ in 0.0 } }
        var dpre = x.map { $0.map { $0.map { _ in 0.0 } } }
        for n in 0..<batch {
            for i in 0..<plane {
                for o in 0..<outChannels {
                    let du = 0.25 * r[(n * outChannels + o) * pooledPlane + window(i)]
                    for c in 0..<channels {
                        dWeight[o][c] += du * z[n][c][i]
                        dpre[n][c][i] += weight[o][c] * du
                    }
                }
                for c in 0..<channels where z[n][c][i] <= 0 { dpre[n][c][i] = 0 }
            }
        }
        var dGamma = [Double](repeating: 0, count: channels), dBeta = dGamma, dx = x
        for c in 0..<channels {
            for n in 0..<batch {
                for i in 0..<plane {
                    dBeta[c] += dpre[n][c][i]
                    dGamma[c] += dpre[n][c][i] * xhat[n][c][i]
                }
            }
            // dx = γ/σ · (dpre − mean(dpre) − x̂ · mean(dpre · x̂))
            for n in 0..<batch {
                for i in 0..<plane {
                    dx[n][c][i] = gamma[c] * invStd[c] * (dpre[n][c][i] - dBeta[c] / m - xhat[n][c][i] * dGamma[c] / m)
                }
            }
        }
        return (y, dx, dGamma, dBeta, dWeight)
    }

    /// Runs the layer and the reference on random data and compares output and gradients.
    func checkAgainstReference(segments: [Int], height: Int, width: Int, outChannels: Int, batch: Int,
                               threads: Int, seed: UInt64, file: StaticString = #filePath, line: UInt = #line) {
        let (h, sources) = harness(segments: segments, height: height, width: width, outChannels: outChannels,
                                   batch: batch, threads: threads, seed: seed)
        let channels = segments.reduce(0, +), plane = height * width
        var rng = TestRandom(seed: seed &+ 1000)
        for s in sources { fillUniform(h.view(s), batch: batch, rng: &rng, -2, 2) }
        let gamma = rng.floats(channels, 0.6, 1.4), beta = rng.floats(channels, -0.5, 0.5)
        let weight = rng.floats(outChannels * channels)
        h.setParameter("t.norm.weight", gamma)
        h.setParameter("t.norm.bias", beta)
        h.setParameter("t.weight", weight)
        h.computeGradients()

        // The concatenated input, sample by sample.
        let x = (0..<batch).map { n in
            sources.flatMap { s in
                (0..<h.view(s).shape.channels).map { c in (0..<plane).map { Double(h.view(s).plane(n, c)[$0]) } }
            }
        }
        let ref = Self.reference(x: x, height: height, width: width, gamma: gamma.map(Double.init),
                                 beta: beta.map(Double.init),
                                 weight: (0..<outChannels).map { o in (0..<channels).map { Double(weight[o * channels + $0]) } },
                                 r: h.weights.map(Double.init))

        let label = "segments \(segments) \(height)×\(width) → \(outChannels), batch \(batch), \(threads) thread(s)"
        var failures = 0
        func expect(_ what: String, _ actual: Float, _ expected: Double) {
            if !(abs(Double(actual) - expected) <= referenceTolerance * max(1, abs(expected))) {
                failures += 1
                if failures <= 5 { XCTFail("\(label): \(what): engine \(actual), reference \(expected)", file: file, line: line) }
            }
        }
        let y = contents(h.view(h.net.graph.output), batch: batch)
        XCTAssertEqual(y.count, ref.y.count, label, file: file, line: line)
        for (i, v) in y.enumerated() { expect("y[\(i)]", v, ref.y[i]) }
        var first = 0
        for s in sources {
            let dx = h.context.gradient(s)
            for n in 0..<batch {
                for c in 0..<dx.shape.channels {
                    for i in 0..<plane { expect("dx[\(n)][\(first + c)][\(i)]", dx.plane(n, c)[i], ref.dx[n][first + c][i]) }
                }
            }
            first += dx.shape.channels
        }
        func gradient(_ name: String) -> [Float] {
            let slot = h.slot(name)
            return Array(UnsafeBufferPointer(start: h.net.parameters.gradients!.pointer + slot.offset, count: slot.declaration.count))
        }
        for (c, v) in gradient("t.norm.weight").enumerated() { expect("dγ[\(c)]", v, ref.dGamma[c]) }
        for (c, v) in gradient("t.norm.bias").enumerated() { expect("dβ[\(c)]", v, ref.dBeta[c]) }
        for (i, v) in gradient("t.weight").enumerated() { expect("dW[\(i)]", v, ref.dWeight[i / channels][i % channels]) }
        // Guard against a vacuous pass: the random β leaves some rectified inputs at zero.
        XCTAssertTrue(ref.dx.joined().joined().contains { $0 != 0 }, label, file: file, line: line)
    }

    func testPooledTransitionMatchesNaiveConvolutionThenPoolingReference() {
        // Odd and even channel counts, one and several segments, batch 1 to 3, widths below,
        // at and past the eight-window vector (16 input columns) with a scalar tail.
        checkAgainstReference(segments: [3], height: 4, width: 6, outChannels: 2, batch: 2, threads: 2, seed: 1)
        checkAgainstReference(segments: [2, 3], height: 6, width: 20, outChannels: 5, batch: 3, threads: 2, seed: 2)
        checkAgainstReference(segments: [4, 1, 2], height: 2, width: 34, outChannels: 4, batch: 1, threads: 1, seed: 3)
        checkAgainstReference(segments: [6], height: 8, width: 16, outChannels: 3, batch: 3, threads: 3, seed: 4)
    }

    func testPooledTransitionGradientsMatchCentralDifference() {
        let (h, sources) = harness(segments: [2, 3], height: 4, width: 6, outChannels: 3, batch: 2, threads: 2, seed: 5)
        var rng = TestRandom(seed: 6)
        for s in sources { fillMirrored(h.view(s), batch: 2, rng: &rng) }
        h.setParameter("t.norm.weight", rng.floats(5, 0.6, 1.4))
        h.setParameter("t.norm.bias", rng.floats(5, -0.05, 0.05))
        let results = h.checkAll(sourceNames: ["input segment 0", "input segment 1"])
        XCTAssertEqual(Set(results.map(\.tensor)),
                       ["t.weight", "t.norm.weight", "t.norm.bias", "input segment 0", "input segment 1"])
    }

    func testPooledTransitionDeclaresTheParametersOfTheUnfusedPreactivatedConvolution() {
        // Same names, shapes, roles and order as BN-ReLU-Conv1×1 at full resolution, so that
        // checkpoints of models with unfused transitions load unchanged.
        let shape = TensorShape(channels: 5, height: 8, width: 6)
        let pooled = PooledConvolutionLayer(name: "transition1.conv", inputs: [], output: ValueID(index: 1),
                                            inputShape: shape, outChannels: 3)
        let unfused = ConvolutionLayer(name: "transition1.conv", inputs: [], output: ValueID(index: 1),
                                       geometry: ConvolutionGeometry(inChannels: 5, outChannels: 3, kernel: 1, stride: 1,
                                                                     padding: 0, inHeight: 8, inWidth: 6),
                                       preactivation: true, bias: false, needsInputGradient: true)
        XCTAssertEqual(pooled.parameters, unfused.parameters)
        XCTAssertEqual(pooled.buffers, unfused.buffers)
        // The architecture's MACs: the convolution counted at full resolution, as the papers do.
        XCTAssertEqual(pooled.macsPerSample, unfused.macsPerSample)
        XCTAssertEqual(pooled.outputShape, TensorShape(channels: 3, height: 4, width: 3))
    }
}
