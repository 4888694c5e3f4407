import TestSupport
import XCTest
@testable import Engine

/// Checks the 3×3 stride-2 kernels (`StridedConvolution`, reached through `DirectKernel` as the
/// layer reaches them) in all three directions against the naive Double reference of
/// `ConvolutionReferenceTests.forEachTap`, with every kernel set this CPU runs: even and odd
/// heights and widths 1–35 (both tile kinds, partial tiles, phases of unequal size), multi-segment
/// channel-slice inputs and gradients, with and without the fused BN-ReLU and bias, both
/// accumulate modes, sample groups of the weight gradient, scratch of exactly the layer's
/// workspace full of NaN, and guards after every output.
final class StridedConvolutionTests: XCTestCase, KernelTestCase {
    /// `|engine − reference| ≤ tolerance · (1 + Σ|terms|)`: float sums bounded by the sum of the
    /// magnitudes of their products.
    let tolerance = 1e-5

    /// The case type all 3×3 kernel tests share.
    typealias Case = ConvolutionCase

    func check(_ c: Case, rng: inout TestRandom, file: StaticString = #filePath, line: UInt = #line) {
        let inChannels = c.segments.reduce(0, +)
        let g = ConvolutionGeometry(inChannels: inChannels, outChannels: c.outChannels, kernel: 3, stride: 2,
                                    padding: 1, inHeight: c.height, inWidth: c.width)
        guard let kernel = DirectKernel(g), case .stridedThreeByThree = kernel else {
            return XCTFail("\(c): DirectKernel does not pick the strided kernel", file: file, line: line)
        }
        let inputs = ConvolutionReferenceTests.SegmentStorage.random(
            batch: c.batch, segments: c.segments, height: c.height, width: c.width, rng: &rng)
        let targets = ConvolutionReferenceTests.SegmentStorage.random(
            batch: c.batch, segments: c.segments, height: c.height, width: c.width, rng: &rng)
        let dyStorage = ConvolutionReferenceTests.SegmentStorage.random(
            batch: c.batch, segments: [c.outChannels], height: g.outHeight, width: g.outWidth, rng: &rng)[0]
        let weight = rng.floats(g.weightCount), bias = rng.floats(c.outChannels)
        let scale = rng.floats(inChannels, 0.5, 1.5), shift = rng.floats(inChannels, -0.3, 0.3)
        let weightBefore = rng.floats(g.weightCount), biasBefore = rng.floats(c.outChannels)
        let w = FloatBuffer(count: g.weightCount), b = FloatBuffer(count: c.outChannels)
        w.copy(from: weight); b.copy(from: bias)
        let scaleBuffer = FloatBuffer(count: inChannels), shiftBuffer = FloatBuffer(count: inChannels)
        scaleBuffer.copy(from: scale); shiftBuffer.copy(from: shift)
        let activation = c.activation ? InputActivation(scale: scaleBuffer.pointer, shift: shiftBuffer.pointer) : nil
        let referenceActivation = c.activation ? (scale, shift) : nil
        let x = inputs.map(\.view), dy = dyStorage.view

        // The reference: y, and the gradients with the sums of their terms' magnitudes.
        var y = [Double](repeating: 0, count: c.batch * g.outChannels * g.outPlane), yMagnitude = y
        if c.bias {
            for i in y.indices { y[i] = Double(bias[i / g.outPlane % g.outChannels]); yMagnitude[i] = abs(y[i]) }
        }
        var dW = [Double](repeating: 0, count: g.weightCount), dWMagnitude = dW
        var dB = [Double](repeating: 0, count: c.outChannels), dBMagnitude = dB
        var dX = [Double](repeating: 0, count: c.batch * inChannels * g.inPlane), dXMagnitude = dX
        for n in 0..<c.batch {
            for o in 0..<c.outChannels {
                for i in 0..<g.outPlane {
                    let d = Double(dy.plane(n, o)[i])
                    dB[o] += d; dBMagnitude[o] += abs(d)
                }
            }
        }
        ConvolutionReferenceTests.forEachTap(batch: c.batch, geometry: g) { n, yi, ch, wi, iy, ix in
            let z = ConvolutionReferenceTests.referenceInput(x, n, ch, iy, ix, activation: referenceActivation)
            let o = yi / g.outPlane % g.outChannels, d = Double(dy.plane(n, o)[yi % g.outPlane])
            y[yi] += Double(weight[wi]) * z; yMagnitude[yi] += abs(Double(weight[wi]) * z)
            dW[wi] += d * z; dWMagnitude[wi] += abs(d * z)
            let xi = (n * inChannels + ch) * g.inPlane + iy * g.inWidth + ix
            dX[xi] += d * Double(weight[wi]); dXMagnitude[xi] += abs(d * Double(weight[wi]))
        }
        var failures = 0
        func expect(_ what: String, _ actual: Float, _ expected: Double, _ magnitude: Double) {
            if !(abs(Double(actual) - expected) <= tolerance * (1 + magnitude)) {
                failures += 1
                if failures <= 5 { XCTFail("\(c): \(what): engine \(actual), reference \(expected)", file: file, line: line) }
            }
        }

        let workspace = DirectKernel.workspaceElements(g, segmentCount: c.segments.count)
        for kernels in kernelSets {
            // Forward, samples in reverse order (a store into the next sample's output is not
            // repaired by computing that sample afterwards).
            let scratch = guarded(workspace, fill: .nan)
            let outCount = c.batch * g.outChannels * g.outPlane
            let out = guarded(outCount, fill: sentinel)
            kernel.packWeights(w.pointer, geometry: g, scratch: scratch.pointer, kernels: kernels)
            for n in (0..<c.batch).reversed() {
                kernel.forward(sample: n, input: x, geometry: g, activation: activation,
                               bias: c.bias ? UnsafePointer(b.pointer) : nil,
                               output: TensorView(base: out.pointer, shape: g.outShape), scratch: scratch.pointer,
                               kernels: kernels)
            }
            expectGuards(scratch, after: workspace, "\(c) \(kernels) forward scratch", file: file, line: line)
            expectGuards(out, after: outCount, "\(c) \(kernels) output", file: file, line: line)
            for i in 0..<outCount { expect("\(kernels) y[\(i)]", out.pointer[i], y[i], yMagnitude[i]) }

            // Weight and bias gradient: the first sample, then the rest added in one call (in
            // groups of `preferredWeightGradientSamples` when there are more).
            let dw = guarded(g.weightCount, fill: 0), db = guarded(c.outChannels, fill: 0)
            dw.pointer.update(from: weightBefore, count: g.weightCount)
            db.pointer.update(from: biasBefore, count: c.outChannels)
            scratch.pointer.update(repeating: .nan, count: workspace)
            for (k, range) in [0..<1, 1..<c.batch].enumerated() where !range.isEmpty {
                kernel.weightGradient(samples: range, input: x, geometry: g, activation: activation,
                                      weight: w.pointer, outputGradient: dy, weightGradient: dw.pointer,
                                      biasGradient: c.bias ? db.pointer : nil, accumulate: c.accumulate || k == 1,
                                      scratch: scratch.pointer, kernels: kernels)
            }
            expectGuards(scratch, after: workspace, "\(c) \(kernels) weight-gradient scratch", file: file, line: line)
            expectGuards(dw, after: g.weightCount, "\(c) \(kernels) weight gradient", file: file, line: line)
            for i in 0..<g.weightCount {
                let before = c.accumulate ? Double(weightBefore[i]) : 0
                expect("\(kernels) dW[\(i)]", dw.pointer[i], dW[i] + before, dWMagnitude[i] + abs(before))
            }
            if c.bias {
                for o in 0..<c.outChannels {
                    let before = c.accumulate ? Double(biasBefore[o]) : 0
                    expect("\(kernels) db[\(o)]", db.pointer[o], dB[o] + before, dBMagnitude[o] + abs(before))
                }
            }

            // Input gradient into the segments (channel slices: channels outside must stay).
            let before = targets.map { $0.buffer.toArray() }
            scratch.pointer.update(repeating: .nan, count: workspace)
            runInputGradient(kernel, weight: w.pointer, outputGradient: dy, geometry: g, segments: c.segments,
                             batch: c.batch, into: targets.map(\.view), accumulate: c.accumulate, scratch: scratch,
                             kernels: kernels, "\(c) \(kernels) input-gradient scratch", file: file, line: line)
            var first = 0
            for (s, t) in targets.enumerated() {
                let stride = t.view.sampleStride
                for n in 0..<c.batch {
                    for j in 0..<stride {
                        let index = n * stride + j, local = j / g.inPlane - t.front, old = Double(before[s][index])
                        if local < 0 || local >= t.channels {
                            expect("\(kernels) segment \(s) outside-slice[\(index)]", t.buffer.pointer[index], old, 0)
                        } else {
                            let r = (n * inChannels + first + local) * g.inPlane + j % g.inPlane
                            let add = c.accumulate ? old : 0
                            expect("\(kernels) dX segment \(s)[\(index)]", t.buffer.pointer[index], dX[r] + add,
                                   dXMagnitude[r] + abs(add))
                        }
                    }
                }
                first += t.channels
            }
            // Leave the targets as they were for the next kernel set.
            for (s, t) in targets.enumerated() { t.buffer.copy(from: before[s]) }
        }
    }

    func testStridedKernelsMatchReferenceOnEveryEdgeShape() {
        var rng = TestRandom(seed: 71)
        // Widths around the two-row tile (≤ 16 input: ≤ 8 output) and the row tile's 16 lanes,
        // odd and even sizes (phases of unequal size), 1-pixel inputs.
        for (height, width) in [(1, 1), (2, 3), (3, 2), (5, 7), (8, 8), (9, 16), (16, 17), (17, 18), (7, 33), (4, 35)] {
            for outChannels in [1, 7, 16] {
                let c = Case(batch: 2, segments: [rng.int(1...5)], height: height, width: width,
                             outChannels: outChannels, activation: rng.bool(), bias: rng.bool(), accumulate: rng.bool())
                check(c, rng: &rng)
            }
        }
    }

    func testStridedKernelsMatchReferenceOnRandomShapes() {
        var rng = TestRandom(seed: 72)
        for _ in 0..<12 {
            let segmentCount = rng.int(1...3)
            let c = Case(batch: rng.int(1...5), segments: (0..<segmentCount).map { _ in rng.int(1...6) },
                         height: rng.int(1...20), width: rng.int(1...20), outChannels: rng.int(1...25),
                         activation: rng.bool(), bias: rng.bool(), accumulate: rng.bool())
            check(c, rng: &rng)
        }
    }

    func testStridedKernelsMatchReferenceOnResNetDownsamplingShapes() {
        var rng = TestRandom(seed: 73)
        // resnet-20's two downsampling convolutions at a small batch (16×32×32 → 32, 32×16×16 → 64);
        // six samples at the 16×16 output, so that the weight gradient's second call runs groups
        // of 4 + 1.
        check(Case(batch: 6, segments: [16], height: 32, width: 32, outChannels: 32,
                   activation: false, bias: false, accumulate: false), rng: &rng)
        check(Case(batch: 3, segments: [32], height: 16, width: 16, outChannels: 64,
                   activation: true, bias: true, accumulate: true), rng: &rng)
    }
}
