import TestSupport
import XCTest
@testable import Engine

/// 2×2/2 average pooling and global average pooling: forward values against direct sums, and
/// finite-difference input gradients through small networks.
final class PoolingTests: XCTestCase {
    func testTwoByTwoAveragePoolingAveragesEachWindow() {
        let batch = 2, shape = TensorShape(channels: 3, height: 4, width: 6)
        var g = Graph(input: shape)
        g.averagePool(g.input, name: "pool")
        let net = Network(graph: g, maxBatch: batch, pool: ComputePool(threads: 2), seed: 1)
        var rng = TestRandom(seed: 51)
        let x = TensorView(base: net.input, shape: shape)
        fillUniform(x, batch: batch, rng: &rng)
        net.forward(batch: batch, training: true)
        let y = net.context.view(net.graph.output)
        XCTAssertEqual(y.shape, TensorShape(channels: 3, height: 2, width: 3))
        for n in 0..<batch {
            for c in 0..<3 {
                for oy in 0..<2 {
                    for ox in 0..<3 {
                        let p = x.plane(n, c)
                        let sum = p[2 * oy * 6 + 2 * ox] + p[2 * oy * 6 + 2 * ox + 1] + p[(2 * oy + 1) * 6 + 2 * ox] + p[(2 * oy + 1) * 6 + 2 * ox + 1]
                        XCTAssertEqual(y.plane(n, c)[oy * 3 + ox], sum / 4, accuracy: 1e-6)
                    }
                }
            }
        }
    }

    func testTwoByTwoAveragePoolingInputGradientMatchesCentralDifference() {
        let batch = 2
        var g = Graph(input: TensorShape(channels: 3, height: 6, width: 4))
        let source = g.dropout(g.input, rate: 0, name: "source")
        g.averagePool(source, name: "pool")
        let h = GraphHarness(graph: g, sources: [source], batch: batch)
        var rng = TestRandom(seed: 52)
        fillUniform(h.view(source), batch: batch, rng: &rng)
        // The pooled planes are small, so check every input element.
        h.computeGradients()
        let result = compareWithCentralDifference(tensor: "x", values: h.view(source).base,
                                                  analytic: contents(h.context.gradient(source), batch: batch),
                                                  samples: .max, objective: h.objective)
        XCTAssertEqual(result.checked, batch * 3 * 24)
        assertGradientMatches(result)
    }

    func testGlobalAveragePoolingTakesEachPlaneMean() {
        let batch = 3, shape = TensorShape(channels: 2, height: 5, width: 3)
        var g = Graph(input: shape)
        g.globalAveragePool(g.input, name: "gap")
        let net = Network(graph: g, maxBatch: batch, pool: ComputePool(threads: 2), seed: 1)
        var rng = TestRandom(seed: 53)
        let x = TensorView(base: net.input, shape: shape)
        fillUniform(x, batch: batch, rng: &rng)
        net.forward(batch: batch, training: true)
        XCTAssertEqual(net.outputCount, 2)
        for n in 0..<batch {
            for c in 0..<2 {
                let mean = (0..<15).reduce(0.0) { $0 + Double(x.plane(n, c)[$1]) } / 15
                XCTAssertEqual(Double(net.output[n * 2 + c]), mean, accuracy: 1e-6)
            }
        }
    }

    func testGlobalAveragePoolingInputGradientMatchesCentralDifference() {
        let batch = 2
        var g = Graph(input: TensorShape(channels: 3, height: 5, width: 7))
        let source = g.dropout(g.input, rate: 0, name: "source")
        g.globalAveragePool(source, name: "gap")
        let h = GraphHarness(graph: g, sources: [source], batch: batch)
        var rng = TestRandom(seed: 54)
        fillUniform(h.view(source), batch: batch, rng: &rng)
        h.checkAll(sourceNames: ["x"])
    }

    func testGlobalAveragePoolingFollowedByLinearGradientsMatchCentralDifference() {
        // The classifier head of every model: pooled features into a linear layer.
        let batch = 2
        var g = Graph(input: TensorShape(channels: 4, height: 3, width: 3))
        let source = g.dropout(g.input, rate: 0, name: "source")
        let pooled = g.globalAveragePool(source, name: "gap")
        g.linear(pooled, outFeatures: 3, name: "fc")
        let h = GraphHarness(graph: g, sources: [source], batch: batch)
        var rng = TestRandom(seed: 55)
        fillUniform(h.view(source), batch: batch, rng: &rng)
        h.labels = [2, 0]
        let results = h.checkAll(sourceNames: ["x"])
        XCTAssertEqual(Set(results.map(\.tensor)), ["x", "fc.weight", "fc.bias"])
    }
}
