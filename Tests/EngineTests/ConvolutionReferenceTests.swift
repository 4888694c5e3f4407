import TestSupport
import XCTest
@testable import Engine

/// Compares the im2col + sgemm convolution kernels (`Convolution.forward/backward`) with a naive
/// nested-loop convolution in Double on random shapes: forward output, weight and bias gradient,
/// and input gradient, with multi-segment inputs, channel-slice views (sample stride larger than
/// the segment), the fused activation, and both accumulate modes.
final class ConvolutionReferenceTests: XCTestCase {
    /// `|engine − reference| ≤ referenceTolerance · max(1, |reference|)`.
    let referenceTolerance = 1e-4

    struct Case: CustomStringConvertible {
        var batch: Int
        var segments: [Int]
        var height: Int
        var width: Int
        var outChannels: Int
        var kernel: Int
        var stride: Int
        var padding: Int
        var activation: Bool
        var bias: Bool
        var accumulateWeights: Bool
        var accumulateInput: Bool

        var description: String {
            "batch \(batch) segments \(segments) \(height)×\(width) → \(outChannels) k\(kernel) s\(stride) p\(padding)"
                + (activation ? " +act" : "") + (bias ? " +bias" : "")
                + " accW \(accumulateWeights) accX \(accumulateInput)"
        }
    }

    /// One input segment stored as a channel slice of a larger buffer: `front` and `back` extra
    /// channels around it make the sample stride exceed the segment's size.
    final class SegmentStorage {
        let buffer: FloatBuffer
        let view: TensorView
        let channels: Int, front: Int, back: Int, plane: Int
        init(batch: Int, channels: Int, height: Int, width: Int, front: Int, back: Int) {
            self.channels = channels; self.front = front; self.back = back
            plane = height * width
            let stride = (front + channels + back) * plane
            buffer = FloatBuffer(count: batch * stride)
            view = TensorView(base: buffer.pointer + front * plane,
                              shape: TensorShape(channels: channels, height: height, width: width), sampleStride: stride)
        }

        /// One storage per entry of `segments` (its channel count), 0–2 extra channels on either
        /// side and every value uniform in [−1, 1); `edit(k, view)` may then change segment `k`.
        static func random(batch: Int, segments: [Int], height: Int, width: Int, rng: inout TestRandom,
                           edit: ((Int, TensorView) -> Void)? = nil) -> [SegmentStorage] {
            var storages: [SegmentStorage] = []
            for channels in segments {
                let x = SegmentStorage(batch: batch, channels: channels, height: height, width: width,
                                       front: rng.int(0...2), back: rng.int(0...2))
                for i in 0..<x.buffer.count { x.buffer.pointer[i] = rng.uniform(-1, 1) }
                edit?(storages.count, x.view)
                storages.append(x)
            }
            return storages
        }
    }

    /// The activated input `z = act(x)` of sample `n`, channel `ch` (over the concatenated
    /// segments), pixel `(iy, ix)`, in Double: `max(0, scale·x + shift)` with an activation.
    static func referenceInput(_ inputs: [TensorView], _ n: Int, _ ch: Int, _ iy: Int, _ ix: Int,
                               activation: (scale: [Float], shift: [Float])?) -> Double {
        var local = ch
        for s in inputs {
            if local < s.shape.channels {
                let v = Double(s.plane(n, local)[iy * s.shape.width + ix])
                guard let (scale, shift) = activation else { return v }
                return max(0, Double(scale[ch]) * v + Double(shift[ch]))
            }
            local -= s.shape.channels
        }
        fatalError("channel \(ch) is past the inputs")
    }

    /// Calls `body(n, yi, ch, wi, iy, ix)` for every product of the convolution: output element
    /// `yi` (dense `[batch × outChannels × outHeight × outWidth]`) of sample `n` takes weight `wi`
    /// times input channel `ch` at `(iy, ix)`; taps on the padding are skipped.
    static func forEachTap(batch: Int, geometry g: ConvolutionGeometry,
                           _ body: (_ n: Int, _ yi: Int, _ ch: Int, _ wi: Int, _ iy: Int, _ ix: Int) -> Void) {
        let k = g.kernel
        for n in 0..<batch {
            for o in 0..<g.outChannels {
                for oy in 0..<g.outHeight {
                    for ox in 0..<g.outWidth {
                        let yi = (n * g.outChannels + o) * g.outPlane + oy * g.outWidth + ox
                        for ch in 0..<g.inChannels {
                            for ky in 0..<k {
                                let iy = oy * g.stride - g.padding + ky
                                if iy < 0 || iy >= g.inHeight { continue }
                                for kx in 0..<k {
                                    let ix = ox * g.stride - g.padding + kx
                                    if ix < 0 || ix >= g.inWidth { continue }
                                    body(n, yi, ch, ((o * g.inChannels + ch) * k + ky) * k + kx, iy, ix)
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The naive nested-loop convolution in Double: `y[n, o, oy, ox] = bias[o] + Σ W[o, c, ky, kx] ·
    /// z[n, c, oy·s − p + ky, ox·s − p + kx]` over taps inside the input, for `batch` samples, laid
    /// out densely as `[batch × outChannels × outHeight × outWidth]`.
    static func referenceForward(batch: Int, inputs: [TensorView], geometry g: ConvolutionGeometry,
                                 activation: (scale: [Float], shift: [Float])?, weight: [Float],
                                 bias: [Float]?) -> [Double] {
        var y = [Double](repeating: 0, count: batch * g.outChannels * g.outPlane)
        if let bias {
            for i in y.indices { y[i] = Double(bias[i / g.outPlane % g.outChannels]) }
        }
        forEachTap(batch: batch, geometry: g) { n, yi, ch, wi, iy, ix in
            y[yi] += Double(weight[wi]) * referenceInput(inputs, n, ch, iy, ix, activation: activation)
        }
        return y
    }

    func randomCase(_ rng: inout TestRandom) -> Case {
        let segmentCount = rng.int(1...3)
        let segments = (0..<segmentCount).map { _ in rng.int(1...(segmentCount == 1 ? 7 : 4)) }
        return Case(batch: rng.int(1...3), segments: segments, height: rng.int(5...9), width: rng.int(5...9),
                    outChannels: rng.int(1...7), kernel: rng.bool() ? 3 : 1, stride: rng.int(1...2),
                    padding: rng.int(0...1), activation: rng.int(0...2) == 0, bias: rng.bool(),
                    accumulateWeights: rng.bool(), accumulateInput: rng.bool())
    }

    /// Runs the kernels and the reference on `c` and reports every disagreement.
    func check(_ c: Case, rng: inout TestRandom, file: StaticString = #filePath, line: UInt = #line) {
        let inChannels = c.segments.reduce(0, +)
        let g = ConvolutionGeometry(inChannels: inChannels, outChannels: c.outChannels, kernel: c.kernel,
                                    stride: c.stride, padding: c.padding, inHeight: c.height, inWidth: c.width)
        let plane = g.inPlane, outPlane = g.outPlane
        // Inputs and their gradient targets, with random slice layouts.
        var inputs: [SegmentStorage] = [], targets: [SegmentStorage] = []
        for channels in c.segments {
            let front = rng.int(0...2), back = rng.int(0...2)
            let x = SegmentStorage(batch: c.batch, channels: channels, height: c.height, width: c.width, front: front, back: back)
            let dx = SegmentStorage(batch: c.batch, channels: channels, height: c.height, width: c.width, front: front, back: back)
            for i in 0..<x.buffer.count { x.buffer.pointer[i] = rng.uniform(-1, 1) }
            for i in 0..<dx.buffer.count { dx.buffer.pointer[i] = rng.uniform(-1, 1) }
            inputs.append(x); targets.append(dx)
        }
        let dxBefore = targets.map { $0.buffer.toArray() }
        let weight = rng.floats(g.weightCount)
        let bias = rng.floats(c.outChannels)
        let scale = rng.floats(inChannels, 0.5, 1.5), shift = rng.floats(inChannels, -0.3, 0.3)
        let dy = rng.floats(c.batch * c.outChannels * outPlane)
        let weightGradientBefore = rng.floats(g.weightCount), biasGradientBefore = rng.floats(c.outChannels)

        // Reference, in Double: forward by `referenceForward`, the gradients by the same loops.
        let views = inputs.map(\.view)
        let refY = Self.referenceForward(batch: c.batch, inputs: views, geometry: g,
                                         activation: c.activation ? (scale, shift) : nil, weight: weight,
                                         bias: c.bias ? bias : nil)
        var refDW = [Double](repeating: 0, count: g.weightCount)
        var refDB = [Double](repeating: 0, count: c.outChannels)
        var refDZ = [Double](repeating: 0, count: c.batch * inChannels * plane)
        for (o, d) in dy.enumerated().map({ ($0.offset / outPlane % c.outChannels, Double($0.element)) }) { refDB[o] += d }
        Self.forEachTap(batch: c.batch, geometry: g) { n, yi, ch, wi, iy, ix in
            let d = Double(dy[yi])
            refDW[wi] += d * Self.referenceInput(views, n, ch, iy, ix, activation: c.activation ? (scale, shift) : nil)
            refDZ[(n * inChannels + ch) * plane + iy * c.width + ix] += d * Double(weight[wi])
        }

        // The engine.
        let col = FloatBuffer(count: g.patchSize * outPlane), dcol = FloatBuffer(count: g.patchSize * outPlane)
        let y = FloatBuffer(count: dy.count), dyBuffer = FloatBuffer(count: dy.count)
        dyBuffer.copy(from: dy)
        let yView = TensorView(base: y.pointer, shape: g.outShape)
        let dyView = TensorView(base: dyBuffer.pointer, shape: g.outShape)
        let w = FloatBuffer(count: g.weightCount), b = FloatBuffer(count: c.outChannels)
        w.copy(from: weight); b.copy(from: bias)
        let scaleBuffer = FloatBuffer(count: inChannels), shiftBuffer = FloatBuffer(count: inChannels)
        scaleBuffer.copy(from: scale); shiftBuffer.copy(from: shift)
        let activation = c.activation ? InputActivation(scale: scaleBuffer.pointer, shift: shiftBuffer.pointer) : nil
        let dw = FloatBuffer(count: g.weightCount), db = FloatBuffer(count: c.outChannels)
        dw.copy(from: weightGradientBefore); db.copy(from: biasGradientBefore)
        let x = inputs.map(\.view), dx = targets.map(\.view)
        for n in 0..<c.batch {
            Convolution.forward(sample: n, input: x, geometry: g, activation: activation, weight: w.pointer,
                                bias: c.bias ? UnsafePointer(b.pointer) : nil, output: yView, col: col.pointer)
        }
        // The direct kernel, where it applies, against the same reference.
        let direct = FloatBuffer(count: dy.count)
        if DirectConvolution.supports(g) {
            // Scratch as a reused panel leaves it: garbage, so a border left unwritten shows.
            let scratch = FloatBuffer(count: DirectConvolution.scratchCount(g))
            scratch.pointer.update(repeating: .nan, count: scratch.count)
            DirectConvolution.packWeights(w.pointer, geometry: g, scratch: scratch.pointer)
            for n in 0..<c.batch {
                DirectConvolution.forward(sample: n, input: x, geometry: g, activation: activation,
                                          bias: c.bias ? UnsafePointer(b.pointer) : nil,
                                          output: TensorView(base: direct.pointer, shape: g.outShape), scratch: scratch.pointer)
            }
        }
        for n in 0..<c.batch {
            Convolution.backward(sample: n, input: x, geometry: g, activation: activation, weight: w.pointer,
                                 outputGradient: dyView, weightGradient: dw.pointer, biasGradient: db.pointer,
                                 accumulateWeights: c.accumulateWeights || n > 0,
                                 inputGradient: dx, accumulateInput: c.accumulateInput,
                                 col: col.pointer, dcol: dcol.pointer)
        }

        var failures = 0
        func expect(_ what: String, _ actual: Float, _ expected: Double) {
            if !(abs(Double(actual) - expected) <= referenceTolerance * max(1, abs(expected))) {
                failures += 1
                if failures <= 5 { XCTFail("\(c): \(what): engine \(actual), reference \(expected)", file: file, line: line) }
            }
        }
        for i in 0..<refY.count { expect("y[\(i)]", y.pointer[i], refY[i]) }
        if DirectConvolution.supports(g) {
            for i in 0..<refY.count { expect("direct y[\(i)]", direct.pointer[i], refY[i]) }
        }
        for i in 0..<g.weightCount {
            expect("dW[\(i)]", dw.pointer[i], refDW[i] + (c.accumulateWeights ? Double(weightGradientBefore[i]) : 0))
        }
        for o in 0..<c.outChannels {
            expect("db[\(o)]", db.pointer[o], refDB[o] + (c.accumulateWeights ? Double(biasGradientBefore[o]) : 0))
        }
        var first = 0
        for (s, t) in targets.enumerated() {
            let stride = t.view.sampleStride
            for n in 0..<c.batch {
                for j in 0..<stride {
                    let localChannel = j / plane - t.front
                    let index = n * stride + j
                    let before = Double(dxBefore[s][index])
                    if localChannel < 0 || localChannel >= t.channels {
                        // Channels outside the slice must not be touched.
                        expect("segment \(s) outside-slice[\(index)]", t.buffer.pointer[index], before)
                    } else {
                        let r = refDZ[(n * inChannels + first + localChannel) * plane + j % plane]
                        expect("dX segment \(s)[\(index)]", t.buffer.pointer[index], r + (c.accumulateInput ? before : 0))
                    }
                }
            }
            first += t.channels
        }
    }

    /// The direct 3×3 kernel's tiles (4 channels × 16 or 8 pixels) and tails (single channels,
    /// scalar pixels): widths 1–33 and up to 9 output channels reach every path, with several
    /// segments, the fused activation and a bias.
    func testDirectThreeByThreeConvolutionMatchesNaiveReferenceAcrossTilesAndTails() {
        var rng = TestRandom(seed: 33)
        var widths = Set<Int>()
        for width in [1, 7, 8, 9, 15, 16, 17, 23, 24, 31, 32, 33] {
            let segmentCount = rng.int(1...3)
            let c = Case(batch: rng.int(1...2), segments: (0..<segmentCount).map { _ in rng.int(1...3) },
                         height: rng.int(1...4), width: width, outChannels: rng.int(1...9), kernel: 3, stride: 1,
                         padding: 1, activation: rng.bool(), bias: rng.bool(), accumulateWeights: false, accumulateInput: false)
            widths.insert(width)
            check(c, rng: &rng)
        }
        XCTAssertEqual(widths.count, 12)
    }

    func testConvolutionKernelsMatchNaiveReferenceOnRandomShapes() {
        var rng = TestRandom(seed: 2024)
        var covered = Set<String>()
        for _ in 0..<40 {
            let c = randomCase(&rng)
            covered.insert("k\(c.kernel)s\(c.stride)p\(c.padding)")
            check(c, rng: &rng)
        }
        // The random draw must have reached every kernel/stride/padding combination.
        XCTAssertEqual(covered.count, 8, "combinations covered: \(covered.sorted())")
    }

    func testPointwiseConvolutionKernelsMatchNaiveReference() {
        // The packing-free fast paths: one dense segment, 1×1, stride 1, no padding, no activation.
        var rng = TestRandom(seed: 7)
        for accumulate in [false, true] {
            check(Case(batch: 2, segments: [5], height: 5, width: 7, outChannels: 3, kernel: 1, stride: 1, padding: 0,
                       activation: false, bias: true, accumulateWeights: accumulate, accumulateInput: accumulate),
                  rng: &rng)
        }
    }

    func testConvolutionKernelsMatchNaiveReferenceOnInputsNarrowerThanTheKernel() {
        // 3×3 padding 1 on 1- and 2-pixel-wide (or high) maps, as deep stages of a network produce.
        var rng = TestRandom(seed: 11)
        for (h, w, s) in [(1, 1, 1), (3, 1, 1), (1, 3, 1), (2, 2, 1), (4, 2, 2), (3, 1, 2), (2, 5, 2)] {
            check(Case(batch: 2, segments: [2], height: h, width: w, outChannels: 2, kernel: 3, stride: s, padding: 1,
                       activation: false, bias: false, accumulateWeights: false, accumulateInput: false),
                  rng: &rng)
        }
    }

    func testIm2colAndCol2imAreAdjoint() {
        // ⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩ for every geometry: col2im is exactly im2col's transpose.
        var rng = TestRandom(seed: 99)
        for (k, s, p) in [(3, 1, 1), (3, 2, 1), (1, 2, 0), (3, 1, 0), (1, 1, 1)] {
            let g = ConvolutionGeometry(inChannels: 3, outChannels: 1, kernel: k, stride: s, padding: p, inHeight: 6, inWidth: 7)
            let x = FloatBuffer(count: 2 * 3 * g.inPlane), col = FloatBuffer(count: g.patchSize * g.outPlane)
            for i in 0..<x.count { x.pointer[i] = rng.uniform(-1, 1) }
            let colGrad = FloatBuffer(count: g.patchSize * g.outPlane)
            for i in 0..<colGrad.count { colGrad.pointer[i] = rng.uniform(-1, 1) }
            let dx = FloatBuffer(count: 2 * 3 * g.inPlane)
            let shape = TensorShape(channels: 3, height: 6, width: 7)
            let xView = TensorView(base: x.pointer, shape: shape), dxView = TensorView(base: dx.pointer, shape: shape)
            Convolution.im2col(sample: 1, input: [xView], geometry: g, activation: nil, col: col.pointer)
            Convolution.col2im(sample: 1, dcol: colGrad.pointer, geometry: g, into: [dxView])
            var lhs = 0.0, rhs = 0.0
            for i in 0..<col.count { lhs += Double(col.pointer[i]) * Double(colGrad.pointer[i]) }
            for i in 0..<(3 * g.inPlane) {
                rhs += Double(x.pointer[3 * g.inPlane + i]) * Double(dx.pointer[3 * g.inPlane + i])
            }
            XCTAssertEqual(lhs, rhs, accuracy: 1e-4 * max(1, abs(lhs)), "k\(k) s\(s) p\(p)")
            // Sample 0 of the gradient is untouched.
            XCTAssertTrue(dx.toArray()[0..<(3 * g.inPlane)].allSatisfy { $0 == 0 }, "k\(k) s\(s) p\(p)")
        }
    }
}
