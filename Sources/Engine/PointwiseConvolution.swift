import KernelsAVX2

/// A direct 1×1, stride-1 convolution in NCHW on the register tiles of `PointwiseTiles`: the
/// forward pass and the input gradient; the weight gradient `dY · Zᵀ` runs on `ChannelProducts`
/// (PointwiseConvolution+WeightGradient.swift).
///
/// A 1×1 convolution is a product `W (Cout × Cin) · Z (Cin × HW)` per sample. The forward pass
/// writes the activated input (BN-ReLU applied, segments concatenated) once into scratch, as
/// im2col does for 1×1, then runs the tiles on it; an input that needs neither activation nor
/// concatenation, with a pixel count that is a multiple of 16, is read in place. The input
/// gradient is the 1×1 convolution of `dY` with `Wᵀ`, written straight into each gradient
/// segment.
public enum PointwiseConvolution {
    /// Whether these kernels compute geometry `g` (1×1, stride 1, no padding).
    public static func supports(_ g: ConvolutionGeometry) -> Bool {
        g.kernel == 1 && g.stride == 1 && g.padding == 0
    }

    /// The most a channel count grows when rounded up to any kernel set's tile block.
    static let blockSlack = ThreeByThreeTiles.largestChannelBlock - 1

    /// Floats the tiles may read past a plane's last pixel (up to the next multiple of 16).
    static let readSlack = 16

    /// Floats of per-worker scratch for a layer of geometry `g` with `segmentCount` gradient
    /// segments, with any kernel set: the larger of the forward's (activated planes, packed
    /// weights) and the input gradient's (a copy of `dY`, packed transposed weights).
    public static func workspaceElements(_ g: ConvolutionGeometry, segmentCount: Int) -> Int {
        guard supports(g) else { return 0 }
        let forward = g.inChannels * g.inPlane + readSlack + (g.outChannels + blockSlack) * g.inChannels
        let backward = g.outChannels * g.outPlane + readSlack
            + (g.inChannels + max(1, segmentCount) * blockSlack) * g.outChannels
        return max(forward, backward)
    }

    // MARK: Forward

    /// Floats of the activated planes at the start of the forward scratch.
    static func planesCount(_ g: ConvolutionGeometry) -> Int { g.inChannels * g.inPlane + readSlack }

    /// Repacks `weight` (`[out][in]`) after the planes in `scratch` as `[out / B][in][B]` for the
    /// tile block B that `kernels` uses. Call once per weight update and scratch, before `forward`.
    public static func packWeights(_ weight: UnsafePointer<Float>, geometry g: ConvolutionGeometry,
                                   scratch: UnsafeMutablePointer<Float>, kernels: KernelSet = .selected) {
        _ = pack(rows: g.outChannels, columns: g.inChannels, block: kernels.channelBlock(outputChannels: g.outChannels),
             to: scratch + planesCount(g)) { co, ci in weight[co * g.inChannels + ci] }
    }

    /// Computes `out[n] = W · act(x[n]) (+ bias)` for sample `n`, with the weights `packWeights`
    /// left in `scratch`.
    public static func forward(
        sample n: Int, input: [TensorView], geometry g: ConvolutionGeometry,
        activation: InputActivation?, bias: UnsafePointer<Float>?,
        output: TensorView, scratch: UnsafeMutablePointer<Float>, kernels: KernelSet = .selected
    ) {
        precondition(supports(g), "pointwise convolution needs a 1×1 kernel, stride 1, no padding")
        let pixels = g.inPlane
        let planes: UnsafePointer<Float>
        if activation == nil && input.count == 1 && pixels % 16 == 0 {
            planes = UnsafePointer(input[0].sample(n))
        } else {
            var channel = 0
            for segment in input {
                for c in 0..<segment.shape.channels {
                    let from = UnsafePointer(segment.plane(n, c)), to = scratch + channel * pixels
                    if let activation {
                        activation.apply(channel: channel, from: from, to: to, count: pixels)
                    } else {
                        to.update(from: from, count: pixels)
                    }
                    channel += 1
                }
            }
            precondition(channel == g.inChannels, "input segments do not add up to the geometry's channels")
            planes = UnsafePointer(scratch)
        }
        kernels.convolve1x1(planes: planes, planeStride: pixels, inChannels: g.inChannels, outChannels: g.outChannels,
                            pixels: pixels, weights: scratch + planesCount(g), bias: bias, output: output.sample(n),
                            accumulate: false)
    }

    // MARK: Input gradient

    /// Floats of the `dY` copy at the start of the input-gradient scratch.
    static func gradientPlanesCount(_ g: ConvolutionGeometry) -> Int { g.outChannels * g.outPlane + readSlack }

    /// Packs `Wᵀ` after the `dY` copy in `scratch` as, per gradient segment (`segments` channel
    /// counts), `[in / B][out][B]` with the block B `kernels` picks for the segment. Call once per
    /// weight update and scratch, before `inputGradient` with the same `kernels`.
    public static func packTransposedWeights(_ weight: UnsafePointer<Float>, geometry g: ConvolutionGeometry,
                                             segments: [Int], scratch: UnsafeMutablePointer<Float>,
                                             kernels: KernelSet = .selected) {
        var to = scratch + gradientPlanesCount(g), first = 0
        for channels in segments {
            let b = kernels.channelBlock(outputChannels: channels), start = first
            to += pack(rows: channels, columns: g.outChannels, block: b, to: to) { ci, co in
                weight[co * g.inChannels + start + ci]
            }
            first += channels
        }
        precondition(first == g.inChannels, "gradient segments do not add up to the geometry's input channels")
    }

    /// Computes (`accumulate` false) or adds (true) sample `n`'s input gradient `Wᵀ · dY[n]` into
    /// the `inputGradient` segments, with the weights `packTransposedWeights` left in `scratch`.
    public static func inputGradient(
        sample n: Int, outputGradient: TensorView, geometry g: ConvolutionGeometry,
        inputGradient: [TensorView], accumulate: Bool, scratch: UnsafeMutablePointer<Float>,
        kernels: KernelSet = .selected
    ) {
        precondition(supports(g), "pointwise convolution needs a 1×1 kernel, stride 1, no padding")
        let pixels = g.outPlane, cout = g.outChannels
        var planes = UnsafePointer(outputGradient.sample(n))
        if pixels % 16 != 0 {
            scratch.update(from: planes, count: cout * pixels)
            planes = UnsafePointer(scratch)
        }
        var weights = UnsafePointer(scratch + gradientPlanesCount(g))
        for target in inputGradient {
            let channels = target.shape.channels, b = kernels.channelBlock(outputChannels: channels)
            kernels.convolve1x1(planes: planes, planeStride: pixels, inChannels: cout, outChannels: channels,
                                pixels: pixels, weights: weights, bias: nil, output: target.sample(n),
                                accumulate: accumulate)
            weights += (channels + b - 1) / b * b * cout
        }
    }

    /// Writes the `rows × columns` matrix `value(r, c)` to `to` as `[rows / block][columns][block]`,
    /// a last partial block repeating its last row, and returns the floats written.
    @inline(__always)
    static func pack(rows: Int, columns: Int, block b: Int, to: UnsafeMutablePointer<Float>,
                     _ value: (Int, Int) -> Float) -> Int {
        let blocks = (rows + b - 1) / b
        for block in 0..<blocks {
            let base = to + block * b * columns
            for c in 0..<columns {
                for j in 0..<b { base[c * b + j] = value(min(block * b + j, rows - 1), c) }
            }
        }
        return blocks * b * columns
    }
}
