import TestSupport
import XCTest
@testable import Engine

/// Checks the engine's own input-gradient kernels (`DirectKernel`: 3×3 by the forward tiles on `dY`
/// with transposed, flipped weights, and 1×1 by the pointwise tiles with `Wᵀ`) against the naive
/// Double reference, with every kernel set the CPU runs: gradient segments that are channel slices of larger buffers (the slice's
/// neighbours must stay untouched), both accumulate modes, widths 1–33, heights 1–9, and channel
/// counts that are not multiples of the 6-channel block.
final class DirectConvolutionInputGradientTests: XCTestCase, KernelTestCase {
    /// Float accumulation over at most 9·14 products of values below 1 in magnitude.
    let tolerance = 1e-4

    struct Case: CustomStringConvertible {
        var batch: Int, segments: [Int], height: Int, width: Int, outChannels: Int, accumulate: Bool
        var kernel = 3
        var description: String {
            "\(kernel)×\(kernel): batch \(batch) segments \(segments) \(height)×\(width) ← \(outChannels) accumulate \(accumulate)"
        }
    }

    func check(_ c: Case, rng: inout TestRandom, file: StaticString = #filePath, line: UInt = #line) {
        let inChannels = c.segments.reduce(0, +)
        let g = ConvolutionGeometry(inChannels: inChannels, outChannels: c.outChannels, kernel: c.kernel, stride: 1,
                                    padding: c.kernel / 2, inHeight: c.height, inWidth: c.width)
        guard let direct = DirectKernel(g) else { return XCTFail("\(c): no direct kernel", file: file, line: line) }
        let weight = rng.floats(g.weightCount)
        let dyValues = rng.floats(c.batch * g.outChannels * g.outPlane)
        let w = FloatBuffer(count: g.weightCount), dy = FloatBuffer(count: dyValues.count)
        w.copy(from: weight); dy.copy(from: dyValues)
        let dyView = TensorView(base: dy.pointer, shape: g.outShape)

        // The reference: dX[n, ch, iy, ix] = Σ dY[yi] · W[wi] over the taps that read (iy, ix),
        // in dense [batch × inChannels × H × W] order.
        var reference = [Double](repeating: 0, count: c.batch * inChannels * g.inPlane)
        ConvolutionReferenceTests.forEachTap(batch: c.batch, geometry: g) { n, yi, ch, wi, iy, ix in
            reference[((n * inChannels + ch) * c.height + iy) * c.width + ix] += Double(dyValues[yi]) * Double(weight[wi])
        }

        for kernels in kernelSets {
            // Gradient targets: channel slices with neighbours, all holding known prior values.
            let targets = c.segments.map {
                ConvolutionReferenceTests.SegmentStorage(batch: c.batch, channels: $0, height: c.height, width: c.width,
                                                         front: rng.int(0...2), back: rng.int(0...2))
            }
            var prior: [[Float]] = []
            for t in targets {
                let values = rng.floats(t.buffer.count)
                t.buffer.copy(from: values)
                prior.append(values)
            }
            // The 3×3 kernel's exact need; the 1×1 kernel is held to the layer's workspace bound.
            let scratchCount = c.kernel == 3
                ? DirectConvolution.inputGradientScratchCount(g, segments: c.segments, kernels: kernels)
                : DirectKernel.workspaceElements(g, segmentCount: c.segments.count)
            XCTAssertLessThanOrEqual(scratchCount, DirectKernel.workspaceElements(g, segmentCount: c.segments.count))
            runInputGradient(direct, weight: w.pointer, outputGradient: dyView, geometry: g, segments: c.segments,
                             batch: c.batch, into: targets.map(\.view), accumulate: c.accumulate,
                             scratch: guarded(scratchCount, fill: .nan), kernels: kernels, "\(c) \(kernels) scratch",
                             file: file, line: line)
            var failures = 0
            var first = 0
            for (s, t) in targets.enumerated() {
                let stride = (t.front + t.channels + t.back) * t.plane
                for i in 0..<t.buffer.count {
                    let n = i / stride, local = i % stride / t.plane - t.front, pixel = i % t.plane
                    let actual = t.buffer.pointer[i], before = Double(prior[s][i])
                    let expected: Double
                    if local < 0 || local >= t.channels {
                        expected = before  // a neighbour of the slice: untouched
                    } else {
                        let r = reference[(n * inChannels + first + local) * g.inPlane + pixel]
                        expected = c.accumulate ? before + r : r
                    }
                    if !(abs(Double(actual) - expected) <= tolerance * max(1, abs(expected))) {
                        failures += 1
                        if failures <= 5 {
                            XCTFail("\(c) \(kernels): segment \(s) element \(i): \(actual), expected \(expected)",
                                    file: file, line: line)
                        }
                    }
                }
                first += t.channels
            }
        }
    }

    func testDirectInputGradientMatchesReferenceOnEveryWidth() {
        // The first segment's channels run through 1–24, so every remainder of the 6-, 8- and
        // 12-channel tile blocks occurs; 0–2 more random segments follow.
        WidthSweep.runInputGradient(1...33, heights: 1...9, seed: 2024) { check(Case($0), rng: &$1) }
    }

    func testPointwiseInputGradientMatchesReferenceOnEveryPixelCount() {
        // Pixel counts 1–40 (multiples of 16 read dY in place, others copy it), output channels
        // through 1–24 (every block remainder), 1–3 segments.
        var rng = TestRandom(seed: 99)
        for pixels in 1...40 {
            let (h, w) = pixels % 3 == 0 ? (3, pixels / 3) : (1, pixels)
            let segments = WidthSweep.segments(first: pixels * 5 % 24 + 1, rng: &rng)
            check(Case(batch: rng.int(1...2), segments: segments, height: h, width: w,
                       outChannels: pixels * 7 % 24 + 1, accumulate: rng.bool(), kernel: 1), rng: &rng)
        }
        check(Case(batch: 2, segments: [20, 12], height: 8, width: 8, outChannels: 48, accumulate: true, kernel: 1),
              rng: &rng)
    }

    func testDirectInputGradientMatchesReferenceOnNetworkStageShapes() {
        var rng = TestRandom(seed: 77)
        for (side, segments, out, accumulate) in [(32, [16], 16, true), (16, [13], 12, false), (8, [7, 12], 12, true),
                                                  (8, [30], 24, false), (4, [5], 9, true)] {
            check(Case(batch: 2, segments: segments, height: side, width: side, outChannels: out, accumulate: accumulate),
                  rng: &rng)
        }
    }
}

extension DirectConvolutionInputGradientTests.Case {
    /// The 3×3 case of a swept `ConvolutionCase` (whose activation and bias the input gradient
    /// does not read).
    init(_ c: ConvolutionCase) {
        self.init(batch: c.batch, segments: c.segments, height: c.height, width: c.width, outChannels: c.outChannels,
                  accumulate: c.accumulate)
    }
}
