import KernelsAVX2

/// A direct 3×3, stride-1, padding-1 convolution in NCHW, without an im2col buffer.
///
/// Per sample, every input channel (across all segments, with the fused BN-ReLU applied exactly
/// as `Convolution.im2col` applies it) is first written once into a zero-bordered padded plane
/// in `scratch`, so the inner loop needs no bounds tests. That copy is `Cin·(H+3)·(W'+2)` floats,
/// about a ninth of the im2col matrix. The register-tiled loops over those planes
/// (`ThreeByThreeTiles`, up to 12 output channels × 16 pixels per tile) run with the instruction set
/// `KernelSet` chose: the same source compiled for AVX2 and for AVX-512.
///
/// The weights are repacked once per layer call and worker (`packWeights`) as
/// `[out / B][in][tap][B]` for the kernel set's tile block B (6, 8 or 12 channels), so the B
/// broadcasts of a tap come from one pointer at fixed offsets. An output-channel count that is
/// not a multiple of B reuses the last channel's weights for the missing lanes of the final
/// block, and only the real channels are stored.
public enum DirectConvolution {
    /// The most a channel count grows when rounded up to any kernel set's tile block: scratch is
    /// sized with it, so one layer workspace serves every set.
    static let blockSlack = ThreeByThreeTiles.largestChannelBlock - 1

    /// Whether this kernel computes geometry `g` (3×3, stride 1, padding 1).
    public static func supports(_ g: ConvolutionGeometry) -> Bool {
        g.kernel == 3 && g.stride == 1 && g.padding == 1
    }

    /// Padded row length, as the tiles read it (`ThreeByThreeTiles.paddedWidth`).
    static func paddedWidth(_ g: ConvolutionGeometry) -> Int { ThreeByThreeTiles.paddedWidth(forWidth: g.inWidth) }

    /// Padded rows, as the tiles read them (`ThreeByThreeTiles.paddedHeight`).
    static func paddedHeight(_ g: ConvolutionGeometry) -> Int { ThreeByThreeTiles.paddedHeight(forHeight: g.inHeight) }

    /// Floats of the padded planes of one sample, at the start of the scratch.
    static func planesCount(_ g: ConvolutionGeometry) -> Int {
        g.inChannels * paddedHeight(g) * paddedWidth(g)
    }

    /// Floats of the packed weights (`packWeights`) of any kernel set, after the planes in the
    /// scratch: at most `blockSlack` channels more than the layer has.
    static func packedWeightCount(_ g: ConvolutionGeometry) -> Int {
        (g.outChannels + blockSlack) * g.patchSize
    }

    /// Floats of scratch that `packWeights` and `forward` need for geometry `g`: the padded
    /// planes, then the packed weights.
    public static func scratchCount(_ g: ConvolutionGeometry) -> Int {
        planesCount(g) + packedWeightCount(g)
    }

    /// Repacks `weight` (`[out][in][3][3]`) into `scratch`'s weight area as `[out / B][in][tap][B]`
    /// for the tile block B that `kernels` uses, so that a tile's B weights of one tap are adjacent
    /// and the inner loop broadcasts them from one pointer. A last block with fewer than B
    /// channels repeats the last channel. Call once per weight update and scratch, before
    /// `forward` with the same `kernels`.
    public static func packWeights(_ weight: UnsafePointer<Float>, geometry g: ConvolutionGeometry,
                                   scratch: UnsafeMutablePointer<Float>, kernels: KernelSet = .selected) {
        packBlocks(weight, geometry: g, into: scratch + planesCount(g), kernels: kernels)
    }

    /// Writes `weight` (`[out][in][3][3]`) to `packed` as `[out / B][in][tap][B]`, the layout of
    /// both tile kinds (`ThreeByThreeTiles`, and `TapListTiles` for stride 2), for the block B that
    /// `kernels` uses; `(outChannels + blockSlack) · patchSize` floats at most.
    static func packBlocks(_ weight: UnsafePointer<Float>, geometry g: ConvolutionGeometry,
                           into packed: UnsafeMutablePointer<Float>, kernels: KernelSet) {
        let patch = g.patchSize, cout = g.outChannels, b = kernels.channelBlock(outputChannels: cout)
        for block in 0..<(cout + b - 1) / b {
            let to = packed + block * b * patch
            for j in 0..<b {
                let from = weight + min(block * b + j, cout - 1) * patch
                for i in 0..<patch { to[i * b + j] = from[i] }
            }
        }
    }

    /// Computes `out[n] = conv3x3(act(x[n])) (+ bias)` for sample `n`.
    ///
    /// - Parameters:
    ///   - scratch: at least `scratchCount(g)` floats, holding the weights that `packWeights`
    ///     wrote; the planes before them are overwritten.
    ///   - kernels: the instruction set of the tiles (tests force each one).
    public static func forward(
        sample n: Int, input: [TensorView], geometry g: ConvolutionGeometry,
        activation: InputActivation?, bias: UnsafePointer<Float>?,
        output: TensorView, scratch: UnsafeMutablePointer<Float>, kernels: KernelSet = .selected
    ) {
        let weight = UnsafePointer(scratch + planesCount(g))
        precondition(supports(g), "direct convolution needs a 3×3 kernel, stride 1, padding 1")
        // 1. Activate every input channel once into its zero-bordered plane.
        padInput(sample: n, input: input, geometry: g, activation: activation, planes: scratch)
        // 2. Register tiles.
        kernels.convolve3x3(planes: scratch, inChannels: g.inChannels, outChannels: g.outChannels,
                            outHeight: g.outHeight, outWidth: g.outWidth, weights: weight, bias: bias,
                            output: output.sample(n), accumulate: false)
    }

    /// Writes sample `n`'s input channels (across all segments, activated) into `planesCount(g)`
    /// floats at `planes`: one zero-bordered plane each (`pad`), as the 3×3 tiles read them.
    static func padInput(sample n: Int, input: [TensorView], geometry g: ConvolutionGeometry,
                         activation: InputActivation?, planes: UnsafeMutablePointer<Float>) {
        let padW = paddedWidth(g), planeStride = paddedHeight(g) * padW
        var channel = 0
        for segment in input {
            for c in 0..<segment.shape.channels {
                pad(plane: planes + channel * planeStride, from: UnsafePointer(segment.plane(n, c)),
                    width: g.inWidth, height: g.inHeight, paddedWidth: padW, activation: activation, channel: channel)
                channel += 1
            }
        }
        precondition(channel == g.inChannels, "input segments do not add up to the geometry's channels")
    }

    /// Writes one channel into `plane` (`(height + 3) × paddedWidth`): a zero row on top, the
    /// (activated) rows with a zero column on the left and zeros up to `paddedWidth` on the right,
    /// then two zero rows. The activation is the same expression as in `Convolution.im2col`.
    ///
    /// Everything is written with 8-float stores, not `memset`/`memcpy` calls, which cost more
    /// than the copy itself on the 8- and 16-wide planes (on an 8×8 map the calls took more time
    /// than the Winograd products). A row's zero tail may spill up to 7 floats into the next row
    /// or the bottom rows, which are written after it; nothing is written past the plane.
    @inline(__always)
    static func pad(plane: UnsafeMutablePointer<Float>, from src: UnsafePointer<Float>, width inW: Int,
                    height inH: Int, paddedWidth padW: Int, activation: InputActivation?, channel: Int) {
        zero(plane, count: padW)
        for y in 0..<inH {
            let row = plane + (y + 1) * padW
            row[0] = 0
            let from = src + y * inW, to = row + 1
            if let activation {
                activation.apply(channel: channel, from: from, to: to, count: inW)
            } else {
                var x = 0
                while x + 8 <= inW { to.store8(from.load8(x), x); x += 8 }
                if x < inW {
                    // The last 8 floats again (overlapping), or one by one below 8.
                    if inW >= 8 { to.store8(from.load8(inW - 8), inW - 8) } else { copy(from, to, count: inW) }
                }
            }
            var tail = inW + 1
            while tail < padW { row.store8(.zero, tail); tail += 8 }
        }
        zero(plane + (inH + 1) * padW, count: 2 * padW)
    }

    /// Zeroes `count` floats at `p` with 8-float stores, the last one overlapping (one by one when
    /// `count` is below 8: the weight gradient's rows of `W + 1` floats can be that short, and an
    /// overlapping store would then write before `p`).
    @inline(__always)
    static func zero(_ p: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 8 <= count { p.store8(.zero, i); i += 8 }
        if i < count {
            if count >= 8 { p.store8(.zero, count - 8) } else { for j in 0..<7 where j < count { p[j] = 0 } }
        }
    }

    /// Copies `count` (below 8) floats one by one; not a loop, so that it stays no `memcpy` call.
    @inline(__always)
    static func copy(_ from: UnsafePointer<Float>, _ to: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<7 where i < count { to[i] = from[i] }
    }
}
