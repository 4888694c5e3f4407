import TestSupport
import XCTest
@testable import Engine

/// Checks the engine's own forward kernels (`DirectKernel`: 3×3 `DirectConvolution.forward`, and
/// 1×1 `PointwiseConvolution.forward` in `testPointwiseForward…`) against the naive Double
/// reference of `ConvolutionReferenceTests` and against the im2col + sgemm path, on random shapes:
/// multi-segment channel-slice inputs, with and without the fused BN-ReLU and bias, widths 1–33
/// (both tile kinds, partial tiles), heights 1–9 (odd last rows of the two-row tile) and output
/// channel counts that are not multiples of the 6-channel block.
final class DirectConvolutionTests: XCTestCase, KernelTestCase {
    /// The kernel sets this CPU runs; every check covers each of them. A CPU without AVX-512
    /// says so once, so a run on such a machine shows that path went unchecked.
    static let kernelSets: [KernelSet] = {
        let sets = KernelSet.allCases.filter(\.isSupported)
        if !sets.contains(.avx512) {
            print("DirectConvolutionTests: this CPU has no AVX-512; the avx512 kernels are skipped, only avx2 is checked")
        }
        return sets
    }()

    /// `|direct − reference| ≤ referenceTolerance · max(1, |reference|)`: float accumulation over
    /// at most 9·14 products of values below 1.5 in magnitude.
    let referenceTolerance = 1e-4
    /// `|direct − im2col| ≤ im2colTolerance · max(1, |im2col|)`: the two differ only in the order
    /// of the float summation (and FMA rounding).
    let im2colTolerance: Float = 2e-5

    /// The reference tests' case; kernel 3, stride 1, padding 1 (the accumulate flags are unused).
    typealias Case = ConvolutionReferenceTests.Case

    /// A 3×3, stride-1, padding-1 case.
    func threeByThree(batch: Int, segments: [Int], height: Int, width: Int, outChannels: Int,
                      activation: Bool, bias: Bool) -> Case {
        Case(batch: batch, segments: segments, height: height, width: width, outChannels: outChannels, kernel: 3,
             stride: 1, padding: 1, activation: activation, bias: bias, accumulateWeights: false, accumulateInput: false)
    }

    /// The outputs of both kernels and the reference for one case, after checking that neither
    /// kernel wrote past its scratch or output.
    struct Outcome {
        /// The direct kernel's output with each kernel set this CPU runs.
        var direct: [(kernels: KernelSet, output: [Float])], im2col: [Float], reference: [Double]
    }

    func run(_ c: Case, rng: inout TestRandom, input: ((Int, TensorView) -> Void)? = nil,
             file: StaticString = #filePath, line: UInt = #line) -> Outcome {
        let inChannels = c.segments.reduce(0, +)
        let g = ConvolutionGeometry(inChannels: inChannels, outChannels: c.outChannels, kernel: c.kernel, stride: 1,
                                    padding: c.kernel / 2, inHeight: c.height, inWidth: c.width)
        let kernel = DirectKernel(g)!
        // The 3×3 kernel's exact need; the 1×1 kernel is held to the layer's workspace bound.
        let scratchCount = c.kernel == 3 ? DirectConvolution.scratchCount(g) : DirectKernel.workspaceElements(g, segmentCount: 1)
        let inputs = ConvolutionReferenceTests.SegmentStorage.random(
            batch: c.batch, segments: c.segments, height: c.height, width: c.width, rng: &rng, edit: input)
        let weight = rng.floats(g.weightCount), bias = rng.floats(c.outChannels)
        let scale = rng.floats(inChannels, 0.5, 1.5), shift = rng.floats(inChannels, -0.3, 0.3)
        let w = FloatBuffer(count: g.weightCount), b = FloatBuffer(count: c.outChannels)
        w.copy(from: weight); b.copy(from: bias)
        let scaleBuffer = FloatBuffer(count: inChannels), shiftBuffer = FloatBuffer(count: inChannels)
        scaleBuffer.copy(from: scale); shiftBuffer.copy(from: shift)
        let activation = c.activation ? InputActivation(scale: scaleBuffer.pointer, shift: shiftBuffer.pointer) : nil
        let x = inputs.map(\.view)
        let outCount = c.batch * g.outChannels * g.outPlane

        // Direct, with each kernel set: scratch of exactly `scratchCount` and an output followed
        // by guards, both full of a sentinel; samples in reverse order so that a store into the
        // next sample's planes is not repaired by computing that sample afterwards.
        var direct: [(kernels: KernelSet, output: [Float])] = []
        for kernels in Self.kernelSets {
            let scratch = guarded(scratchCount, fill: sentinel), y = guarded(outCount, fill: sentinel)
            let yView = TensorView(base: y.pointer, shape: g.outShape)
            kernel.packWeights(w.pointer, geometry: g, scratch: scratch.pointer, kernels: kernels)
            for n in (0..<c.batch).reversed() {
                kernel.forward(sample: n, input: x, geometry: g, activation: activation,
                                          bias: c.bias ? UnsafePointer(b.pointer) : nil, output: yView,
                                          scratch: scratch.pointer, kernels: kernels)
            }
            expectGuards(scratch, after: scratchCount, "\(c) \(kernels) scratch", file: file, line: line)
            expectGuards(y, after: outCount, "\(c) \(kernels) output", file: file, line: line)
            direct.append((kernels, Array(y.toArray()[0..<outCount])))
        }

        // im2col + sgemm.
        let col = FloatBuffer(count: g.patchSize * g.outPlane), yIm2col = FloatBuffer(count: outCount)
        let yIm2colView = TensorView(base: yIm2col.pointer, shape: g.outShape)
        for n in 0..<c.batch {
            Convolution.forward(sample: n, input: x, geometry: g, activation: activation, weight: w.pointer,
                                bias: c.bias ? UnsafePointer(b.pointer) : nil, output: yIm2colView, col: col.pointer)
        }

        let reference = ConvolutionReferenceTests.referenceForward(
            batch: c.batch, inputs: x, geometry: g, activation: c.activation ? (scale, shift) : nil,
            weight: weight, bias: c.bias ? bias : nil)
        return Outcome(direct: direct, im2col: yIm2col.toArray(), reference: reference)
    }

    /// Runs `c` and reports the first few disagreements with the reference and with im2col.
    func check(_ c: Case, rng: inout TestRandom, file: StaticString = #filePath, line: UInt = #line) {
        let o = run(c, rng: &rng, file: file, line: line)
        for (kernels, output) in o.direct {
            var failures = 0
            for i in 0..<o.reference.count {
                let d = output[i], r = o.reference[i], m = o.im2col[i]
                let matchesReference = abs(Double(d) - r) <= referenceTolerance * max(1, abs(r))
                let matchesIm2col = abs(d - m) <= im2colTolerance * max(1, abs(m))
                if !(matchesReference && matchesIm2col) {
                    failures += 1
                    if failures <= 5 {
                        XCTFail("\(c) \(kernels): y[\(i)]: direct \(d), reference \(r), im2col \(m)", file: file, line: line)
                    }
                }
            }
        }
    }

    func testDirectForwardMatchesReferenceAndIm2colOnEveryWidth() {
        // Widths 1–33 (two-row tiles up to 8, then full and partial 16-wide tiles), each with
        // random heights 1–9, 1–3 segments of channel slices; output channels run through 1–24,
        // so every remainder of the 6-, 8- and 12-channel tile blocks occurs.
        let cases = WidthSweep.run(1...33, seed: 311) { width, rng in
            let segmentCount = rng.int(1...3)
            return threeByThree(batch: rng.int(1...2), segments: (0..<segmentCount).map { _ in rng.int(1...4) },
                                height: rng.int(1...9), width: width, outChannels: width * 7 % 24 + 1,
                                activation: rng.bool(), bias: rng.bool())
        } check: { check($0, rng: &$1) }
        // The draw reached every output channel count and every activation/bias/segment mix.
        WidthSweep.assertForwardCoverage(cases, outputs: Set(1...24))
    }

    func testPointwiseForwardMatchesReferenceAndIm2colOnEveryPixelCount() {
        // Pixel counts 1–40 (a single unactivated segment with a multiple of 16 pixels is read in
        // place, everything else is copied), output channels through 1–24, 1–3 segments.
        var rng = TestRandom(seed: 41)
        var inPlace = 0
        for pixels in 1...40 {
            let (h, w) = pixels % 3 == 0 ? (3, pixels / 3) : (1, pixels)
            // 16 pixels: one plain segment, read in place; 32: two plain segments, which must be
            // copied (concatenated) although no activation applies.
            let segmentCount = pixels % 16 == 0 ? pixels / 16 : rng.int(1...3)
            var c = threeByThree(batch: rng.int(1...2), segments: (0..<segmentCount).map { _ in rng.int(1...9) },
                                 height: h, width: w, outChannels: pixels * 7 % 24 + 1,
                                 activation: pixels % 16 == 0 ? false : rng.bool(), bias: rng.bool())
            c.kernel = 1
            c.padding = 0
            if pixels % 16 == 0 && segmentCount == 1 { inPlace += 1 }
            check(c, rng: &rng)
        }
        XCTAssertEqual(inPlace, 1)
    }

    func testDirectForwardMatchesReferenceOnNetworkStageShapes() {
        // The CIFAR stages' widths 32, 16 and 8 with DenseNet-like channel counts.
        var rng = TestRandom(seed: 12)
        for (side, segments, out) in [(32, [3, 5], 12), (16, [7, 2, 3], 13), (8, [9, 4], 24), (8, [5], 7), (4, [6], 6)] {
            check(threeByThree(batch: 2, segments: segments, height: side, width: side, outChannels: out,
                       activation: true, bias: false), rng: &rng)
        }
        check(threeByThree(batch: 1, segments: [6], height: 7, width: 32, outChannels: 16, activation: false, bias: true), rng: &rng)
    }

    func testDirectForwardPropagatesNaNLikeIm2col() {
        // The fused activation is `max(v, 0)`, which keeps a NaN: a NaN input pixel poisons exactly
        // the outputs whose window covers it, in both kernels. (The Double reference's
        // `max(0, v)` drops NaNs, so it is not compared here.)
        var rng = TestRandom(seed: 5)
        for activation in [false, true] {
            let c = threeByThree(batch: 1, segments: [2, 1], height: 5, width: 11, outChannels: 7, activation: activation, bias: true)
            let o = run(c, rng: &rng, input: { segment, view in
                // Segment 1 (channel 2), pixel (2, 9).
                if segment == 1 { view.plane(0, 0)[2 * 11 + 9] = .nan }
            })
            for (kernels, output) in o.direct {
                var nanCount = 0
                for i in 0..<output.count {
                    XCTAssertEqual(output[i].isNaN, o.im2col[i].isNaN, "\(kernels) activation \(activation) y[\(i)]")
                    if output[i].isNaN { nanCount += 1 }
                }
                // 3×3 window around (2, 9) in an 11-wide map, in all 7 output channels.
                XCTAssertEqual(nanCount, 7 * 9, "\(kernels) activation \(activation)")
            }
        }
    }

    func testLayerPanelsCoverWhatTheirAlgorithmNeeds() {
        // Own kernels: forward and weight-gradient scratch in one panel, the input gradient's in
        // the other (both the same size); im2col: the patch matrix.
        for (h, w) in [(1, 1), (1, 9), (32, 32), (8, 8), (9, 33)] {
            let g = ConvolutionGeometry(inChannels: 5, outChannels: 3, kernel: 3, stride: 1, padding: 1, inHeight: h, inWidth: w)
            for algorithm in ConvolutionAlgorithm.allCases {
                let layer = ConvolutionLayer(name: "c", inputs: [], output: ValueID(index: 0), geometry: g,
                                             preactivation: true, bias: false, needsInputGradient: true, algorithm: algorithm)
                let panel = layer.workspace.panel
                if algorithm != .im2col {
                    XCTAssertGreaterThanOrEqual(panel, DirectConvolution.scratchCount(g), "\(h)×\(w)")
                    XCTAssertGreaterThanOrEqual(panel, DirectConvolution.inputGradientScratchCount(g, segments: [5]), "\(h)×\(w)")
                    XCTAssertGreaterThanOrEqual(panel, DirectConvolution.weightGradientScratchCount(
                        g, samples: DirectConvolution.preferredWeightGradientSamples(g)), "\(h)×\(w)")
                } else {
                    XCTAssertGreaterThanOrEqual(panel, g.patchSize * g.outPlane, "\(h)×\(w)")
                }
            }
        }
    }

    func testAlgorithmNamesParse() {
        XCTAssertEqual(ConvolutionAlgorithm.parse("direct"), .direct)
        XCTAssertEqual(ConvolutionAlgorithm.parse("im2col"), .im2col)
        XCTAssertEqual(ConvolutionAlgorithm.parse("winograd-all"), .winogradAll)
        XCTAssertEqual(ConvolutionAlgorithm.parse(""), ConvolutionAlgorithm.standard)
        XCTAssertNil(ConvolutionAlgorithm.parse("Direct"))
        let g3 = ConvolutionGeometry(inChannels: 2, outChannels: 2, kernel: 3, stride: 1, padding: 1, inHeight: 4, inWidth: 4)
        let g3s2 = ConvolutionGeometry(inChannels: 2, outChannels: 2, kernel: 3, stride: 2, padding: 1, inHeight: 4, inWidth: 4)
        let g3s2p0 = ConvolutionGeometry(inChannels: 2, outChannels: 2, kernel: 3, stride: 2, padding: 0, inHeight: 4, inWidth: 4)
        let g1 = ConvolutionGeometry(inChannels: 2, outChannels: 2, kernel: 1, stride: 1, padding: 0, inHeight: 4, inWidth: 4)
        let g1s2 = ConvolutionGeometry(inChannels: 2, outChannels: 2, kernel: 1, stride: 2, padding: 0, inHeight: 4, inWidth: 4)
        XCTAssertTrue(ConvolutionAlgorithm.direct.handles(g3))
        XCTAssertTrue(ConvolutionAlgorithm.direct.handles(g3s2))
        XCTAssertFalse(ConvolutionAlgorithm.direct.handles(g3s2p0))
        XCTAssertTrue(ConvolutionAlgorithm.direct.handles(g1))
        XCTAssertFalse(ConvolutionAlgorithm.direct.handles(g1s2))
        XCTAssertFalse(ConvolutionAlgorithm.im2col.handles(g3))
        XCTAssertFalse(ConvolutionAlgorithm.im2col.handles(g3s2))
    }
}
