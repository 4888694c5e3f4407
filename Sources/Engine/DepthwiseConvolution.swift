/// A depthwise 3×3 convolution (one filter per channel, no mixing of channels; PyTorch's
/// `Conv2d(C, C, 3, groups: C)`) with padding 1 and any stride, one channel plane at a time, in
/// the engine's CHW-per-sample layout: forward, weight gradient and input gradient side by side.
///
/// **Vectorisation.** A depthwise filter has only nine weights per channel, so there is no
/// channel dimension to block over as the dense kernels do (`ThreeByThreeTiles` broadcasts the
/// weights of many output channels): the only long contiguous dimension is a plane's row. Each
/// kernel therefore runs eight output pixels of one row at a time in a `SIMD8<Float>` (the AVX2
/// width of the engine's element-wise kernels; CIFAR's 32-, 16- and 8-wide planes are whole
/// multiples of it, so no lanes are wasted, where `SIMD16` would leave half of an 8-wide plane
/// idle) with the channel's nine weights held in broadcast registers.
///
/// **Padded rows.** As `DirectConvolution` does, every kernel first works on a zero-bordered copy
/// of the channel plane (`PaddedPlane`), so the inner loops have no bounds tests. For stride s the
/// padded row is stored split into s column phases (padded column `j` at phase `j % s`, position
/// `j / s`): the input of eight strided output pixels for tap column `kx` is then eight adjacent
/// floats of phase `kx % s` at `ox + kx / s`, a plain vector load at stride 2 as at stride 1.
/// The forward pass and the weight gradient read the (activated) input's padded plane; the input
/// gradient scatters into a zeroed padded plane and then copies its interior out.
public enum DepthwiseConvolution {
    /// The kernel side these kernels compute.
    public static let kernel = 3
    /// The zero padding on every side.
    public static let padding = 1

    /// The sizes of a depthwise 3×3, padding-1 convolution over one sample.
    public struct Geometry: Hashable, Sendable {
        /// Channels in and out.
        public var channels: Int
        /// Stride in both directions.
        public var stride: Int
        /// Input height and width.
        public var inHeight: Int, inWidth: Int

        /// Creates the geometry of a depthwise 3×3 convolution with padding 1.
        public init(channels: Int, stride: Int, inHeight: Int, inWidth: Int) {
            precondition(channels >= 1 && stride >= 1 && inHeight >= 1 && inWidth >= 1, "invalid depthwise geometry")
            self.channels = channels
            self.stride = stride
            self.inHeight = inHeight
            self.inWidth = inWidth
        }

        /// Output height.
        public var outHeight: Int { (inHeight + 2 * padding - kernel) / stride + 1 }
        /// Output width.
        public var outWidth: Int { (inWidth + 2 * padding - kernel) / stride + 1 }
        /// Input pixels per channel.
        public var inPlane: Int { inHeight * inWidth }
        /// Output pixels per channel.
        public var outPlane: Int { outHeight * outWidth }
        /// Weights: nine per channel (`[C][1][3][3]`).
        public var weightCount: Int { channels * kernel * kernel }
        /// Multiply-accumulates of one sample's forward pass.
        public var macs: Int { weightCount * outPlane }
        /// The output shape of one sample.
        public var outShape: TensorShape { TensorShape(channels: channels, height: outHeight, width: outWidth) }

        /// Floats of one phase-split padded row: enough for the padded input row and for eight-wide
        /// reads of every output chunk (the last one running past the output width) at the
        /// largest tap offset.
        var phaseWidth: Int {
            let padded = (inWidth + 2 * padding + stride - 1) / stride
            let chunks = (outWidth + 7) / 8 * 8
            return max(padded, chunks + (kernel - 1) / stride)
        }

        /// Floats of one padded plane: `inHeight + 2` rows of `stride` phases.
        public var paddedPlaneCount: Int { (inHeight + 2 * padding) * stride * phaseWidth }
    }

    /// Where padded row `r`, phase `q` of a padded plane starts.
    @inline(__always)
    static func row(_ plane: UnsafeMutablePointer<Float>, _ r: Int, _ q: Int, _ g: Geometry) -> UnsafeMutablePointer<Float> {
        plane + (r * g.stride + q) * g.phaseWidth
    }

    /// The eight lanes of output row `y` from `x` on: a plain load, or for the last, partial chunk
    /// of a row the `width - x` real values and zeros.
    @inline(__always)
    static func chunk(_ y: UnsafePointer<Float>, _ x: Int, width: Int) -> Float8 {
        if x + 8 <= width { return y.load8(x) }
        var v = Float8(repeating: 0)
        for i in 0..<(width - x) { v[i] = y[x + i] }
        return v
    }

    // MARK: Padding

    /// Writes channel `channel`'s plane `x` (activated by `activation` when given, with that
    /// channel's scale and shift) into `padded` (`g.paddedPlaneCount` floats) with a zero border
    /// and zeros past the row ends.
    public static func pad(_ x: UnsafePointer<Float>, channel: Int, activation: InputActivation?, geometry g: Geometry,
                           into padded: UnsafeMutablePointer<Float>) {
        padded.update(repeating: 0, count: g.paddedPlaneCount)
        let s = g.stride, w = g.inWidth
        for iy in 0..<g.inHeight {
            let source = x + iy * w
            if s == 1 {
                let dst = row(padded, iy + padding, 0, g) + padding
                if let activation {
                    activation.apply(channel: channel, from: source, to: dst, count: w)
                } else {
                    dst.update(from: source, count: w)
                }
                continue
            }
            let a = activation?.scale[channel] ?? 1, b = activation?.shift[channel] ?? 0
            for ix in 0..<w {
                let j = ix + padding
                let v = source[ix]
                row(padded, iy + padding, j % s, g)[j / s] = activation == nil ? v : max(v * a + b, 0)
            }
        }
    }

    // MARK: Forward

    /// Computes (or with `accumulate` adds to) one channel's output plane `y` (`outHeight ×
    /// outWidth`) from its padded input plane (`pad`) and its nine weights `w` (row-major taps).
    public static func forward(padded: UnsafeMutablePointer<Float>, weight w: UnsafePointer<Float>, geometry g: Geometry,
                               output y: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
        let s = g.stride, wo = g.outWidth
        let w0 = Float8(repeating: w[0]), w1 = Float8(repeating: w[1]), w2 = Float8(repeating: w[2])
        let w3 = Float8(repeating: w[3]), w4 = Float8(repeating: w[4]), w5 = Float8(repeating: w[5])
        let w6 = Float8(repeating: w[6]), w7 = Float8(repeating: w[7]), w8 = Float8(repeating: w[8])
        // Tap column kx reads phase kx % s at offset kx / s.
        let q1 = 1 % s, o1 = 1 / s, q2 = 2 % s, o2 = 2 / s
        for oy in 0..<g.outHeight {
            let r0 = row(padded, oy * s, 0, g), r1 = row(padded, oy * s + 1, 0, g), r2 = row(padded, oy * s + 2, 0, g)
            let p = g.phaseWidth
            let out = y + oy * wo
            var ox = 0
            while ox < wo {
                var acc = w0 * r0.load8(ox)
                acc += w1 * (r0 + q1 * p).load8(ox + o1)
                acc += w2 * (r0 + q2 * p).load8(ox + o2)
                acc += w3 * r1.load8(ox)
                acc += w4 * (r1 + q1 * p).load8(ox + o1)
                acc += w5 * (r1 + q2 * p).load8(ox + o2)
                acc += w6 * r2.load8(ox)
                acc += w7 * (r2 + q1 * p).load8(ox + o1)
                acc += w8 * (r2 + q2 * p).load8(ox + o2)
                if ox + 8 <= wo {
                    out.store8(accumulate ? out.load8(ox) + acc : acc, ox)
                } else {
                    for i in 0..<(wo - ox) { out[ox + i] = accumulate ? out[ox + i] + acc[i] : acc[i] }
                }
                ox += 8
            }
        }
    }

    // MARK: Backward

    /// Adds one channel's weight gradient `Σ dy · x` for its nine taps into `dw`, from its padded
    /// input plane (`pad`) and output gradient plane `dy`.
    public static func weightGradient(padded: UnsafeMutablePointer<Float>, outputGradient dy: UnsafePointer<Float>,
                                      geometry g: Geometry, weightGradient dw: UnsafeMutablePointer<Float>) {
        let s = g.stride, wo = g.outWidth, p = g.phaseWidth
        let q1 = 1 % s, o1 = 1 / s, q2 = 2 % s, o2 = 2 / s
        let zero = Float8(repeating: 0)
        var a0 = zero, a1 = zero, a2 = zero, a3 = zero, a4 = zero, a5 = zero, a6 = zero, a7 = zero, a8 = zero
        for oy in 0..<g.outHeight {
            let r0 = row(padded, oy * s, 0, g), r1 = row(padded, oy * s + 1, 0, g), r2 = row(padded, oy * s + 2, 0, g)
            let d = dy + oy * wo
            var ox = 0
            while ox < wo {
                // The partial last chunk's missing lanes are zero and add nothing.
                let v = chunk(d, ox, width: wo)
                a0 += v * r0.load8(ox)
                a1 += v * (r0 + q1 * p).load8(ox + o1)
                a2 += v * (r0 + q2 * p).load8(ox + o2)
                a3 += v * r1.load8(ox)
                a4 += v * (r1 + q1 * p).load8(ox + o1)
                a5 += v * (r1 + q2 * p).load8(ox + o2)
                a6 += v * r2.load8(ox)
                a7 += v * (r2 + q1 * p).load8(ox + o1)
                a8 += v * (r2 + q2 * p).load8(ox + o2)
                ox += 8
            }
        }
        dw[0] += a0.sum(); dw[1] += a1.sum(); dw[2] += a2.sum()
        dw[3] += a3.sum(); dw[4] += a4.sum(); dw[5] += a5.sum()
        dw[6] += a6.sum(); dw[7] += a7.sum(); dw[8] += a8.sum()
    }

    /// Writes (or with `accumulate` adds) one channel's input gradient plane `dx`
    /// (`inHeight × inWidth`, the gradient of the activated input) from its output gradient `dy`
    /// and weights `w`, using `padded` (`g.paddedPlaneCount` floats) as scratch.
    ///
    /// At stride 1 this is the forward pass over the zero-bordered `dy` with the taps turned
    /// 180°: each output vector is summed in registers. (Scattering each `dy` chunk into a padded
    /// plane instead, as stride 2 does below, stores overlapping vectors one float apart and loads
    /// them straight back, which the CPU cannot forward from its store buffer: that took 41 % of
    /// sep-sparsenet-40-24's step.) At stride 2, each output chunk's gradient is scattered, times
    /// each tap's weight, into the zeroed padded plane, whose interior is then copied out.
    public static func inputGradient(outputGradient dy: UnsafePointer<Float>, weight w: UnsafePointer<Float>,
                                     geometry g: Geometry, padded: UnsafeMutablePointer<Float>,
                                     inputGradient dx: UnsafeMutablePointer<Float>, accumulate: Bool) {
        if g.stride == 1 {
            pad(dy, channel: 0, activation: nil, geometry: g, into: padded)
            var turned = (w[8], w[7], w[6], w[5], w[4], w[3], w[2], w[1], w[0])
            withUnsafeBytes(of: &turned) { taps in
                forward(padded: padded, weight: taps.baseAddress!.assumingMemoryBound(to: Float.self), geometry: g,
                        output: dx, accumulate: accumulate)
            }
            return
        }
        padded.update(repeating: 0, count: g.paddedPlaneCount)
        let s = g.stride, wo = g.outWidth, p = g.phaseWidth
        let q1 = 1 % s, o1 = 1 / s, q2 = 2 % s, o2 = 2 / s
        let w0 = Float8(repeating: w[0]), w1 = Float8(repeating: w[1]), w2 = Float8(repeating: w[2])
        let w3 = Float8(repeating: w[3]), w4 = Float8(repeating: w[4]), w5 = Float8(repeating: w[5])
        let w6 = Float8(repeating: w[6]), w7 = Float8(repeating: w[7]), w8 = Float8(repeating: w[8])
        @inline(__always) func add(_ r: UnsafeMutablePointer<Float>, _ at: Int, _ v: Float8) {
            r.store8(r.load8(at) + v, at)
        }
        for oy in 0..<g.outHeight {
            let r0 = row(padded, oy * s, 0, g), r1 = row(padded, oy * s + 1, 0, g), r2 = row(padded, oy * s + 2, 0, g)
            let d = dy + oy * wo
            var ox = 0
            while ox < wo {
                // Lanes past the output width are zero: they add zeros past the padded row's end.
                let v = chunk(d, ox, width: wo)
                add(r0, ox, w0 * v); add(r0 + q1 * p, ox + o1, w1 * v); add(r0 + q2 * p, ox + o2, w2 * v)
                add(r1, ox, w3 * v); add(r1 + q1 * p, ox + o1, w4 * v); add(r1 + q2 * p, ox + o2, w5 * v)
                add(r2, ox, w6 * v); add(r2 + q1 * p, ox + o1, w7 * v); add(r2 + q2 * p, ox + o2, w8 * v)
                ox += 8
            }
        }
        let wi = g.inWidth
        for iy in 0..<g.inHeight {
            let out = dx + iy * wi
            if s == 1 {
                let source = row(padded, iy + padding, 0, g) + padding
                var ix = 0
                if accumulate {
                    while ix + 8 <= wi { out.store8(out.load8(ix) + source.load8(ix), ix); ix += 8 }
                    while ix < wi { out[ix] += source[ix]; ix += 1 }
                } else {
                    out.update(from: source, count: wi)
                }
                continue
            }
            for ix in 0..<wi {
                let j = ix + padding
                let v = row(padded, iy + padding, j % s, g)[j / s]
                out[ix] = accumulate ? out[ix] + v : v
            }
        }
    }
}
