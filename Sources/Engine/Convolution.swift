import CBLAS

/// A per-channel affine transform followed by ReLU, applied to a convolution's input while it is
/// packed (`z = max(0, scale[c] * x + shift[c])`). This is batch norm + ReLU fused into the
/// convolution's input pass, so the normalised activation is never written to memory.
public struct InputActivation {
    /// Per-input-channel multiplier (`gamma / sqrt(var + eps)`).
    public var scale: UnsafePointer<Float>
    /// Per-input-channel offset (`beta - mean * scale`).
    public var shift: UnsafePointer<Float>

    /// Creates the transform from per-channel scale and shift arrays.
    public init(scale: UnsafePointer<Float>, shift: UnsafePointer<Float>) {
        self.scale = scale
        self.shift = shift
    }

    /// Writes `to[i] = max(0, scale[channel] · from[i] + shift[channel])` for `count` values: the
    /// one expression every convolution kernel activates its input with, so they agree bit for
    /// bit. (`max(v, 0)` keeps a NaN input a NaN.)
    @inline(__always)
    public func apply(channel: Int, from: UnsafePointer<Float>, to: UnsafeMutablePointer<Float>, count: Int) {
        let a = scale[channel], b = shift[channel]
        let a8 = Float8(repeating: a), b8 = Float8(repeating: b)
        var x = 0
        while x + 8 <= count { to.store8(rectify(from.load8(x) * a8 + b8), x); x += 8 }
        while x < count { to[x] = max(from[x] * a + b, 0); x += 1 }
    }
}

/// 2-D convolution by im2col and OpenBLAS `sgemm`, one sample at a time.
///
/// The input is a list of segments whose channels are concatenated in order, so a DenseNet or
/// SparseNet layer reads its aggregated inputs in place and no concatenated copy is ever made.
/// Forward and both backward directions are side by side; callers parallelise over samples.
public enum Convolution {
    // MARK: Forward

    /// Computes `out[n] = W · im2col(act(x[n])) (+ bias)` for sample `n`.
    ///
    /// - Parameters:
    ///   - col: scratch of at least `geometry.patchSize * geometry.outPlane` floats.
    public static func forward(
        sample n: Int, input: [TensorView], geometry g: ConvolutionGeometry,
        activation: InputActivation?, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        output: TensorView, col: UnsafeMutablePointer<Float>
    ) {
        let colPtr = packedInput(sample: n, input: input, geometry: g, activation: activation, col: col)
        let y = output.sample(n)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
                    Int32(g.outChannels), Int32(g.outPlane), Int32(g.patchSize),
                    1, weight, Int32(g.patchSize), colPtr, Int32(g.outPlane),
                    0, y, Int32(g.outPlane))
        if let bias {
            for c in 0..<g.outChannels {
                let b = bias[c]
                let p = y + c * g.outPlane
                for i in 0..<g.outPlane { p[i] += b }
            }
        }
    }

    // MARK: Backward

    /// Accumulates sample `n`'s weight (and bias) gradient and, when `inputGradient` is given,
    /// its input gradient.
    ///
    /// - Parameters:
    ///   - weightGradient: receives `dY[n] · im2col(x[n])ᵀ`, added to its contents when
    ///     `accumulateWeights` is true and stored otherwise.
    ///   - inputGradient: the gradient of the (activated) input, one view per input segment.
    ///   - accumulateInput: add into `inputGradient` (true) or overwrite it (false).
    ///   - col, dcol: scratch of `patchSize * outPlane` floats each.
    public static func backward(
        sample n: Int, input: [TensorView], geometry g: ConvolutionGeometry,
        activation: InputActivation?, weight: UnsafePointer<Float>,
        outputGradient: TensorView,
        weightGradient: UnsafeMutablePointer<Float>, biasGradient: UnsafeMutablePointer<Float>?,
        accumulateWeights: Bool,
        inputGradient: [TensorView]?, accumulateInput: Bool,
        col: UnsafeMutablePointer<Float>, dcol: UnsafeMutablePointer<Float>
    ) {
        let dy = outputGradient.sample(n)
        let colPtr = packedInput(sample: n, input: input, geometry: g, activation: activation, col: col)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
                    Int32(g.outChannels), Int32(g.patchSize), Int32(g.outPlane),
                    1, dy, Int32(g.outPlane), colPtr, Int32(g.outPlane),
                    accumulateWeights ? 1 : 0, weightGradient, Int32(g.patchSize))
        if let biasGradient {
            for c in 0..<g.outChannels {
                let p = dy + c * g.outPlane
                var s: Float = 0
                for i in 0..<g.outPlane { s += p[i] }
                biasGradient[c] = accumulateWeights ? biasGradient[c] + s : s
            }
        }
        guard let inputGradient else { return }
        if g.isPointwise && inputGradient.count == 1 {
            // dX[n] (+)= Wᵀ · dY[n], straight into the gradient planes.
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans,
                        Int32(g.inChannels), Int32(g.outPlane), Int32(g.outChannels),
                        1, weight, Int32(g.patchSize), dy, Int32(g.outPlane),
                        accumulateInput ? 1 : 0, inputGradient[0].sample(n), Int32(g.inPlane))
            return
        }
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans,
                    Int32(g.patchSize), Int32(g.outPlane), Int32(g.outChannels),
                    1, weight, Int32(g.patchSize), dy, Int32(g.outPlane),
                    0, dcol, Int32(g.outPlane))
        if !accumulateInput {
            for target in inputGradient {
                (target.sample(n)).update(repeating: 0, count: target.shape.elementCount)
            }
        }
        col2im(sample: n, dcol: dcol, geometry: g, into: inputGradient)
    }

    // MARK: im2col and col2im

    /// Returns a pointer to sample `n`'s patch matrix `[patchSize × outPlane]`: the input itself
    /// when it already has that layout, otherwise `col` after packing into it.
    @inline(__always)
    static func packedInput(
        sample n: Int, input: [TensorView], geometry g: ConvolutionGeometry,
        activation: InputActivation?, col: UnsafeMutablePointer<Float>
    ) -> UnsafePointer<Float> {
        if g.isPointwise && activation == nil && input.count == 1 {
            return UnsafePointer(input[0].sample(n))
        }
        im2col(sample: n, input: input, geometry: g, activation: activation, col: col)
        return UnsafePointer(col)
    }

    /// Packs sample `n` into `col` (row `(c, ky, kx)`, column `(oy, ox)`), applying `activation`
    /// to every input value and writing zeros where the kernel overlaps the padding.
    ///
    /// Each channel is first activated once into a zero-bordered plane that stays in L1; the
    /// `k × k` rows are then straight copies (or stride-`s` gathers) from it with no bounds tests.
    public static func im2col(
        sample n: Int, input: [TensorView], geometry g: ConvolutionGeometry,
        activation: InputActivation?, col: UnsafeMutablePointer<Float>
    ) {
        let k = g.kernel, s = g.stride, pad = g.padding
        let outW = g.outWidth, outH = g.outHeight, inW = g.inWidth, inH = g.inHeight
        let padW = inW + 2 * pad, padH = inH + 2 * pad
        withUnsafeTemporaryAllocation(of: Float.self, capacity: padW * padH) { padded in
            let plane = padded.baseAddress!
            plane.update(repeating: 0, count: padW * padH)
            var channel = 0
            for segment in input {
                for c in 0..<segment.shape.channels {
                    let src = segment.plane(n, c)
                    if let activation {
                        for y in 0..<inH {
                            activation.apply(channel: channel, from: src + y * inW,
                                             to: plane + (y + pad) * padW + pad, count: inW)
                        }
                    } else {
                        for y in 0..<inH {
                            (plane + (y + pad) * padW + pad).update(from: src + y * inW, count: inW)
                        }
                    }
                    for ky in 0..<k {
                        for kx in 0..<k {
                            let row = col + ((channel * k + ky) * k + kx) * g.outPlane
                            for oy in 0..<outH {
                                let from = plane + (oy * s + ky) * padW + kx
                                let to = row + oy * outW
                                if s == 1 {
                                    var ox = 0
                                    while ox + 8 <= outW { to.store8(from.load8(ox), ox); ox += 8 }
                                    while ox < outW { to[ox] = from[ox]; ox += 1 }
                                } else {
                                    for ox in 0..<outW { to[ox] = from[ox * s] }
                                }
                            }
                        }
                    }
                    channel += 1
                }
            }
        }
    }

    /// Adds the patch-matrix gradient `dcol` of sample `n` back onto the input planes it was
    /// packed from (the adjoint of `im2col` without activation), through a zero-bordered plane.
    public static func col2im(
        sample n: Int, dcol: UnsafePointer<Float>, geometry g: ConvolutionGeometry,
        into targets: [TensorView]
    ) {
        let k = g.kernel, s = g.stride, pad = g.padding
        let outW = g.outWidth, outH = g.outHeight, inW = g.inWidth, inH = g.inHeight
        let padW = inW + 2 * pad, padH = inH + 2 * pad
        withUnsafeTemporaryAllocation(of: Float.self, capacity: padW * padH) { padded in
            let plane = padded.baseAddress!
            var channel = 0
            for target in targets {
                for c in 0..<target.shape.channels {
                    plane.update(repeating: 0, count: padW * padH)
                    for ky in 0..<k {
                        for kx in 0..<k {
                            let row = dcol + ((channel * k + ky) * k + kx) * g.outPlane
                            for oy in 0..<outH {
                                let from = row + oy * outW
                                let to = plane + (oy * s + ky) * padW + kx
                                if s == 1 {
                                    var ox = 0
                                    while ox + 8 <= outW { to.store8(to.load8(ox) + from.load8(ox), ox); ox += 8 }
                                    while ox < outW { to[ox] += from[ox]; ox += 1 }
                                } else {
                                    for ox in 0..<outW { to[ox * s] += from[ox] }
                                }
                            }
                        }
                    }
                    let dst = target.plane(n, c)
                    for y in 0..<inH {
                        let from = plane + (y + pad) * padW + pad, to = dst + y * inW
                        var x = 0
                        while x + 8 <= inW { to.store8(to.load8(x) + from.load8(x), x); x += 8 }
                        while x < inW { to[x] += from[x]; x += 1 }
                    }
                    channel += 1
                }
            }
        }
    }
}
