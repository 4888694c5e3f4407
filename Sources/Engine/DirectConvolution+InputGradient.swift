/// The input gradient of the 3×3, stride-1, padding-1 convolution, by the forward tiles.
///
/// `dX[ci](y, x) = Σ_co Σ_{ky,kx} W[co][ci][ky][kx] · dY[co](y + 1 − ky, x + 1 − kx)` is itself a
/// 3×3, stride-1, padding-1 convolution: of `dY` (Cout channels in) with the weights transposed
/// over channels and flipped over taps, `W'[ci][co][t] = W[co][ci][8 − t]`. So it runs on the
/// same register tiles as the forward pass (`ThreeByThreeTiles`), with no col2im and no
/// `patch × pixels` panel. Each gradient segment gets output-channel blocks of its own, so a
/// segment list (a DenseNet concatenation) is written in place.
extension DirectConvolution {
    /// Floats of scratch `inputGradient` needs: the padded planes of `dY`, then the transposed,
    /// flipped weights of every gradient segment (`segments` channel counts summing to
    /// `g.inChannels`).
    public static func inputGradientScratchCount(_ g: ConvolutionGeometry, segments: [Int],
                                                 kernels: KernelSet = .selected) -> Int {
        gradientPlanesCount(g) + transposedWeightCount(g, segments: segments, kernels: kernels)
    }

    /// Floats of per-worker scratch the direct kernels need for a layer of geometry `g` with
    /// `segmentCount` inputs, with any kernel set (0 for geometries they do not handle): the
    /// largest of the forward's and the input gradient's, direct or Winograd
    /// (`WinogradConvolution`). Below the model size limits the products
    /// stay far inside `Int`.
    public static func workspaceElements(_ g: ConvolutionGeometry, segmentCount: Int) -> Int {
        guard supports(g) else { return 0 }
        return max(scratchCount(g), inputGradientScratchBound(g, segmentCount: max(1, segmentCount)),
                   WinogradConvolution.workspaceElements(g, segmentCount: segmentCount))
    }

    /// An upper bound of `inputGradientScratchCount` over all splits of the input channels into
    /// `segmentCount` segments and kernel sets (each segment rounds up to its block by at most
    /// `blockSlack` channels).
    static func inputGradientScratchBound(_ g: ConvolutionGeometry, segmentCount: Int) -> Int {
        gradientPlanesCount(g) + (g.inChannels + segmentCount * blockSlack) * 9 * g.outChannels
    }

    /// Floats of the padded `dY` planes at the start of the scratch.
    static func gradientPlanesCount(_ g: ConvolutionGeometry) -> Int {
        g.outChannels * paddedHeight(g) * paddedWidth(g)  // output size = input size
    }

    /// Floats of the packed transposed weights: each segment's channels rounded up to its block.
    static func transposedWeightCount(_ g: ConvolutionGeometry, segments: [Int], kernels: KernelSet) -> Int {
        segments.reduce(0) { $0 + paddedChannels($1, kernels) } * 9 * g.outChannels
    }

    /// A gradient segment's channels rounded up to the tile block `kernels` uses for it.
    static func paddedChannels(_ channels: Int, _ kernels: KernelSet) -> Int {
        let b = kernels.channelBlock(outputChannels: channels)
        return (channels + b - 1) / b * b
    }

    /// Packs `weight` (`[out][in][3][3]`) after the `dY` planes in `scratch` as, per gradient
    /// segment, `[in / B][out][tap][B]` with the taps flipped: the forward tiles' layout (block B
    /// as `kernels` picks it for the segment) for the convolution that maps `dY` to that segment's
    /// `dX`. A segment's last partial block repeats its last channel. Call once per weight update
    /// and scratch, before `inputGradient` with the same `kernels`.
    public static func packTransposedWeights(_ weight: UnsafePointer<Float>, geometry g: ConvolutionGeometry,
                                             segments: [Int], scratch: UnsafeMutablePointer<Float>,
                                             kernels: KernelSet = .selected) {
        let cout = g.outChannels, cin = g.inChannels
        forEachTransposedLane(segments: segments, geometry: g, kernels: kernels, floatsPerLane: 9 * cout,
                              from: scratch + gradientPlanesCount(g)) { to, j, b, ci in
            for co in 0..<cout {
                for t in 0..<9 { to[(co * 9 + t) * b + j] = weight[(co * cin + ci) * 9 + 8 - t] }
            }
        }
    }

    /// Walks the lanes of the transposed weights' blocks as both kernels pack them, from `from`:
    /// per gradient segment, blocks of the B lanes `kernels` picks for it, `B · floatsPerLane`
    /// floats each; `body(block, lane, B, inputChannel)` fills one lane of the block starting at
    /// `block`. A segment's last partial block repeats its last channel.
    static func forEachTransposedLane(
        segments: [Int], geometry g: ConvolutionGeometry, kernels: KernelSet, floatsPerLane: Int,
        from: UnsafeMutablePointer<Float>,
        _ body: (_ block: UnsafeMutablePointer<Float>, _ lane: Int, _ lanes: Int, _ inputChannel: Int) -> Void
    ) {
        var to = from, first = 0
        for channels in segments {
            let b = kernels.channelBlock(outputChannels: channels)
            for block in 0..<(channels + b - 1) / b {
                for j in 0..<b { body(to, j, b, first + min(block * b + j, channels - 1)) }
                to += b * floatsPerLane
            }
            first += channels
        }
        precondition(first == g.inChannels, "gradient segments do not add up to the geometry's input channels")
    }

    /// Writes sample `n`'s output-gradient channels into `gradientPlanesCount(g)` floats at
    /// `planes`, one zero-bordered plane each (`pad`): the input of the transposed convolution.
    static func padOutputGradient(sample n: Int, outputGradient: TensorView, geometry g: ConvolutionGeometry,
                                  planes: UnsafeMutablePointer<Float>) {
        let padW = paddedWidth(g), planeStride = paddedHeight(g) * padW
        for co in 0..<g.outChannels {
            pad(plane: planes + co * planeStride, from: UnsafePointer(outputGradient.plane(n, co)),
                width: g.outWidth, height: g.outHeight, paddedWidth: padW, activation: nil, channel: co)
        }
    }

    /// Computes (`accumulate` false) or adds (true) sample `n`'s input gradient into the
    /// `inputGradient` segments, from `outputGradient` and the weights `packTransposedWeights`
    /// left in `scratch` (for the same segment channel counts).
    ///
    /// - Parameters:
    ///   - scratch: at least `inputGradientScratchCount(g, segments:)` floats; the planes at its
    ///     start are overwritten.
    ///   - kernels: the instruction set of the tiles (tests force each one).
    public static func inputGradient(
        sample n: Int, outputGradient: TensorView, geometry g: ConvolutionGeometry,
        inputGradient: [TensorView], accumulate: Bool, scratch: UnsafeMutablePointer<Float>,
        kernels: KernelSet = .selected
    ) {
        precondition(supports(g), "direct convolution needs a 3×3 kernel, stride 1, padding 1")
        let w = g.outWidth, h = g.outHeight, cout = g.outChannels
        padOutputGradient(sample: n, outputGradient: outputGradient, geometry: g, planes: scratch)
        var weights = UnsafePointer(scratch + gradientPlanesCount(g))
        for target in inputGradient {
            let channels = target.shape.channels
            kernels.convolve3x3(planes: scratch, inChannels: cout, outChannels: channels, outHeight: h, outWidth: w,
                                weights: weights, bias: nil, output: target.sample(n), accumulate: accumulate)
            weights += paddedChannels(channels, kernels) * 9 * cout
        }
    }
}
