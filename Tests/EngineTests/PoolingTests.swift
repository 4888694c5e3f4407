import TestSupport
import XCTest
@testable import Engine

/// 2×2/2 average pooling and global average pooling: forward values against direct sums, and
/// finite-difference input gradients through small networks.
final class PoolingTests: XCTestCase {
    /// The network of the one layer `layer` adds on an input of `shape` (seed 1, 2 threads), run
    /// forward in training mode on uniform input from `TestRandom(seed: seed)`, and that input.
    func forwardOneLayer(_ shape: TensorShape, batch: Int, seed: UInt64,
                         layer: (inout Graph) -> Void) -> (net: Network, input: TensorView) {
        var g = Graph(input: shape)
        layer(&g)
        let net = Network(graph: g, maxBatch: batch, pool: ComputePool(threads: 2), seed: 1)
        var rng = TestRandom(seed: seed)
        let x = TensorView(base: net.input, shape: shape)
        fillUniform(x, batch: batch, rng: &rng)
        net.forward(batch: batch, training: true)
        return (net, x)
    }

    func testTwoByTwoAveragePoolingAveragesEachWindow() {
        let batch = 2
        let (net, x) = forwardOneLayer(TensorShape(channels: 3, height: 4, width: 6), batch: batch, seed: 51) {
            $0.averagePool($0.input, name: "pool")
        }
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
        var rng = TestRandom(seed: 52)
        let h = GraphHarness(source: TensorShape(channels: 3, height: 6, width: 4), batch: batch, rng: &rng) {
            $0.averagePool($1, name: "pool")
        }
        // The pooled planes are small, so check every input element.
        h.computeGradients()
        let result = compareWithCentralDifference(tensor: "x", values: h.view(h.source).base,
                                                  analytic: contents(h.context.gradient(h.source), batch: batch),
                                                  samples: .max, objective: h.objective)
        XCTAssertEqual(result.checked, batch * 3 * 24)
        assertGradientMatches(result)
    }

    func testGlobalAveragePoolingTakesEachPlaneMean() {
        let batch = 3
        let (net, x) = forwardOneLayer(TensorShape(channels: 2, height: 5, width: 3), batch: batch, seed: 53) {
            $0.globalAveragePool($0.input, name: "gap")
        }
        XCTAssertEqual(net.outputCount, 2)
        for n in 0..<batch {
            for c in 0..<2 {
                let mean = (0..<15).reduce(0.0) { $0 + Double(x.plane(n, c)[$1]) } / 15
                XCTAssertEqual(Double(net.output[n * 2 + c]), mean, accuracy: 1e-6)
            }
        }
    }

    func testGlobalAveragePoolingInputGradientMatchesCentralDifference() {
        var rng = TestRandom(seed: 54)
        let h = GraphHarness(source: TensorShape(channels: 3, height: 5, width: 7), batch: 2, rng: &rng) {
            $0.globalAveragePool($1, name: "gap")
        }
        h.checkAll(sourceNames: ["x"])
    }

    func testGlobalAveragePoolingFollowedByLinearGradientsMatchCentralDifference() {
        // The classifier head of every model: pooled features into a linear layer.
        var rng = TestRandom(seed: 55)
        let h = GraphHarness(source: TensorShape(channels: 4, height: 3, width: 3), batch: 2, rng: &rng) { g, source in
            let pooled = g.globalAveragePool(source, name: "gap")
            g.linear(pooled, outFeatures: 3, name: "fc")
        }
        h.labels = [2, 0]
        let results = h.checkAll(sourceNames: ["x"])
        XCTAssertEqual(Set(results.map(\.tensor)), ["x", "fc.weight", "fc.bias"])
    }
}
