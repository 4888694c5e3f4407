import TestSupport
import XCTest
@testable import Engine

/// The fused batch norm + residual sum (`NormalizedResidualLayer`): bitwise the same as a
/// `BatchNormLayer` followed by a `ResidualLayer` in training and evaluation mode, for identity
/// and option-A shortcuts, with and without ReLU, with a shortcut whose gradient another layer
/// also adds to; and gradients that match central differences.
final class NormalizedResidualTests: XCTestCase {
    /// One case: the branch `x` is C×H×W, the shortcut `s` Cs×(k·H)×(k·W).
    struct Case {
        var channels: Int, shortcutChannels: Int, height: Int, width: Int, factor: Int
    }

    /// Identity shortcuts with planes of a whole number of vectors and with a tail (5 × 5), and
    /// option A's stride 2 with zero-padded channels on both sides (4 → 8) or unevenly (2 → 5).
    let cases = [Case(channels: 3, shortcutChannels: 3, height: 4, width: 4, factor: 1),
                 Case(channels: 4, shortcutChannels: 4, height: 5, width: 5, factor: 1),
                 Case(channels: 8, shortcutChannels: 4, height: 3, width: 4, factor: 2),
                 Case(channels: 5, shortcutChannels: 2, height: 5, width: 3, factor: 2)]

    /// Builds `relu?(bn(x) + shortcut(s))` fused (`normalizedResidual`) or as `batchNorm` then
    /// `residual`, optionally followed by a second sum that also reads `s` (so the layer under
    /// test adds to a shortcut gradient another layer wrote first), with sources and batch-norm
    /// parameters drawn from the same seed either way.
    func harness(_ c: Case, fused: Bool, relu: Bool, secondConsumer: Bool, batch: Int = 3) -> GraphHarness {
        var g = Graph(input: TensorShape(channels: c.shortcutChannels, height: c.factor * c.height,
                                         width: c.factor * c.width))
        let s = g.dropout(g.input, rate: 0, name: "sourceS")
        let x = g.convolution([g.input], outChannels: c.channels, kernel: 1, stride: c.factor, name: "sourceX")
        var y = fused
            ? g.normalizedResidual(x, norm: "norm", shortcut: s, relu: relu, name: "add")
            : g.residual(g.batchNorm([x], relu: false, name: "norm"), shortcut: s, relu: relu, name: "add")
        if secondConsumer, c.factor == 1, c.channels == c.shortcutChannels {
            y = g.residual(y, shortcut: s, relu: false, name: "again")
        }
        let h = GraphHarness(graph: g, sources: [s, x], batch: batch)
        var rng = TestRandom(seed: 97)
        fillUniform(h.view(s), batch: batch, rng: &rng)
        // Per-channel offsets and spreads, so that the batch statistics are really exercised.
        for n in 0..<batch {
            for ch in 0..<c.channels {
                let p = h.view(x).plane(n, ch)
                for i in 0..<(c.height * c.width) { p[i] = Float(ch) - 1 + Float(ch + 1) * rng.uniform(-1, 1) }
            }
        }
        h.setNormParameters("norm", channels: c.channels, rng: &rng, scale: (0.5, 1.5), shift: (-0.5, 0.5))
        return h
    }

    /// The bit patterns of a tensor's first `batch` samples.
    func bits(_ view: TensorView, batch: Int) -> [UInt32] {
        contents(view, batch: batch).map(\.bitPattern)
    }

    /// Fails unless `a` and `b` are the same bit patterns, naming the first element that differs
    /// and how many do (not the whole arrays).
    func assertSameBits(_ a: [UInt32], _ b: [UInt32], _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        guard a.count == b.count else {
            return XCTFail("\(label): \(a.count) against \(b.count) elements", file: file, line: line)
        }
        let differing = a.indices.filter { a[$0] != b[$0] }
        if let i = differing.first {
            XCTFail("\(label): \(differing.count) of \(a.count) elements differ, first [\(i)] "
                    + "\(Float(bitPattern: a[i])) against \(Float(bitPattern: b[i]))", file: file, line: line)
        }
    }

    /// The bit patterns of the named parameter's gradient.
    func gradientBits(_ h: GraphHarness, _ name: String) -> [UInt32] {
        let s = h.slot(name)
        return (0..<s.declaration.count).map { h.net.parameters.gradients!.pointer[s.offset + $0].bitPattern }
    }

    /// The bit patterns of every buffer (the running statistics).
    func bufferBits(_ h: GraphHarness) -> [UInt32] {
        (0..<h.net.buffers.values.count).map { h.net.buffers.values.pointer[$0].bitPattern }
    }

    func testFusedLayerMatchesBatchNormThenResidualBitwise() {
        for c in cases {
            for relu in [false, true] {
                for second in [false, true] {
                    let label = "\(c) relu \(relu) second consumer \(second)"
                    let fused = harness(c, fused: true, relu: relu, secondConsumer: second)
                    let plain = harness(c, fused: false, relu: relu, secondConsumer: second)
                    XCTAssertEqual(fused.net.graph.layers.count + 1, plain.net.graph.layers.count, label)
                    fused.computeGradients()
                    plain.computeGradients()
                    let out = fused.net.graph.output, plainOut = plain.net.graph.output
                    assertSameBits(bits(fused.view(out), batch: 3), bits(plain.view(plainOut), batch: 3), "output, " + label)
                    for (k, v) in fused.sources.enumerated() {
                        let w = plain.sources[k]
                        assertSameBits(bits(fused.context.gradient(v), batch: 3), bits(plain.context.gradient(w), batch: 3),
                                       "gradient of source \(k), " + label)
                    }
                    for name in ["norm.weight", "norm.bias"] {
                        assertSameBits(gradientBits(fused, name), gradientBits(plain, name), name + ", " + label)
                    }
                    assertSameBits(bufferBits(fused), bufferBits(plain), "running statistics, " + label)
                    // Evaluation mode: the running statistics' transform.
                    fused.net.forward(batch: 3, training: false)
                    plain.net.forward(batch: 3, training: false)
                    assertSameBits(bits(fused.view(out), batch: 3), bits(plain.view(plainOut), batch: 3),
                                   "evaluation output, " + label)
                }
            }
        }
    }

    func testFusedLayerGradientsMatchCentralDifference() {
        // Without ReLU: the batch statistics move every sum, so no input keeps clear of the kink.
        // The ReLU's mask is covered bitwise against the separately checked layers above.
        for c in cases {
            let h = harness(c, fused: true, relu: false, secondConsumer: false)
            let results = h.checkAll(sourceNames: ["shortcut", "x"])
            XCTAssertEqual(Set(results.map(\.tensor)), ["shortcut", "x", "norm.weight", "norm.bias"], "\(c)")
        }
    }

    func testFusedLayerKeepsTheBatchNormsParameterNamesAndOrder() {
        let c = cases[2]
        let fused = harness(c, fused: true, relu: true, secondConsumer: false)
        let plain = harness(c, fused: false, relu: true, secondConsumer: false)
        XCTAssertEqual(fused.net.parameters.slots.map(\.declaration.name), plain.net.parameters.slots.map(\.declaration.name))
        XCTAssertEqual(fused.net.buffers.slots.map(\.declaration.name), plain.net.buffers.slots.map(\.declaration.name))
        XCTAssertEqual(fused.net.graph.layers.last?.kind, "bn-add-relu")
    }
}
