import TestSupport
import XCTest
@testable import Engine

/// The fully connected layer: forward against a direct product, accumulation semantics of the
/// backward kernel, and finite-difference gradients through a network.
final class LinearTests: XCTestCase {
    func testLinearForwardComputesWeightTimesInputPlusBias() {
        let batch = 3, inFeatures = 5, outFeatures = 4
        var rng = TestRandom(seed: 61)
        let x = rng.floats(batch * inFeatures), w = rng.floats(outFeatures * inFeatures), b = rng.floats(outFeatures)
        var y = [Float](repeating: 0, count: batch * outFeatures)
        Linear.forward(x: x, weight: w, bias: b, y: &y, batch: batch, inFeatures: inFeatures, outFeatures: outFeatures)
        for n in 0..<batch {
            for o in 0..<outFeatures {
                var s = Double(b[o])
                for i in 0..<inFeatures { s += Double(w[o * inFeatures + i]) * Double(x[n * inFeatures + i]) }
                XCTAssertEqual(Double(y[n * outFeatures + o]), s, accuracy: 1e-5)
            }
        }
    }

    func testLinearBackwardAddsToExistingGradients() {
        let batch = 2, inFeatures = 3, outFeatures = 2
        var rng = TestRandom(seed: 62)
        let x = rng.floats(batch * inFeatures), w = rng.floats(outFeatures * inFeatures), dy = rng.floats(batch * outFeatures)
        let dwBefore = rng.floats(outFeatures * inFeatures), dbBefore = rng.floats(outFeatures), dxBefore = rng.floats(batch * inFeatures)
        var dw = dwBefore, db = dbBefore, dx = dxBefore
        Linear.backward(x: x, weight: w, dy: dy, weightGradient: &dw, biasGradient: &db, dx: &dx,
                        batch: batch, inFeatures: inFeatures, outFeatures: outFeatures)
        for o in 0..<outFeatures {
            var sb = Double(dbBefore[o])
            for n in 0..<batch { sb += Double(dy[n * outFeatures + o]) }
            XCTAssertEqual(Double(db[o]), sb, accuracy: 1e-6)
            for i in 0..<inFeatures {
                var s = Double(dwBefore[o * inFeatures + i])
                for n in 0..<batch { s += Double(dy[n * outFeatures + o]) * Double(x[n * inFeatures + i]) }
                XCTAssertEqual(Double(dw[o * inFeatures + i]), s, accuracy: 1e-6)
            }
        }
        for n in 0..<batch {
            for i in 0..<inFeatures {
                var s = Double(dxBefore[n * inFeatures + i])
                for o in 0..<outFeatures { s += Double(dy[n * outFeatures + o]) * Double(w[o * inFeatures + i]) }
                XCTAssertEqual(Double(dx[n * inFeatures + i]), s, accuracy: 1e-6)
            }
        }
    }

    func testLinearGradientsMatchCentralDifference() {
        // Over a flattened C×H×W input, as after global pooling or for a small MLP head.
        var rng = TestRandom(seed: 63)
        let h = GraphHarness(source: TensorShape(channels: 3, height: 2, width: 2), batch: 3, rng: &rng) {
            $0.linear($1, outFeatures: 5, name: "fc")
        }
        let results = h.checkAll(sourceNames: ["x"])
        XCTAssertEqual(Set(results.map(\.tensor)), ["x", "fc.weight", "fc.bias"])
    }

    func testLinearParameterLayoutIsWeightThenBias() {
        var g = Graph(input: TensorShape(channels: 3, height: 1, width: 1))
        g.linear(g.input, outFeatures: 2, name: "fc")
        let net = Network(graph: g, maxBatch: 1, pool: ComputePool(threads: 1), seed: 1)
        let w = net.parameters.slot(named: "fc.weight")!, b = net.parameters.slot(named: "fc.bias")!
        XCTAssertEqual(w.declaration.shape, [2, 3])
        XCTAssertEqual(b.declaration.shape, [2])
        // y = W x + b with x = e_1 picks column 1 of W plus b.
        let p = net.parameters.values.pointer
        for i in 0..<6 { p[w.offset + i] = Float(i) }
        p[b.offset] = 10; p[b.offset + 1] = 20
        net.input[0] = 0; net.input[1] = 1; net.input[2] = 0
        net.forward(batch: 1, training: false)
        XCTAssertEqual(net.output[0], 1 + 10)
        XCTAssertEqual(net.output[1], 4 + 20)
    }
}
