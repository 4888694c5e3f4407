import TestSupport
import XCTest
@testable import Engine

/// Checks the Winograd F(2×2, 3×3) kernels (`WinogradConvolution.forward` and `.inputGradient`)
/// against the naive Double reference of `ConvolutionReferenceTests`, with every kernel set the CPU
/// runs, on random shapes: widths 1–40 (blocks of four 4-tile rows, two 8-tile rows and 16-tile
/// rows, one or several per row, partial tiles at odd widths), heights 1–11 (partial tile rows),
/// multi-segment channel-slice inputs and gradient targets, the fused BN-ReLU, bias, accumulate;
/// and states the numerical error against the direct kernel.
final class WinogradConvolutionTests: XCTestCase, KernelTestCase {
    /// `|winograd − reference| ≤ tolerance · max(1, |reference|)`, as for the direct kernel: float
    /// sums of at most 24 input channels' products of values below 1.5 in magnitude.
    let tolerance = 1e-4

    /// The case type all 3×3 kernel tests share.
    typealias Case = ConvolutionCase

    /// Random channel-slice segments of `c`'s shape (`SegmentStorage`), with values in [−1, 1).
    func segments(_ c: Case, _ rng: inout TestRandom) -> [ConvolutionReferenceTests.SegmentStorage] {
        c.segments.map {
            let s = ConvolutionReferenceTests.SegmentStorage(batch: c.batch, channels: $0, height: c.height, width: c.width,
                                                             front: rng.int(0...2), back: rng.int(0...2))
            for i in 0..<s.buffer.count { s.buffer.pointer[i] = rng.uniform(-1, 1) }
            return s
        }
    }

    /// Reports elements where `actual` and `expected` differ by more than `tolerance` (relative
    /// above 1), the first five of them.
    func expectClose(_ actual: [Float], _ expected: [Double], _ what: String,
                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actual.count, expected.count, what, file: file, line: line)
        var failures = 0
        for i in 0..<min(actual.count, expected.count)
        where !(abs(Double(actual[i]) - expected[i]) <= tolerance * max(1, abs(expected[i]))) {
            failures += 1
            if failures <= 5 { XCTFail("\(what): [\(i)] \(actual[i]), expected \(expected[i])", file: file, line: line) }
        }
    }

    // MARK: Forward

    func checkForward(_ c: Case, rng: inout TestRandom, file: StaticString = #filePath, line: UInt = #line) {
        let g = c.geometry(), cin = g.inChannels
        let storage = segments(c, &rng), x = storage.map(\.view)
        defer { withExtendedLifetime(storage) {} }
        let weight = rng.floats(g.weightCount), bias = rng.floats(c.outChannels)
        let scale = rng.floats(cin, 0.5, 1.5), shift = rng.floats(cin, -0.3, 0.3)
        let w = FloatBuffer(count: weight.count), b = FloatBuffer(count: bias.count)
        let scaleBuffer = FloatBuffer(count: cin), shiftBuffer = FloatBuffer(count: cin)
        w.copy(from: weight); b.copy(from: bias); scaleBuffer.copy(from: scale); shiftBuffer.copy(from: shift)
        let activation = c.activation ? InputActivation(scale: scaleBuffer.pointer, shift: shiftBuffer.pointer) : nil
        let reference = ConvolutionReferenceTests.referenceForward(
            batch: c.batch, inputs: x, geometry: g, activation: c.activation ? (scale, shift) : nil,
            weight: weight, bias: c.bias ? bias : nil)
        let outCount = reference.count
        for kernels in kernelSets {
            // Scratch as a reused panel leaves it (NaN), so anything read before it is written shows.
            let scratchCount = WinogradConvolution.scratchCount(g)
            XCTAssertLessThanOrEqual(scratchCount, DirectConvolution.workspaceElements(g, segmentCount: c.segments.count))
            let scratch = guarded(scratchCount, fill: .nan), y = guarded(outCount, fill: sentinel)
            WinogradConvolution.transformWeights(w.pointer, geometry: g, scratch: scratch.pointer, kernels: kernels)
            for n in (0..<c.batch).reversed() {
                WinogradConvolution.forward(sample: n, input: x, geometry: g, activation: activation,
                                            bias: c.bias ? UnsafePointer(b.pointer) : nil,
                                            output: TensorView(base: y.pointer, shape: g.outShape),
                                            scratch: scratch.pointer, kernels: kernels)
            }
            expectGuards(scratch, after: scratchCount, "\(c) \(kernels) scratch", file: file, line: line)
            expectGuards(y, after: outCount, "\(c) \(kernels) output", file: file, line: line)
            expectClose(Array(y.toArray()[0..<outCount]), reference, "\(c) \(kernels)", file: file, line: line)
        }
    }

    func testWinogradForwardMatchesReferenceOnEveryWidth() {
        // Widths 1–40: up to 8 four 4-tile rows per block, 9–16 two 8-tile rows, above 16 one
        // 16-tile row (two blocks per row above 32); heights 1–11; output channels through
        // 1–24; every mix of activation, bias and one or more segments.
        let cases = WidthSweep.run(1...40, seed: 4242) { width, rng in
            let segmentCount = width % 3 + 1
            return Case(batch: rng.int(1...2), segments: (0..<segmentCount).map { _ in rng.int(1...4) },
                        height: rng.int(1...11), width: width, outChannels: width * 7 % 24 + 1,
                        activation: width & 1 == 1, bias: width & 2 == 2, accumulate: false)
        } check: { checkForward($0, rng: &$1) }
        WidthSweep.assertForwardCoverage(cases, outputs: Set(1...24))
    }

    func testWinogradForwardMatchesReferenceOnNetworkStageShapes() {
        var rng = TestRandom(seed: 99)
        for (side, segments, out) in [(32, [3, 5], 12), (16, [7, 2, 3], 13), (8, [9, 4], 24), (8, [5], 16), (4, [6], 6)] {
            checkForward(Case(batch: 2, segments: segments, height: side, width: side, outChannels: out,
                              activation: true, bias: side == 16, accumulate: false), rng: &rng)
        }
    }

    // MARK: Input gradient

    func checkInputGradient(_ c: Case, rng: inout TestRandom, file: StaticString = #filePath, line: UInt = #line) {
        let g = c.geometry(), cin = g.inChannels
        let weight = rng.floats(g.weightCount), dyValues = rng.floats(c.batch * g.outChannels * g.outPlane)
        let w = FloatBuffer(count: weight.count), dy = FloatBuffer(count: dyValues.count)
        w.copy(from: weight); dy.copy(from: dyValues)
        // dX[n, ch, iy, ix] = Σ dY[yi] · W[wi] over the taps that read (iy, ix), dense.
        var reference = [Double](repeating: 0, count: c.batch * cin * g.inPlane)
        ConvolutionReferenceTests.forEachTap(batch: c.batch, geometry: g) { n, yi, ch, wi, iy, ix in
            reference[((n * cin + ch) * c.height + iy) * c.width + ix] += Double(dyValues[yi]) * Double(weight[wi])
        }
        for kernels in kernelSets {
            let targets = segments(c, &rng)
            let prior = targets.map { $0.buffer.toArray() }
            let scratchCount = WinogradConvolution.inputGradientScratchCount(g, segments: c.segments, kernels: kernels)
            XCTAssertLessThanOrEqual(scratchCount, DirectConvolution.workspaceElements(g, segmentCount: c.segments.count))
            let scratch = guarded(scratchCount, fill: .nan)
            WinogradConvolution.transformTransposedWeights(w.pointer, geometry: g, segments: c.segments,
                                                           scratch: scratch.pointer, kernels: kernels)
            for n in (0..<c.batch).reversed() {
                WinogradConvolution.inputGradient(sample: n, outputGradient: TensorView(base: dy.pointer, shape: g.outShape),
                                                  geometry: g, inputGradient: targets.map(\.view),
                                                  accumulate: c.accumulate, scratch: scratch.pointer, kernels: kernels)
            }
            expectGuards(scratch, after: scratchCount, "\(c) \(kernels) scratch", file: file, line: line)
            // Every element of every target buffer: the slice's neighbours keep their values.
            var first = 0
            for (s, t) in targets.enumerated() {
                let stride = (t.front + t.channels + t.back) * t.plane
                let expected = (0..<t.buffer.count).map { i -> Double in
                    let n = i / stride, local = i % stride / t.plane - t.front, before = Double(prior[s][i])
                    if local < 0 || local >= t.channels { return before }
                    let r = reference[(n * cin + first + local) * g.inPlane + i % t.plane]
                    return c.accumulate ? before + r : r
                }
                expectClose(t.buffer.toArray(), expected, "\(c) \(kernels) segment \(s)", file: file, line: line)
                first += t.channels
            }
        }
    }

    func testWinogradInputGradientMatchesReferenceOnEveryWidth() {
        // The first segment's channels run through 1–24 (every remainder of the channel blocks).
        WidthSweep.runInputGradient(1...40, heights: 1...11, seed: 2718) { checkInputGradient($0, rng: &$1) }
    }

    // MARK: Error against the direct kernel

    func testWinogradErrorAtTypicalMagnitudesIsBelowTwoMillionthsOfTheOutputRMS() {
        // A DenseNet-like layer (16×16, 96 → 12) at training magnitudes: BN-ReLU outputs (half of
        // a unit normal, here |uniform| scaled to variance about 1) and He-uniform weights
        // (±√(6 / (9·96))), so outputs have a standard deviation near 1. Errors are against the
        // Double reference, relative to the reference's RMS.
        // Measured (AVX-512 and AVX2 alike): Winograd max 1.6e-6, RMS 2.9e-7; direct max 3.8e-6,
        // RMS 5.9e-7. F(2×2, 3×3) sums 96 products per element where the direct kernel sums
        // 864 per output, so its error is even smaller here (0.4–0.5×); the bound allows for
        // other draws and keeps Winograd within twice the direct kernel's error.
        var rng = TestRandom(seed: 1)
        let c = Case(batch: 1, segments: [96], height: 16, width: 16, outChannels: 12,
                     activation: false, bias: false, accumulate: false)
        let g = c.geometry()
        let x = segments(c, &rng)
        for i in 0..<x[0].buffer.count { x[0].buffer.pointer[i] = abs(x[0].buffer.pointer[i]) * 1.7 }
        let bound = Float((6.0 / Double(g.patchSize)).squareRoot())
        let weight = rng.floats(g.weightCount, -bound, bound), w = FloatBuffer(count: weight.count)
        w.copy(from: weight)
        let reference = ConvolutionReferenceTests.referenceForward(
            batch: 1, inputs: x.map(\.view), geometry: g, activation: nil, weight: weight, bias: nil)
        let rms = (reference.reduce(0) { $0 + $1 * $1 } / Double(reference.count)).squareRoot()
        XCTAssertGreaterThan(rms, 0.3)
        /// (max, RMS) of the error relative to the reference's RMS.
        func error(_ y: [Float]) -> (max: Double, rms: Double) {
            let e = zip(y, reference).map { abs(Double($0) - $1) / rms }
            return (e.max()!, (e.reduce(0) { $0 + $1 * $1 } / Double(e.count)).squareRoot())
        }
        for kernels in kernelSets {
            let scratch = FloatBuffer(count: max(WinogradConvolution.scratchCount(g), DirectConvolution.scratchCount(g)))
            let y = FloatBuffer(count: reference.count), out = TensorView(base: y.pointer, shape: g.outShape)
            DirectConvolution.packWeights(w.pointer, geometry: g, scratch: scratch.pointer, kernels: kernels)
            DirectConvolution.forward(sample: 0, input: x.map(\.view), geometry: g, activation: nil, bias: nil,
                                      output: out, scratch: scratch.pointer, kernels: kernels)
            let direct = error(y.toArray())
            WinogradConvolution.transformWeights(w.pointer, geometry: g, scratch: scratch.pointer, kernels: kernels)
            WinogradConvolution.forward(sample: 0, input: x.map(\.view), geometry: g, activation: nil, bias: nil,
                                        output: out, scratch: scratch.pointer, kernels: kernels)
            let winograd = error(y.toArray())
            print("\(kernels): error relative to output RMS: direct max \(direct.max) RMS \(direct.rms); "
                  + "Winograd max \(winograd.max) RMS \(winograd.rms)")
            XCTAssertLessThan(winograd.max, 2e-6, "\(kernels)")
            XCTAssertLessThan(winograd.max, 2 * direct.max, "\(kernels)")
            XCTAssertLessThan(winograd.rms, 2 * direct.rms, "\(kernels)")
        }
    }

    // MARK: Selection

    func testWinogradIsChosenPerDirectionFromTwelveSummedChannels() {
        XCTAssertEqual(ConvolutionAlgorithm.parse("winograd"), .winograd)
        func g(_ cin: Int, _ cout: Int, kernel: Int = 3, stride: Int = 1) -> ConvolutionGeometry {
            ConvolutionGeometry(inChannels: cin, outChannels: cout, kernel: kernel, stride: stride, padding: kernel / 2,
                                inHeight: 8, inWidth: 8)
        }
        // A DenseNet layer forward and backward; the 3-channel stem forward only.
        XCTAssertTrue(ConvolutionAlgorithm.winograd.usesWinogradForward(g(24, 12)))
        XCTAssertTrue(ConvolutionAlgorithm.winograd.usesWinogradInputGradient(g(24, 12)))
        XCTAssertFalse(ConvolutionAlgorithm.winograd.usesWinogradForward(g(3, 16)))
        XCTAssertTrue(ConvolutionAlgorithm.winograd.usesWinogradInputGradient(g(3, 16)))
        XCTAssertFalse(ConvolutionAlgorithm.winograd.usesWinogradInputGradient(g(16, 8)))
        // Other geometries and algorithms never.
        XCTAssertFalse(ConvolutionAlgorithm.winograd.usesWinogradForward(g(24, 12, stride: 2)))
        XCTAssertFalse(ConvolutionAlgorithm.winograd.usesWinogradForward(g(24, 12, kernel: 1)))
        XCTAssertFalse(ConvolutionAlgorithm.direct.usesWinogradForward(g(24, 12)))
        XCTAssertFalse(ConvolutionAlgorithm.im2col.usesWinogradInputGradient(g(24, 12)))
        XCTAssertTrue(ConvolutionAlgorithm.winograd.handles(g(3, 16)))
        XCTAssertTrue(ConvolutionAlgorithm.winograd.handles(g(24, 12, kernel: 1)))  // the pointwise kernels
    }

    func testLayerWithWinogradMatchesTheLayerWithDirectKernels() {
        // A DenseNet-style BN-ReLU-conv over two concatenated inputs (Winograd both ways: 14 in,
        // 12 out) and a plain conv after it (12 in: Winograd forward, 5 out: direct gradient),
        // batch 3 on 2 threads: outputs, input and weight gradients agree with the direct kernels.
        func run(_ algorithm: ConvolutionAlgorithm) -> [[Float]] {
            var graph = Graph(input: TensorShape(channels: 14, height: 9, width: 11))
            graph.convolutionAlgorithm = algorithm
            let a = graph.dropout(graph.input, rate: 0, name: "a"), b = graph.dropout(graph.input, rate: 0, name: "b")
            let mid = graph.convolution([a, b], outChannels: 12, kernel: 3, bias: false, preactivation: true, name: "mid")
            graph.convolution([mid], outChannels: 5, kernel: 3, bias: true, name: "top")
            let h = GraphHarness(graph: graph, sources: [a, b], batch: 3)
            h.computeGradients()
            let gradients = h.net.parameters.gradients!
            return [contents(h.context.view(h.net.graph.output), batch: 3), contents(h.context.gradient(a), batch: 3),
                    contents(h.context.gradient(b), batch: 3), gradients.toArray()]
        }
        let direct = run(.direct), winograd = run(.winograd)
        for (what, (d, w)) in zip(["output", "dA", "dB", "parameter gradients"], zip(direct, winograd)) {
            XCTAssertEqual(d.count, w.count, what)
            let worst = zip(d, w).map { abs($0 - $1) / max(1, abs($0)) }.max() ?? 0
            XCTAssertLessThan(worst, 1e-4, what)
        }
    }
}
