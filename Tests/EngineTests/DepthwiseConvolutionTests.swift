import TestSupport
import XCTest
@testable import Engine

/// The depthwise 3×3 kernels (`DepthwiseConvolution`) against a naive nested-loop evaluation in
/// Double — forward, weight gradient and input gradient, strides 1 and 2, widths that leave
/// partial eight-wide chunks, with and without the fused activation — and `DepthwiseConvolutionLayer`'s
/// gradients against central differences, alone, behind its fused BN-ReLU over two inputs, and
/// adding to an input gradient another layer wrote.
final class DepthwiseConvolutionTests: XCTestCase {
    /// `|kernel − reference| ≤ referenceTolerance · max(1, |reference|)`.
    let referenceTolerance = 1e-5

    /// The naive depthwise 3×3, padding 1: the output of every channel and, for output gradient
    /// `dy`, the weight and input gradients, all in Double, over activated input `z`.
    struct Reference {
        var y: [Double], dw: [Double], dx: [Double]

        init(z: [Double], w: [Float], dy: [Float], g: DepthwiseConvolution.Geometry) {
            let (h, wi, ho, wo, s) = (g.inHeight, g.inWidth, g.outHeight, g.outWidth, g.stride)
            y = Array(repeating: 0, count: g.channels * g.outPlane)
            dw = Array(repeating: 0, count: g.weightCount)
            dx = Array(repeating: 0, count: g.channels * g.inPlane)
            for c in 0..<g.channels {
                for oy in 0..<ho {
                    for ox in 0..<wo {
                        let o = c * g.outPlane + oy * wo + ox
                        for ky in 0..<3 {
                            for kx in 0..<3 {
                                let iy = oy * s + ky - 1, ix = ox * s + kx - 1
                                guard iy >= 0, iy < h, ix >= 0, ix < wi else { continue }
                                let i = c * g.inPlane + iy * wi + ix, t = c * 9 + ky * 3 + kx
                                y[o] += Double(w[t]) * z[i]
                                dw[t] += Double(dy[o]) * z[i]
                                dx[i] += Double(dy[o]) * Double(w[t])
                            }
                        }
                    }
                }
            }
        }
    }

    /// The largest `|kernel − reference| / max(1, |reference|)` over `actual`.
    func worstError(_ actual: [Float], _ reference: [Double]) -> Double {
        zip(actual, reference).reduce(0) { max($0, abs(Double($1.0) - $1.1) / max(1, abs($1.1))) }
    }

    /// Runs the three kernels over one sample of geometry `g` and compares each with `Reference`.
    /// Returns the worst relative error.
    @discardableResult
    func checkAgainstReference(channels: Int, height: Int, width: Int, stride: Int, activation: Bool, seed: UInt64,
                               file: StaticString = #filePath, line: UInt = #line) -> Double {
        let g = DepthwiseConvolution.Geometry(channels: channels, stride: stride, inHeight: height, inWidth: width)
        var rng = TestRandom(seed: seed)
        let x = rng.floats(g.channels * g.inPlane), w = rng.floats(g.weightCount), dy = rng.floats(g.channels * g.outPlane)
        let scale = rng.floats(channels, 0.5, 1.5), shift = rng.floats(channels, -0.3, 0.3)
        let z = (0..<x.count).map { i -> Double in
            let c = i / g.inPlane
            return activation ? Double(max(x[i] * scale[c] + shift[c], 0)) : Double(x[i])
        }
        let reference = Reference(z: z, w: w, dy: dy, g: g)
        let padded = FloatBuffer(count: g.paddedPlaneCount), scratch = FloatBuffer(count: g.paddedPlaneCount)
        var y = [Float](repeating: .nan, count: g.channels * g.outPlane)
        var dw = [Float](repeating: 0, count: g.weightCount)
        // The input gradient is written over NaN, then added to a copy of itself (accumulate).
        var dx = [Float](repeating: .nan, count: g.channels * g.inPlane), doubled = dx
        scale.withUnsafeBufferPointer { a in
            shift.withUnsafeBufferPointer { b in
                let act = activation ? InputActivation(scale: a.baseAddress!, shift: b.baseAddress!) : nil
                for c in 0..<channels {
                    let xc = x.withUnsafeBufferPointer { $0.baseAddress! + c * g.inPlane }
                    DepthwiseConvolution.pad(xc, channel: c, activation: act, geometry: g, into: padded.pointer)
                    w.withUnsafeBufferPointer { w in
                        y.withUnsafeMutableBufferPointer {
                            DepthwiseConvolution.forward(padded: padded.pointer, weight: w.baseAddress! + 9 * c, geometry: g,
                                                         output: $0.baseAddress! + c * g.outPlane)
                        }
                        dy.withUnsafeBufferPointer { dy in
                            let d = dy.baseAddress! + c * g.outPlane
                            dw.withUnsafeMutableBufferPointer {
                                DepthwiseConvolution.weightGradient(padded: padded.pointer, outputGradient: d, geometry: g,
                                                                    weightGradient: $0.baseAddress! + 9 * c)
                            }
                            dx.withUnsafeMutableBufferPointer {
                                DepthwiseConvolution.inputGradient(outputGradient: d, weight: w.baseAddress! + 9 * c, geometry: g,
                                                                   padded: scratch.pointer, inputGradient: $0.baseAddress! + c * g.inPlane,
                                                                   accumulate: false)
                            }
                        }
                    }
                }
            }
        }
        doubled = dx
        for c in 0..<channels {
            dy.withUnsafeBufferPointer { dy in
                w.withUnsafeBufferPointer { w in
                    doubled.withUnsafeMutableBufferPointer {
                        DepthwiseConvolution.inputGradient(outputGradient: dy.baseAddress! + c * g.outPlane, weight: w.baseAddress! + 9 * c,
                                                           geometry: g, padded: scratch.pointer,
                                                           inputGradient: $0.baseAddress! + c * g.inPlane, accumulate: true)
                    }
                }
            }
        }
        let what = "\(channels)×\(height)×\(width) stride \(stride)\(activation ? " +act" : "")"
        let errors = [("output", worstError(y, reference.y)), ("weight gradient", worstError(dw, reference.dw)),
                      ("input gradient", worstError(dx, reference.dx)),
                      ("accumulated input gradient", worstError(doubled, reference.dx.map { 2 * $0 }))]
        for (name, error) in errors {
            XCTAssertLessThanOrEqual(error, referenceTolerance, "\(what): \(name)", file: file, line: line)
        }
        if ProcessInfo.processInfo.environment["GRADCHECK_VERBOSE"] != nil {
            print("depthwise reference \(what): worst relative errors \(errors)")
        }
        return errors.map(\.1).max()!
    }

    func testKernelsMatchNaiveReferenceAtStrideOne() {
        // Widths 8 (whole chunks), 5 and 11 (partial chunks), 1 (a single column).
        for (i, (h, w)) in [(8, 8), (3, 5), (4, 11), (5, 1)].enumerated() {
            checkAgainstReference(channels: 3, height: h, width: w, stride: 1, activation: false, seed: 400 + UInt64(i))
            checkAgainstReference(channels: 2, height: h, width: w, stride: 1, activation: true, seed: 410 + UInt64(i))
        }
    }

    func testKernelsMatchNaiveReferenceAtStrideTwo() {
        // Even and odd sizes; 17 wide gives a 9-wide output (one chunk and a one-lane tail).
        for (i, (h, w)) in [(8, 8), (5, 7), (4, 17), (3, 2)].enumerated() {
            checkAgainstReference(channels: 3, height: h, width: w, stride: 2, activation: false, seed: 420 + UInt64(i))
            checkAgainstReference(channels: 2, height: h, width: w, stride: 2, activation: true, seed: 430 + UInt64(i))
        }
    }

    // MARK: The layer

    func testLayerGradientsMatchCentralDifference() {
        for stride in [1, 2] {
            var rng = TestRandom(seed: 440 + UInt64(stride))
            let h = GraphHarness(source: TensorShape(channels: 3, height: 5, width: 6), batch: 3, rng: &rng) {
                $0.depthwiseConvolution([$1], stride: stride, name: "dw")
            }
            let results = h.checkAll(sourceNames: ["x"])
            XCTAssertEqual(Set(results.map(\.tensor)), ["x", "dw.depthwise.weight"])
        }
    }

    /// Behind its fused BN-ReLU over two inputs (a dense layer's aggregated inputs), at stride 1.
    func testPreactivatedLayerOverTwoInputsGradientsMatchCentralDifference() {
        var rng = TestRandom(seed: 450)
        let h = GraphHarness(input: TensorShape(channels: 2, height: 4, width: 5),
                             pointwiseSources: [("a", 2), ("b", 1)], batch: 2, fill: .mirrored, rng: &rng) {
            $0.depthwiseConvolution($1, preactivation: true, name: "dw")
        }
        h.setNormParameters("dw.norm", channels: 3, rng: &rng)
        let results = h.checkAll(sourceNames: ["a", "b"])
        XCTAssertEqual(Set(results.map(\.tensor)), ["a", "b", "dw.depthwise.weight", "dw.norm.weight", "dw.norm.bias"])
    }

    /// On a residual branch: the sum writes the source's gradient first and the layer adds to it.
    func testLayerAddsToAnInputGradientAnotherLayerWrote() {
        var rng = TestRandom(seed: 460)
        let h = GraphHarness(source: TensorShape(channels: 2, height: 4, width: 4), batch: 2, rng: &rng) { g, x in
            let d = g.depthwiseConvolution([x], name: "dw")
            g.residual(d, shortcut: x, relu: false, name: "add")
        }
        h.checkAll(sourceNames: ["x"])
    }

    func testLayerCountsNineWeightsAndMACsPerChannelAndOutputPixel() {
        var g = Graph(input: TensorShape(channels: 4, height: 8, width: 8))
        let d = g.depthwiseConvolution([g.input], stride: 2, preactivation: true, name: "dw")
        XCTAssertEqual(g.shape(d), TensorShape(channels: 4, height: 4, width: 4))
        XCTAssertEqual(g.parameterCount, 4 * 9 + 2 * 4)
        XCTAssertEqual(g.macsPerSample, 4 * 9 * 16)
        XCTAssertEqual(g.layers[0].kind, "bn-relu-depthwise3x3/2")
        XCTAssertEqual(g.layers[0].parameters.map(\.name), ["dw.norm.weight", "dw.norm.bias", "dw.depthwise.weight"])
        XCTAssertEqual(g.layers[0].parameters.last?.shape, [4, 1, 3, 3])
    }
}
