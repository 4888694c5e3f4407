import KernelsAVX2

/// The 3×3, stride-1, padding-1 convolution by Winograd's minimal filtering F(2×2, 3×3), in NCHW,
/// forward and input gradient: 16 multiplications per 2×2 outputs, input channel and output
/// channel instead of 36.
///
/// It starts like `DirectConvolution`: the activated input channels of one sample are written
/// into zero-bordered planes (`DirectConvolution.padInput`, the same code). The weights are
/// transformed once per layer call and worker (`transformWeights`: `U = G g Gᵀ`, 4×4 per output
/// and input channel, packed per output-channel block as the direct tiles pack theirs). Then,
/// per block of 16 output tiles (`WinogradTiles`, one SIMD16 lane per 2×2 tile), the input
/// transform of every channel and, per transformed element, an output-channels × input-channels
/// product over the 16 tiles in register blocks, followed by the output transform into the
/// output planes.
///
/// The input gradient is the same convolution of `dY` with transposed, flipped weights (see
/// `DirectConvolution.inputGradient`), so it runs on the same loops, sharing each block's input
/// transform between the gradient segments.
///
/// Numerically the transforms only add, subtract and halve (exact in binary but for rounding of
/// the sums), and each element sums one product per input channel where the direct kernel sums
/// nine: at training magnitudes its float error measured about half the direct kernel's
/// (`WinogradConvolutionTests` states the bound).
public enum WinogradConvolution {
    /// Transformed elements per tile (4×4).
    static let elements = 16

    /// Whether these kernels compute geometry `g` (the direct kernels' geometries).
    public static func supports(_ g: ConvolutionGeometry) -> Bool { DirectConvolution.supports(g) }

    // MARK: Where it wins

    /// The fewest channels summed per element product (the convolution's input channels: the
    /// layer's inputs forward, its outputs for the input gradient) at which Winograd is used.
    ///
    /// Single thread, AMD EPYC Zen 4, GFLOP/s counted as the direct kernel's work
    /// (2·Cout·Cin·9·H·W), median of 5 interleaved rounds, Winograd ÷ direct with AVX-512 / AVX2,
    /// forward and input gradient (table in Docs/benchmarks.md):
    /// - 12 and more summed channels win everywhere measured: DenseNet 32×32, 24–168 → 12:
    ///   1.43–1.60× / 1.30–1.45× forward, 1.49–1.69× / 1.47–1.74× input gradient (12 summed);
    ///   16×16, 120–300 → 12: 1.56–1.58× / 1.42–1.46×, 1.56–1.64× / 1.75–1.76×; 8×8, 144–300 → 12:
    ///   1.40–1.42× / 2.03–2.07×, 1.45–1.50× / 2.67–2.71×; ResNet 32×32, 16 → 16: 1.39–1.49× /
    ///   1.42–1.45×; 16×16, 32 → 32: 1.62–1.66× / 1.71×; 8×8, 64 → 64: 1.83× / 2.79–2.80×;
    ///   8×8, 12 → 12: 1.09–1.13× / 1.81–1.82×.
    /// - Fewer lose or tie: the stems' forward (3 → 16, 3 → 24 at 32×32) 0.60–0.69× / 0.82–0.89×;
    ///   6 → 6 at 16×16 0.87–0.92× / 0.83–0.85×; 8 → 8 0.91–1.07× with AVX-512 (1.20–1.74× with
    ///   AVX2, whose direct kernel is weaker there). With few summed channels the two transforms
    ///   outweigh the products they save.
    public static let minimumSummedChannels = 12

    /// Whether the forward pass of `g` runs faster with Winograd than with the direct kernel.
    public static func winsForward(_ g: ConvolutionGeometry) -> Bool {
        supports(g) && g.inChannels >= minimumSummedChannels
    }

    /// Whether the input gradient of `g` (a convolution summing over `g.outChannels`) runs faster
    /// with Winograd than with the direct kernel.
    public static func winsInputGradient(_ g: ConvolutionGeometry) -> Bool {
        supports(g) && g.outChannels >= minimumSummedChannels
    }

    /// Whether the weight gradient of `g` runs faster with Winograd than with the direct kernel:
    /// nowhere measured, so never.
    ///
    /// 2-vCPU Intel Xeon (family 6, model 167, AVX-512), batch 64, `bench --profile`, the binary
    /// with and without it taking turns (Docs/benchmarks.md): resnet-20 at 1 thread, best of 6,
    /// 298 against 278 images/s, the pre-activated 3×3 layers' backward 69.6 against 76.7 ms per
    /// step; densenet-40-12 at 2 threads backward 565–576 against 737–743 ms. The transformed
    /// operands take 4 floats per pixel and channel (16 per 2×2 tile) where the direct kernel's
    /// planes take 1, so at DenseNet's wide inputs they leave L2, and the transforms, the copies
    /// of `dY` and the horizontal sums outweigh the 2.25× fewer multiplications.
    /// `DDPTRAIN_CONVOLUTION=winograd-all` runs it for A/B runs.
    public static func winsWeightGradient(_ g: ConvolutionGeometry) -> Bool {
        false
    }

    /// The block tiling of `g`'s map (the same for every kernel set).
    static func tiling(_ g: ConvolutionGeometry) -> WinogradTiles.Tiling {
        WinogradTiles.Tiling(height: g.inHeight, width: g.inWidth)
    }

    /// Floats after the padded planes that the input transform may read (zeroed per sample).
    static func slackCount(_ g: ConvolutionGeometry) -> Int {
        let t = tiling(g)
        return max(0, t.readExtent - DirectConvolution.paddedHeight(g) * DirectConvolution.paddedWidth(g))
    }

    /// Floats of one block's transformed input (`[16][channels][16]`) and of one channel block's
    /// element products (`16 · 16 · B` for the largest B), after the weights.
    static func blockScratchCount(inChannels: Int) -> Int {
        elements * inChannels * 16 + elements * 16 * ThreeByThreeTiles.largestChannelBlock
    }

    // MARK: Forward

    /// Floats of the transformed weights of any kernel set (`[out / B][16][in][B]`).
    static func transformedWeightCount(_ g: ConvolutionGeometry) -> Int {
        (g.outChannels + DirectConvolution.blockSlack) * elements * g.inChannels
    }

    /// Where the forward's transformed weights start in the scratch: after the padded planes and
    /// the transform's read slack.
    static func weightOffset(_ g: ConvolutionGeometry) -> Int {
        DirectConvolution.planesCount(g) + slackCount(g)
    }

    /// Floats of scratch that `transformWeights` and `forward` need for geometry `g`: padded
    /// planes, read slack, transformed weights, one block's transformed input and products.
    public static func scratchCount(_ g: ConvolutionGeometry) -> Int {
        weightOffset(g) + transformedWeightCount(g) + blockScratchCount(inChannels: g.inChannels)
    }

    /// Writes `U = G g Gᵀ` of every `weight` (`[out][in][3][3]`) into `scratch`'s weight area as
    /// `[out / B][16 elements][in][B]` for the channel block B that `kernels` uses (a last partial
    /// block repeats its last channel). Call once per weight update and scratch, before `forward`
    /// with the same `kernels`.
    public static func transformWeights(_ weight: UnsafePointer<Float>, geometry g: ConvolutionGeometry,
                                        scratch: UnsafeMutablePointer<Float>, kernels: KernelSet = .selected) {
        let cout = g.outChannels, cin = g.inChannels, b = kernels.channelBlock(outputChannels: cout)
        let u = scratch + weightOffset(g)
        for block in 0..<(cout + b - 1) / b {
            let to = u + block * b * elements * cin
            for j in 0..<b {
                let co = min(block * b + j, cout - 1)
                for ci in 0..<cin {
                    transform(weight + (co * cin + ci) * 9, flipped: false, to: to + ci * b + j, stride: cin * b)
                }
            }
        }
    }

    /// Writes `G g Gᵀ` of one 3×3 kernel (`flipped`: of the kernel rotated by 180°) to
    /// `to[e · stride]` for the elements `e = 4 i + j`, with `G = [[1, 0, 0], [½, ½, ½], [½, −½, ½],
    /// [0, 0, 1]]`.
    static func transform(_ kernel: UnsafePointer<Float>, flipped: Bool, to: UnsafeMutablePointer<Float>, stride: Int) {
        @inline(__always) func k(_ y: Int, _ x: Int) -> Float { kernel[flipped ? 8 - 3 * y - x : 3 * y + x] }
        // G applied to a triple (a, b, c): (a, (a + b + c) / 2, (a − b + c) / 2, c).
        @inline(__always) func g(_ a: Float, _ b: Float, _ c: Float) -> SIMD4<Float> {
            SIMD4(a, (a + b + c) * 0.5, (a - b + c) * 0.5, c)
        }
        // Down the kernel's columns (rows i of G k), then along each row.
        let c0 = g(k(0, 0), k(1, 0), k(2, 0)), c1 = g(k(0, 1), k(1, 1), k(2, 1)), c2 = g(k(0, 2), k(1, 2), k(2, 2))
        for i in 0..<4 {
            let r = g(c0[i], c1[i], c2[i])
            for j in 0..<4 { to[(4 * i + j) * stride] = r[j] }
        }
    }

    /// Computes `out[n] = conv3x3(act(x[n])) (+ bias)` for sample `n`.
    ///
    /// - Parameters:
    ///   - scratch: at least `scratchCount(g)` floats, holding the weights that
    ///     `transformWeights` wrote; the rest is overwritten.
    ///   - kernels: the instruction set of the loops (tests force each one).
    public static func forward(
        sample n: Int, input: [TensorView], geometry g: ConvolutionGeometry,
        activation: InputActivation?, bias: UnsafePointer<Float>?,
        output: TensorView, scratch: UnsafeMutablePointer<Float>, kernels: KernelSet = .selected
    ) {
        precondition(supports(g), "Winograd convolution needs a 3×3 kernel, stride 1, padding 1")
        DirectConvolution.padInput(sample: n, input: input, geometry: g, activation: activation, planes: scratch)
        (scratch + DirectConvolution.planesCount(g)).update(repeating: 0, count: slackCount(g))
        let u = UnsafePointer(scratch + weightOffset(g))
        let v = scratch + weightOffset(g) + transformedWeightCount(g)
        let products = v + elements * g.inChannels * 16
        let h = g.inHeight, w = g.inWidth, cin = g.inChannels
        for block in 0..<tiling(g).blockCount {
            kernels.winogradTransformInput(planes: scratch, inChannels: cin, height: h, width: w, block: block, into: v)
            kernels.winogradMultiply(transformed: v, inChannels: cin, outChannels: g.outChannels, weights: u,
                                     bias: bias, height: h, width: w, block: block, output: output.sample(n),
                                     accumulate: false, products: products)
        }
    }

    // MARK: Input gradient

    /// Where the input gradient's transformed weights start: after the `dY` planes and slack.
    static func transposedWeightOffset(_ g: ConvolutionGeometry) -> Int {
        DirectConvolution.gradientPlanesCount(g) + slackCount(g)
    }

    /// Floats of the transformed transposed weights: each gradient segment's channels rounded up
    /// to its block, times 16 elements, times the output channels.
    static func transposedWeightCount(_ g: ConvolutionGeometry, segments: [Int], kernels: KernelSet) -> Int {
        segments.reduce(0) { $0 + DirectConvolution.paddedChannels($1, kernels) } * elements * g.outChannels
    }

    /// Floats of scratch `inputGradient` needs: the padded `dY` planes and slack, the transformed
    /// weights of every gradient segment (`segments` channel counts summing to `g.inChannels`),
    /// one block's transformed `dY` and products.
    public static func inputGradientScratchCount(_ g: ConvolutionGeometry, segments: [Int],
                                                 kernels: KernelSet = .selected) -> Int {
        transposedWeightOffset(g) + transposedWeightCount(g, segments: segments, kernels: kernels)
            + blockScratchCount(inChannels: g.outChannels)
    }

    /// Floats of per-worker scratch for a layer of geometry `g` with `segmentCount` gradient
    /// segments, with any split and kernel set: the larger of the forward's and the input
    /// gradient's (0 for geometries these kernels do not handle).
    static func workspaceElements(_ g: ConvolutionGeometry, segmentCount: Int) -> Int {
        guard supports(g) else { return 0 }
        let transposed = (g.inChannels + max(1, segmentCount) * DirectConvolution.blockSlack) * elements * g.outChannels
        return max(scratchCount(g), transposedWeightOffset(g) + transposed + blockScratchCount(inChannels: g.outChannels))
    }

    /// Writes, per gradient segment, `G g' Gᵀ` of the transposed, flipped weights
    /// `g'[ci][co] = rot180(W[co][ci])` after the `dY` planes in `scratch`, as
    /// `[in / B][16][out][B]` with the block B `kernels` picks for the segment. Call once per
    /// weight update and scratch, before `inputGradient` with the same `kernels`.
    public static func transformTransposedWeights(_ weight: UnsafePointer<Float>, geometry g: ConvolutionGeometry,
                                                  segments: [Int], scratch: UnsafeMutablePointer<Float>,
                                                  kernels: KernelSet = .selected) {
        let cout = g.outChannels, cin = g.inChannels
        DirectConvolution.forEachTransposedLane(segments: segments, geometry: g, kernels: kernels,
                                                floatsPerLane: elements * cout,
                                                from: scratch + transposedWeightOffset(g)) { to, j, b, ci in
            for co in 0..<cout {
                transform(weight + (co * cin + ci) * 9, flipped: true, to: to + co * b + j, stride: cout * b)
            }
        }
    }

    /// Computes (`accumulate` false) or adds (true) sample `n`'s input gradient into the
    /// `inputGradient` segments, from `outputGradient` and the weights
    /// `transformTransposedWeights` left in `scratch` (for the same segment channel counts).
    ///
    /// - Parameters:
    ///   - scratch: at least `inputGradientScratchCount(g, segments:)` floats; all but the
    ///     weights is overwritten.
    ///   - kernels: the instruction set of the loops (tests force each one).
    public static func inputGradient(
        sample n: Int, outputGradient: TensorView, geometry g: ConvolutionGeometry,
        inputGradient: [TensorView], accumulate: Bool, scratch: UnsafeMutablePointer<Float>,
        kernels: KernelSet = .selected
    ) {
        precondition(supports(g), "Winograd convolution needs a 3×3 kernel, stride 1, padding 1")
        DirectConvolution.padOutputGradient(sample: n, outputGradient: outputGradient, geometry: g, planes: scratch)
        (scratch + DirectConvolution.gradientPlanesCount(g)).update(repeating: 0, count: slackCount(g))
        let h = g.outHeight, w = g.outWidth, cout = g.outChannels
        let weights = UnsafePointer(scratch + transposedWeightOffset(g))
        // After every segment's weights (`transposedWeightCount`), without building the count list.
        let weightCount = inputGradient.reduce(0) { $0 + DirectConvolution.paddedChannels($1.shape.channels, kernels) }
            * elements * cout
        let v = scratch + transposedWeightOffset(g) + weightCount
        let products = v + elements * cout * 16
        for block in 0..<tiling(g).blockCount {
            kernels.winogradTransformInput(planes: scratch, inChannels: cout, height: h, width: w, block: block, into: v)
            var u = weights
            for target in inputGradient {
                let channels = target.shape.channels
                kernels.winogradMultiply(transformed: v, inChannels: cout, outChannels: channels, weights: u,
                                         bias: nil, height: h, width: w, block: block, output: target.sample(n),
                                         accumulate: accumulate, products: products)
                u += DirectConvolution.paddedChannels(channels, kernels) * elements * cout
            }
        }
    }
}
