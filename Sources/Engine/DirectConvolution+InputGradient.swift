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
    public static func inputGradientScratchCount(_ g: ConvolutionGeometry, segments: [Int]) -> Int {
        gradientPlanesCount(g) + transposedWeightCount(g, segments: segments)
    }

    /// An upper bound of `inputGradientScratchCount` over all splits of the input channels into
    /// `segmentCount` segments (each segment rounds up to the block by at most `channelBlock − 1`).
    static func inputGradientScratchBound(_ g: ConvolutionGeometry, segmentCount: Int) -> Int {
        gradientPlanesCount(g) + (g.inChannels + segmentCount * (channelBlock - 1)) * 9 * g.outChannels
    }

    /// Floats of the padded `dY` planes at the start of the scratch.
    static func gradientPlanesCount(_ g: ConvolutionGeometry) -> Int {
        g.outChannels * paddedHeight(g) * paddedWidth(g)  // output size = input size
    }

    /// Floats of the packed transposed weights: each segment's channels rounded up to the block.
    static func transposedWeightCount(_ g: ConvolutionGeometry, segments: [Int]) -> Int {
        let b = channelBlock
        return segments.reduce(0) { $0 + ($1 + b - 1) / b * b } * 9 * g.outChannels
    }

    /// Packs `weight` (`[out][in][3][3]`) after the `dY` planes in `scratch` as, per gradient
    /// segment, `[in / 6][out][tap][6]` with the taps flipped: the forward tiles' layout for the
    /// convolution that maps `dY` to that segment's `dX`. A segment's last partial block repeats
    /// its last channel. Call once per weight update and scratch, before `inputGradient`.
    public static func packTransposedWeights(_ weight: UnsafePointer<Float>, geometry g: ConvolutionGeometry,
                                             segments: [Int], scratch: UnsafeMutablePointer<Float>) {
        let b = channelBlock, cout = g.outChannels, cin = g.inChannels
        var to = scratch + gradientPlanesCount(g)
        var first = 0
        for channels in segments {
            for block in 0..<(channels + b - 1) / b {
                for co in 0..<cout {
                    for t in 0..<9 {
                        for j in 0..<b {
                            let ci = first + min(block * b + j, channels - 1)
                            to[(co * 9 + t) * b + j] = weight[(co * cin + ci) * 9 + 8 - t]
                        }
                    }
                }
                to += b * 9 * cout
            }
            first += channels
        }
        precondition(first == cin, "gradient segments do not add up to the geometry's input channels")
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
        let padW = paddedWidth(g), planeStride = paddedHeight(g) * padW
        for co in 0..<cout {
            pad(plane: scratch + co * planeStride, from: UnsafePointer(outputGradient.plane(n, co)),
                width: w, height: h, paddedWidth: padW, activation: nil)
        }
        var weights = UnsafePointer(scratch + gradientPlanesCount(g))
        let b = channelBlock
        for target in inputGradient {
            let channels = target.shape.channels
            kernels.convolve3x3(planes: scratch, inChannels: cout, outChannels: channels, outHeight: h, outWidth: w,
                                weights: weights, bias: nil, output: target.sample(n), accumulate: accumulate)
            weights += (channels + b - 1) / b * b * 9 * cout
        }
    }
}
