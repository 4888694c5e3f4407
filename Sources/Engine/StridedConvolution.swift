/// The 3×3, stride-2, padding-1 convolution (ResNet's downsampling layers) on the engine's own
/// register tiles: forward, input gradient and weight gradient, side by side.
///
/// With stride 2, neighbouring outputs read inputs two apart, which one vector load cannot
/// gather. So every (activated) input channel is first split into its four **phase planes**
/// `P[py][px](r, c) = padded(2r + py, 2c + px)`, where `padded` is the input with its one-pixel
/// zero border. Tap `(ky, kx)` of output `(oy, ox)` is then `P[ky mod 2][kx mod 2](oy + ky / 2,
/// ox + kx / 2)`: a stride-1 read at a fixed offset (`PhaseLayout.taps`). The forward pass runs
/// `TapListTiles` over the phase planes with those nine offsets, and the weight gradient runs
/// the stride-1 kernel's dot products (`ThreeByThreeWeightGradient`) over them with the same
/// offsets.
///
/// The input gradient splits `dX` the same way. Input row `iy` receives from output rows `oy`
/// with `2·oy + ky − 1 = iy`: an even row from `ky = 1` at `oy = iy / 2` only, an odd row from
/// `ky = 0` at `oy = (iy + 1) / 2` and `ky = 2` at `oy = (iy − 1) / 2` (columns likewise). So each
/// of the four phases of `dX` is a stride-1 correlation of `dY` with a sub-kernel of 1, 2, 2 or 4
/// taps (`phases`), again on `TapListTiles`, written into a dense plane and then interleaved
/// into `dX`. Every phase plane has rows of `outW + 1` floats, the extra column and the rows
/// after the data zero, so that reads past an edge meet the zero border.
public enum StridedConvolution {
    /// Whether this kernel computes geometry `g` (3×3, stride 2, padding 1).
    public static func supports(_ g: ConvolutionGeometry) -> Bool {
        g.kernel == 3 && g.stride == 2 && g.padding == 1
    }

    /// Where the phase planes of `samples` samples, laid end to end, lie in a scratch.
    ///
    /// Per input channel, four phase arrays (`phase(py, px)`) of `phaseStride` floats; in each, a
    /// sample takes `(outH + 1)` rows of `rowStride = outW + 1` floats (the phase planes' extent),
    /// and zeros follow the last sample, enough for every read of the tiles and dot products.
    struct PhaseLayout {
        /// Floats per row: `outW + 1`.
        var rowStride: Int
        /// Floats per sample: `(outH + 1)` rows.
        var sampleStride: Int
        /// Floats holding samples: `samples · sampleStride`.
        var used: Int
        /// Floats per phase array: `used`, then zeros for reads up to `rowStride + 1` past any
        /// element and a vector's overrun, rounded up to 16 (so every array starts 64-byte
        /// aligned).
        var phaseStride: Int

        init(_ g: ConvolutionGeometry, samples: Int) {
            rowStride = g.outWidth + 1
            sampleStride = (g.outHeight + 1) * rowStride
            used = samples * sampleStride
            phaseStride = (used + rowStride + 32 + 15) / 16 * 16
        }

        /// Floats per input channel: its four phase arrays.
        var channelStride: Int { 4 * phaseStride }

        /// Where phase `(py, px)` starts in a channel's arrays.
        func phase(_ py: Int, _ px: Int) -> Int { (2 * py + px) * phaseStride }

        /// The nine taps of the stride-2 kernel in the phase planes.
        var taps: TapOffsets {
            TapOffsets { ky, kx in phase(ky & 1, kx & 1) + (ky >> 1) * rowStride + (kx >> 1) }
        }
    }

    /// Writes the activated input channels of `samples` (across all segments) as phase planes at
    /// `planes` (`inChannels · layout.channelStride` floats): channel `c`'s phase `(py, px)` of the
    /// `k`-th sample at `c · channelStride + phase(py, px) + k · sampleStride`, zeros everywhere
    /// else. `row` is `inWidth` floats of scratch for the activated row.
    static func fillPhases(samples: Range<Int>, input: [TensorView], geometry g: ConvolutionGeometry,
                           activation: InputActivation?, layout l: PhaseLayout,
                           planes: UnsafeMutablePointer<Float>, row: UnsafeMutablePointer<Float>) {
        let inW = g.inWidth, r = l.rowStride
        var channel = 0
        for segment in input {
            for c in 0..<segment.shape.channels {
                let base = planes + channel * l.channelStride
                DirectConvolution.zero(base, count: l.channelStride)
                for (k, n) in samples.enumerated() {
                    let src = UnsafePointer(segment.plane(n, c)), sample = base + k * l.sampleStride
                    for iy in 0..<g.inHeight {
                        var from = src + iy * inW
                        if let activation {
                            activation.apply(channel: channel, from: from, to: row, count: inW)
                            from = UnsafePointer(row)
                        }
                        // Input pixel (iy, ix) is padded (iy + 1, ix + 1): phase ((iy + 1) mod 2,
                        // (ix + 1) mod 2) at ((iy + 1) / 2, (ix + 1) / 2). Even columns go to
                        // phase column 1 at ix / 2, odd ones to phase column 0 at ix / 2 + 1.
                        let rowOffset = ((iy + 1) >> 1) * r, py = (iy + 1) & 1
                        let evenColumns = sample + l.phase(py, 1) + rowOffset
                        let oddColumns = sample + l.phase(py, 0) + rowOffset + 1
                        var ix = 0
                        while ix + 1 < inW {
                            evenColumns[ix >> 1] = from[ix]
                            oddColumns[ix >> 1] = from[ix + 1]
                            ix += 2
                        }
                        if ix < inW { evenColumns[ix >> 1] = from[ix] }
                    }
                }
                channel += 1
            }
        }
        precondition(channel == g.inChannels, "input segments do not add up to the geometry's channels")
    }

    // MARK: Forward

    /// Floats of scratch `packWeights` and `forward` need: the phase planes of one sample, the
    /// packed weights of any kernel set, and one activated row.
    static func scratchCount(_ g: ConvolutionGeometry) -> Int {
        planesCount(g) + DirectConvolution.packedWeightCount(g) + g.inWidth
    }

    /// Floats of one sample's phase planes, at the start of the forward scratch.
    static func planesCount(_ g: ConvolutionGeometry) -> Int {
        g.inChannels * PhaseLayout(g, samples: 1).channelStride
    }

    /// Packs `weight` (`[out][in][3][3]`) after the phase planes in `scratch` as the tiles read it
    /// (`DirectConvolution.packBlocks`). Call once per weight update and scratch, before `forward`
    /// with the same `kernels`.
    static func packWeights(_ weight: UnsafePointer<Float>, geometry g: ConvolutionGeometry,
                            scratch: UnsafeMutablePointer<Float>, kernels: KernelSet = .selected) {
        DirectConvolution.packBlocks(weight, geometry: g, into: scratch + planesCount(g), kernels: kernels)
    }

    /// Computes `out[n] = conv3x3/2(act(x[n])) (+ bias)` for sample `n` from the weights
    /// `packWeights` left in `scratch` (at least `scratchCount(g)` floats; the planes before the
    /// weights and the row after them are overwritten).
    static func forward(sample n: Int, input: [TensorView], geometry g: ConvolutionGeometry,
                        activation: InputActivation?, bias: UnsafePointer<Float>?, output: TensorView,
                        scratch: UnsafeMutablePointer<Float>, kernels: KernelSet = .selected) {
        precondition(supports(g), "the strided kernel needs a 3×3 kernel, stride 2, padding 1")
        let l = PhaseLayout(g, samples: 1)
        let weights = UnsafePointer(scratch + planesCount(g))
        let row = scratch + planesCount(g) + DirectConvolution.packedWeightCount(g)
        fillPhases(samples: n..<n + 1, input: input, geometry: g, activation: activation, layout: l,
                   planes: scratch, row: row)
        l.taps.withPointer { taps in
            kernels.convolveTaps(planes: scratch, channelStride: l.channelStride, rowStride: l.rowStride, taps: taps,
                                 tapCount: 9, inChannels: g.inChannels, outChannels: g.outChannels,
                                 outHeight: g.outHeight, outWidth: g.outWidth, weights: weights, bias: bias,
                                 output: output.sample(n), accumulate: false)
        }
    }

    // MARK: Input gradient

    /// The taps of one kernel axis that reach an input row (or column) of parity `s`: kernel index
    /// `k` and the output offset `d` (input `2a + s` takes output `a + d`).
    static func axisTaps(_ s: Int) -> [(k: Int, d: Int)] {
        s == 0 ? [(1, 0)] : [(0, 1), (2, 0)]
    }

    /// One phase `(sy, sx)` of `dX` (input rows `2a + sy`, columns `2b + sx`) and its sub-kernel:
    /// the taps, as kernel positions `(ky, kx)` and output offsets `(dy, dx)`.
    struct Phase {
        var sy: Int, sx: Int
        var taps: [(ky: Int, kx: Int, dy: Int, dx: Int)]
    }

    /// The four phases of `dX`, in the order their weights are packed (built once, so no call
    /// allocates).
    static let phases: [Phase] = [(0, 0), (0, 1), (1, 0), (1, 1)].map { sy, sx in
        Phase(sy: sy, sx: sx, taps: axisTaps(sy).flatMap { row in
            axisTaps(sx).map { column in (row.k, column.k, row.d, column.d) }
        })
    }

    /// Floats per output-gradient channel in the input gradient's scratch: `outH + 1` rows of
    /// `outW + 1` (zeros after each row and in the last row), then zeros for the tiles' overrun.
    static func gradientPlaneStride(_ g: ConvolutionGeometry) -> Int {
        PhaseLayout(g, samples: 1).phaseStride
    }

    /// An upper bound of the input gradient's scratch over all splits of the input channels into
    /// `segmentCount` segments and kernel sets: the `dY` planes, the packed weights (each segment
    /// rounded up to its block by at most `blockSlack` channels) and one segment's dense phase
    /// output (at most `inChannels × outH × outW`).
    static func inputGradientScratchBound(_ g: ConvolutionGeometry, segmentCount: Int) -> Int {
        g.outChannels * gradientPlaneStride(g) + (g.inChannels + segmentCount * DirectConvolution.blockSlack) * 9 * g.outChannels
            + g.inChannels * g.outPlane
    }

    /// Packs `weight` after the `dY` planes in `scratch`: per gradient segment (`segments`
    /// channel counts summing to `g.inChannels`) and per phase, `[in / B][out][tap][B]` for the
    /// phase's taps (B as `kernels` picks it for the segment). Call once per weight update and
    /// scratch, before `inputGradient` with the same `kernels` and segments.
    static func packTransposedWeights(_ weight: UnsafePointer<Float>, geometry g: ConvolutionGeometry,
                                      segments: [Int], scratch: UnsafeMutablePointer<Float>,
                                      kernels: KernelSet = .selected) {
        let cout = g.outChannels, cin = g.inChannels
        var to = scratch + cout * gradientPlaneStride(g), first = 0
        for channels in segments {
            let b = kernels.channelBlock(outputChannels: channels)
            for phase in phases {
                let taps = phase.taps
                for block in 0..<(channels + b - 1) / b {
                    for j in 0..<b {
                        let ci = first + min(block * b + j, channels - 1)
                        for co in 0..<cout {
                            for (t, tap) in taps.enumerated() {
                                to[(co * taps.count + t) * b + j] = weight[(co * cin + ci) * 9 + tap.ky * 3 + tap.kx]
                            }
                        }
                    }
                    to += b * cout * taps.count
                }
            }
            first += channels
        }
        precondition(first == cin, "gradient segments do not add up to the geometry's input channels")
    }

    /// Computes (`accumulate` false) or adds (true) sample `n`'s input gradient into the
    /// `inputGradient` segments, from `outputGradient` and the weights `packTransposedWeights`
    /// left in `scratch` (for the same segment channel counts); the `dY` planes before them and
    /// the phase output after them are overwritten.
    static func inputGradient(sample n: Int, outputGradient: TensorView, geometry g: ConvolutionGeometry,
                              inputGradient: [TensorView], accumulate: Bool, scratch: UnsafeMutablePointer<Float>,
                              kernels: KernelSet = .selected) {
        precondition(supports(g), "the strided kernel needs a 3×3 kernel, stride 2, padding 1")
        let outW = g.outWidth, inH = g.inHeight, inW = g.inWidth, cout = g.outChannels
        let r = outW + 1, planeStride = gradientPlaneStride(g)
        // 1. dY, each channel in rows of outW + 1 with zeros after each row and below the last.
        for co in 0..<cout {
            let to = scratch + co * planeStride
            DirectConvolution.zero(to, count: planeStride)
            copyRows(UnsafePointer(outputGradient.plane(n, co)), g, to: to)
        }
        // 2. Per segment and phase: the phase's correlation into a dense plane, then interleaved.
        var weights = UnsafePointer(scratch + cout * planeStride)
        // After every segment's weights (9 taps over the four phases), as `packTransposedWeights` wrote them.
        let weightCount = inputGradient.reduce(0) { $0 + DirectConvolution.paddedChannels($1.shape.channels, kernels) }
            * 9 * cout
        let phaseOutput = scratch + cout * planeStride + weightCount
        for target in inputGradient {
            let channels = target.shape.channels
            let padded = DirectConvolution.paddedChannels(channels, kernels)
            for phase in phases {
                let taps = phase.taps, sy = phase.sy, sx = phase.sx
                let rows = (inH - sy + 1) / 2, columns = (inW - sx + 1) / 2
                if rows > 0 && columns > 0 {
                    TapOffsets(count: taps.count) { t in taps[t].dy * r + taps[t].dx }.withPointer { offsets in
                        kernels.convolveTaps(planes: scratch, channelStride: planeStride, rowStride: r, taps: offsets,
                                             tapCount: taps.count, inChannels: cout, outChannels: channels,
                                             outHeight: rows, outWidth: columns, weights: weights, bias: nil,
                                             output: phaseOutput, accumulate: false)
                    }
                    for c in 0..<channels {
                        let dx = target.plane(n, c), from = phaseOutput + c * rows * columns
                        for a in 0..<rows {
                            let to = dx + (2 * a + sy) * inW + sx, source = from + a * columns
                            if accumulate {
                                for b in 0..<columns { to[2 * b] += source[b] }
                            } else {
                                for b in 0..<columns { to[2 * b] = source[b] }
                            }
                        }
                    }
                }
                weights += padded * cout * taps.count
            }
        }
    }

    /// Copies one dense `outH × outW` output-gradient plane into rows of `outW + 1` floats at `to`
    /// (the phase planes' row stride); the column after each row is left as it is (zero).
    static func copyRows(_ from: UnsafePointer<Float>, _ g: ConvolutionGeometry, to: UnsafeMutablePointer<Float>) {
        let outW = g.outWidth, r = outW + 1
        for y in 0..<g.outHeight { (to + y * r).update(from: from + y * outW, count: outW) }
    }

    /// Floats of each of a worker's two panels for geometry `g` with `segmentCount` gradient
    /// segments, with any kernel set: the largest of the forward's, the input gradient's and the
    /// weight gradient's (at `preferredWeightGradientSamples`) scratch.
    static func workspaceElements(_ g: ConvolutionGeometry, segmentCount: Int) -> Int {
        max(scratchCount(g), inputGradientScratchBound(g, segmentCount: max(1, segmentCount)),
            weightGradientScratchCount(g, samples: preferredWeightGradientSamples(g)))
    }
}
