extension DirectConvolution {
    /// Where the weight gradient's operands lie in its scratch, for `samples` samples of geometry
    /// `g` and a kernel set whose vectors hold `lanes` floats.
    ///
    /// Both operands use the row stride `W + 1`: the single zero column between rows is the right
    /// border of one row and the left border of the next, so the flattened loops do only `1/W`
    /// extra work (the forward planes' stride, `W` rounded up to 8 or 16, plus 2, is 10 at 8×8
    /// and 50 at width 33).
    /// A sample takes `H + 1` rows: the input's zero top row then its `H` rows, and the output
    /// gradient's `H` rows then a zero row; the samples follow one another, so that a tap below a
    /// sample's last row reads the next sample's zero top row (or the zero tail after the last).
    struct WeightGradientLayout {
        /// Floats per row of both operands: `W + 1`.
        var rowStride: Int
        /// Floats per sample: `(H + 1)` rows.
        var sampleStride: Int
        /// Floats holding samples: `samples · sampleStride`.
        var used: Int
        /// The flattened length the kernel runs over: `used` rounded up to `lanes`.
        var length: Int
        /// Floats per output-gradient channel: `used` rounded up to the widest set's lanes.
        var gradientStride: Int
        /// Floats per input channel: what the kernel reads (`length + 2·rowStride + 2`), rounded up
        /// to the widest set's lanes (so every channel starts 64-byte aligned).
        var inputStride: Int

        /// The widest kernel set's vector, so one scratch size serves every set.
        static let widestLanes = KernelSet.allCases.map(\.weightGradientLanes).max()!

        init(_ g: ConvolutionGeometry, samples: Int, lanes: Int) {
            func roundUp(_ n: Int, _ m: Int) -> Int { (n + m - 1) / m * m }
            rowStride = g.inWidth + 1
            sampleStride = (g.inHeight + 1) * rowStride
            used = samples * sampleStride
            length = roundUp(used, lanes)
            gradientStride = roundUp(used, Self.widestLanes)
            inputStride = roundUp(gradientStride + 2 * rowStride + 2, Self.widestLanes)
        }

        /// Floats of scratch: the input planes, then the output gradient (as rows, or as blocks of
        /// the widest set's lanes, the channels rounded up to a whole block).
        func scratchCount(_ g: ConvolutionGeometry) -> Int {
            g.inChannels * inputStride + (g.outChannels + Self.widestLanes - 1) / Self.widestLanes * Self.widestLanes * gradientStride
        }
    }

    /// Floats of scratch that `weightGradient` needs for geometry `g` and `samples` samples per
    /// call (any kernel set).
    public static func weightGradientScratchCount(_ g: ConvolutionGeometry, samples: Int = 1) -> Int {
        WeightGradientLayout(g, samples: samples, lanes: WeightGradientLayout.widestLanes).scratchCount(g)
    }

    /// How many samples one `weightGradient(samples:…)` call should take for geometry `g`: enough
    /// for about 1300 floats per channel (1 at 32×32, 4 at 16×16, 16 at 8×8). Measured on AMD
    /// EPYC Zen 4 (2 cores, both kernel sets): at 8×8 one sample per call ran 26–47 GF/s and 16 ran
    /// 66–82, at 16×16 one ran 55–78 and 4 ran 79–91 GF/s; more than one 32×32 sample per
    /// call gained little and 16 lost (the planes left L2).
    public static func preferredWeightGradientSamples(_ g: ConvolutionGeometry) -> Int {
        max(1, min(16, 1300 / ((g.inHeight + 1) * (g.inWidth + 1))))
    }

    /// Computes (`accumulate` false) or adds (true) sample `n`'s weight gradient
    /// `dW[co][ci][ky][kx] = Σ_{y,x} dy[n][co][y][x] · act(x[n])[ci][y + ky − 1][x + kx − 1]` and,
    /// when `biasGradient` is given, its bias gradient `db[co] = Σ dy[n][co]`: what
    /// `Convolution.backward` computes with im2col and `sgemm`, without the im2col matrix.
    ///
    /// - Parameters:
    ///   - input: the convolution's input segments; `activation` is applied as in `forward`.
    ///   - outputGradient: `dy`, `Cout × H × W` per sample.
    ///   - weightGradient: `[out][in][3][3]`.
    ///   - scratch: at least `weightGradientScratchCount(g)` floats; overwritten.
    ///   - kernels: the instruction set of the inner loops (tests force each one).
    public static func weightGradient(
        sample n: Int, input: [TensorView], geometry g: ConvolutionGeometry, activation: InputActivation?,
        outputGradient: TensorView, weightGradient: UnsafeMutablePointer<Float>,
        biasGradient: UnsafeMutablePointer<Float>?, accumulate: Bool, scratch: UnsafeMutablePointer<Float>,
        kernels: KernelSet = .selected
    ) {
        self.weightGradient(samples: n..<n + 1, input: input, geometry: g, activation: activation,
                            outputGradient: outputGradient, weightGradient: weightGradient,
                            biasGradient: biasGradient, accumulate: accumulate, scratch: scratch, kernels: kernels)
    }

    /// As `weightGradient(sample:…)`, summed over `samples` in one pass: the samples are laid end
    /// to end in the scratch, so the per-weight horizontal sums, and the loop overheads, are paid
    /// once for all of them (they are a large share of the work at 8×8).
    ///
    /// - Parameters:
    ///   - scratch: at least `weightGradientScratchCount(g, samples: samples.count)` floats.
    public static func weightGradient(
        samples: Range<Int>, input: [TensorView], geometry g: ConvolutionGeometry, activation: InputActivation?,
        outputGradient: TensorView, weightGradient: UnsafeMutablePointer<Float>,
        biasGradient: UnsafeMutablePointer<Float>?, accumulate: Bool, scratch: UnsafeMutablePointer<Float>,
        kernels: KernelSet = .selected
    ) {
        self.weightGradient(samples: samples, input: input, geometry: g, activation: activation,
                            outputGradient: outputGradient, weightGradient: weightGradient,
                            biasGradient: biasGradient, accumulate: accumulate, scratch: scratch, kernels: kernels,
                            broadcast: nil)
    }

    /// As `weightGradient(samples:…)`, with the dot products (`broadcast` false) or the outer
    /// products (true) forced; nil follows `usesBroadcastWeightGradient` (tests force each).
    static func weightGradient(
        samples: Range<Int>, input: [TensorView], geometry g: ConvolutionGeometry, activation: InputActivation?,
        outputGradient: TensorView, weightGradient: UnsafeMutablePointer<Float>,
        biasGradient: UnsafeMutablePointer<Float>?, accumulate: Bool, scratch: UnsafeMutablePointer<Float>,
        kernels: KernelSet, broadcast: Bool?
    ) {
        precondition(supports(g), "the direct weight gradient needs a 3×3 kernel, stride 1, padding 1")
        precondition(!samples.isEmpty, "the direct weight gradient needs at least one sample")
        let l = WeightGradientLayout(g, samples: samples.count, lanes: kernels.weightGradientLanes)
        let inW = g.inWidth, inH = g.inHeight, r = l.rowStride
        // 1. Every input channel of every sample, activated, into its zero-bordered rows. Each
        //    `pad` also writes two zero rows below its sample, which the next sample's `pad`
        //    overwrites (so the samples go in order) and which start the tail after the last.
        var channel = 0
        for segment in input {
            for c in 0..<segment.shape.channels {
                let plane = scratch + channel * l.inputStride
                for (k, n) in samples.enumerated() {
                    pad(plane: plane + k * l.sampleStride, from: UnsafePointer(segment.plane(n, c)),
                        width: inW, height: inH, paddedWidth: r, activation: activation, channel: channel)
                }
                let written = l.used + 2 * r
                (plane + written).update(repeating: 0, count: l.inputStride - written)
                channel += 1
            }
        }
        precondition(channel == g.inChannels, "input segments do not add up to the geometry's channels")
        let gradients = scratch + g.inChannels * l.inputStride
        if broadcast ?? usesBroadcastWeightGradient(g, kernels: kernels) {
            // 2. The output gradient pixel-major in blocks of `lanes` channels, zeros at the
            //    border pixels and in the channels past the last; the bias gradient is its sum.
            let lanes = kernels.broadcastGradientLanes, blockStride = l.gradientStride * lanes
            for block in 0..<(g.outChannels + lanes - 1) / lanes {
                let to = gradients + block * blockStride, first = block * lanes
                let channels = min(lanes, g.outChannels - first)
                // Channels past the last stay zero (only the last block has them).
                if channels < lanes { to.update(repeating: 0, count: blockStride) }
                for (k, n) in samples.enumerated() {
                    let sample = to + k * l.sampleStride * lanes
                    // Row by row, so that the `inW · lanes` floats being filled stay in L1 while
                    // the block's channels are written into them.
                    for y in 0..<inH {
                        let row = sample + y * r * lanes
                        for j in 0..<channels {
                            let from = UnsafePointer(outputGradient.plane(n, first + j)) + y * inW
                            // Wrapping: an index inside one row of the scratch cannot overflow,
                            // and the checks would sit in this innermost copy loop.
                            for x in 0..<inW { row[x &* lanes &+ j] = from[x] }
                        }
                        (row + inW * lanes).update(repeating: 0, count: lanes)
                    }
                    (sample + inH * r * lanes).update(repeating: 0, count: r * lanes)
                }
            }
            if let biasGradient {
                for co in 0..<g.outChannels {
                    var s: Float = 0
                    for n in samples { s += sum(UnsafePointer(outputGradient.plane(n, co)), count: inH * inW) }
                    biasGradient[co] = accumulate ? biasGradient[co] + s : s
                }
            }
            // 3. The outer products.
            TapOffsets(rowStride: r).withPointer { taps in
                kernels.broadcastWeightGradient3x3(
                    inputs: scratch, inputStride: l.inputStride, inChannels: g.inChannels, gradients: gradients,
                    blockStride: blockStride, outChannels: g.outChannels, taps: taps, length: l.used,
                    weightGradient: weightGradient, accumulate: accumulate)
            }
            return
        }
        // 2. The output gradient's rows, with a zero after each row, a zero row after each sample
        //    and zeros up to the stride; the bias gradient is their sum.
        for co in 0..<g.outChannels {
            let to = gradients + co * l.gradientStride
            for (k, n) in samples.enumerated() {
                let from = UnsafePointer(outputGradient.plane(n, co)), block = to + k * l.sampleStride
                for y in 0..<inH {
                    (block + y * r).update(from: from + y * inW, count: inW)
                    block[y * r + inW] = 0
                }
                (block + inH * r).update(repeating: 0, count: r)
            }
            (to + l.used).update(repeating: 0, count: l.gradientStride - l.used)
            if let biasGradient {
                let s = sum(UnsafePointer(to), count: l.gradientStride)
                biasGradient[co] = accumulate ? biasGradient[co] + s : s
            }
        }
        // 3. The dot products.
        TapOffsets(rowStride: r).withPointer { taps in
            kernels.weightGradient3x3(inputs: scratch, inputStride: l.inputStride, inChannels: g.inChannels,
                                      outputGradient: gradients, outputGradientStride: l.gradientStride,
                                      outChannels: g.outChannels, taps: taps, length: l.length,
                                      weightGradient: weightGradient, accumulate: accumulate)
        }
    }

    /// Whether the weight gradient of `g` runs `BroadcastWeightGradient` (output channels in the
    /// vector lanes) rather than `ThreeByThreeWeightGradient` (pixels in the lanes).
    ///
    /// Measured with `perf record -e cycles:u` on `bench --threads 1` (2-vCPU Intel Xeon, family 6
    /// model 207, another job running, so cycle shares rather than times; Docs/benchmarks.md): with
    /// AVX-512 on resnet-20 (16, 32 and 64 output channels) the weight gradient took 24 % fewer
    /// cycles and the whole step 7 % fewer; on densenet-40-12 (12 channels, a block padded to 16)
    /// it tied and on sparsenet-40-24 (24 channels, padded to 32) it took 7 % more; with AVX2 it
    /// tied on resnet-20 and took 8 % more on sparsenet-40-24 (no broadcast FMA operand, 16
    /// registers). So: AVX-512 and whole blocks only.
    static func usesBroadcastWeightGradient(_ g: ConvolutionGeometry, kernels: KernelSet) -> Bool {
        kernels == .avx512 && g.outChannels % kernels.broadcastGradientLanes == 0
    }

    /// The sum of `count` floats: 8 partial sums, added, then the tail below a multiple of 8.
    static func sum(_ p: UnsafePointer<Float>, count: Int) -> Float {
        var s = Float8()
        var i = 0
        while i + 8 <= count { s += p.load8(i); i += 8 }
        var total = s.lowHalf.sum() + s.highHalf.sum()
        while i < count { total += p[i]; i += 1 }
        return total
    }
}
