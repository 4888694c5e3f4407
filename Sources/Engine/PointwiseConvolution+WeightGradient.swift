extension PointwiseConvolution: SampleGroupedWeightGradient {
    /// Where the weight gradient's operands lie in its scratch for `samples` samples of geometry
    /// `g`: per input channel the activated planes of the samples end to end, then per output
    /// channel their output-gradient planes, each row of channels `length` floats apart (the
    /// samples' pixels rounded up to the widest kernel set's vector, zeros after them).
    struct WeightGradientLayout {
        /// Floats holding samples: `samples · H·W`.
        var used: Int
        /// Floats per channel: `used` rounded up to 16 (every kernel set's lanes divide it).
        var length: Int

        init(_ g: ConvolutionGeometry, samples: Int) {
            used = samples * g.inPlane
            length = (used + 15) / 16 * 16
        }

        /// Floats of scratch: the input channels, then the output-gradient channels.
        func scratchCount(_ g: ConvolutionGeometry) -> Int { (g.inChannels + g.outChannels) * length }
    }

    /// Floats of scratch that `weightGradient(samples:…)` needs for geometry `g` and `samples`
    /// samples per call.
    public static func weightGradientScratchCount(_ g: ConvolutionGeometry, samples: Int = 1) -> Int {
        WeightGradientLayout(g, samples: samples).scratchCount(g)
    }

    /// How many samples one `weightGradient(samples:…)` call should take for geometry `g`: enough
    /// for at least 1,024 pixels per channel (1 at 32×32, 4 at 16×16, 16 at 8×8), so that the
    /// horizontal sums at the end of each dot product are a small share of it.
    public static func preferredWeightGradientSamples(_ g: ConvolutionGeometry) -> Int {
        max(1, min(16, 1024 / max(1, g.inPlane)))
    }

    /// Computes (`accumulate` false) or adds (true) the weight gradient `dW[co][ci] = Σ_n Σ_p
    /// dY[n][co][p] · act(x[n])[ci][p]` of `samples` and, when `biasGradient` is given, the bias
    /// gradient `db[co] = Σ dY[n][co]`: what `Convolution.backward` computes with `sgemm`, as the
    /// engine's own channel products (`ChannelProducts`), independent of OpenBLAS's kernels.
    ///
    /// - Parameters:
    ///   - input: the convolution's input segments; `activation` is applied as in `forward`.
    ///   - scratch: at least `weightGradientScratchCount(g, samples: samples.count)` floats.
    public static func weightGradient(
        samples: Range<Int>, input: [TensorView], geometry g: ConvolutionGeometry, activation: InputActivation?,
        outputGradient: TensorView, weightGradient: UnsafeMutablePointer<Float>,
        biasGradient: UnsafeMutablePointer<Float>?, accumulate: Bool, scratch: UnsafeMutablePointer<Float>,
        kernels: KernelSet = .selected
    ) {
        precondition(supports(g), "the pointwise weight gradient needs a 1×1 kernel, stride 1, no padding")
        precondition(!samples.isEmpty, "the pointwise weight gradient needs at least one sample")
        let l = WeightGradientLayout(g, samples: samples.count), plane = g.inPlane
        // 1. Every input channel of every sample, activated, end to end; zeros up to `length`.
        var channel = 0
        for segment in input {
            for c in 0..<segment.shape.channels {
                let row = scratch + channel * l.length
                for (k, n) in samples.enumerated() {
                    let from = UnsafePointer(segment.plane(n, c)), to = row + k * plane
                    if let activation {
                        activation.apply(channel: channel, from: from, to: to, count: plane)
                    } else {
                        to.update(from: from, count: plane)
                    }
                }
                (row + l.used).update(repeating: 0, count: l.length - l.used)
                channel += 1
            }
        }
        precondition(channel == g.inChannels, "input segments do not add up to the geometry's channels")
        // 2. The output gradient's planes the same way; the bias gradient is their sum.
        let gradients = scratch + g.inChannels * l.length
        for co in 0..<g.outChannels {
            let row = gradients + co * l.length
            for (k, n) in samples.enumerated() {
                (row + k * plane).update(from: UnsafePointer(outputGradient.plane(n, co)), count: plane)
            }
            (row + l.used).update(repeating: 0, count: l.length - l.used)
            if let biasGradient {
                let s = DirectConvolution.sum(UnsafePointer(row), count: l.used)
                biasGradient[co] = accumulate ? biasGradient[co] + s : s
            }
        }
        // 3. The dot products.
        kernels.channelProducts(gradient: gradients, gradientStride: l.length, outChannels: g.outChannels,
                                input: scratch, inputStride: l.length, inChannels: g.inChannels, length: l.length,
                                into: weightGradient, accumulate: accumulate)
    }
}
