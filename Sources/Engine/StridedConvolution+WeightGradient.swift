extension StridedConvolution {
    // MARK: Weight gradient

    /// How many samples one `weightGradient` call should take: enough for about 1300 floats per
    /// phase array (4 at a 16×16 output, 16 at 8×8), as `DirectConvolution` sizes its groups.
    static func preferredWeightGradientSamples(_ g: ConvolutionGeometry) -> Int {
        max(1, min(16, 1300 / ((g.outHeight + 1) * (g.outWidth + 1))))
    }

    /// Floats per output-gradient channel for `samples` samples: the phase layout's `used`,
    /// rounded up to the widest kernel set's vector.
    static func weightGradientStride(_ l: PhaseLayout) -> Int {
        let lanes = DirectConvolution.WeightGradientLayout.widestLanes
        return (l.used + lanes - 1) / lanes * lanes
    }

    /// Floats of scratch `weightGradient` needs for `samples` samples per call (any kernel set):
    /// the phase planes, the output-gradient rows and one activated row.
    static func weightGradientScratchCount(_ g: ConvolutionGeometry, samples: Int) -> Int {
        let l = PhaseLayout(g, samples: samples)
        return g.inChannels * l.channelStride + g.outChannels * weightGradientStride(l) + g.inWidth
    }

    /// Computes (`accumulate` false) or adds (true) the weight gradient of `samples`,
    /// `dW[co][ci][ky][kx] = Σ_n Σ_{oy,ox} dy[n][co][oy][ox] · act(x[n])[ci][2oy + ky − 1][2ox + kx − 1]`,
    /// and, when `biasGradient` is given, `db[co] = Σ dy[n][co]`.
    ///
    /// - Parameters:
    ///   - scratch: at least `weightGradientScratchCount(g, samples: samples.count)` floats; overwritten.
    static func weightGradient(samples: Range<Int>, input: [TensorView], geometry g: ConvolutionGeometry,
                               activation: InputActivation?, outputGradient: TensorView,
                               weightGradient: UnsafeMutablePointer<Float>, biasGradient: UnsafeMutablePointer<Float>?,
                               accumulate: Bool, scratch: UnsafeMutablePointer<Float>, kernels: KernelSet = .selected) {
        precondition(supports(g), "the strided kernel needs a 3×3 kernel, stride 2, padding 1")
        precondition(!samples.isEmpty, "the strided weight gradient needs at least one sample")
        let l = PhaseLayout(g, samples: samples.count)
        let gradients = scratch + g.inChannels * l.channelStride, gradientStride = weightGradientStride(l)
        fillPhases(samples: samples, input: input, geometry: g, activation: activation, layout: l, planes: scratch,
                   row: gradients + g.outChannels * gradientStride)
        // The output gradient in the phase planes' rows: zeros after each row, in each sample's
        // last row and up to the stride; the bias gradient is their sum.
        for co in 0..<g.outChannels {
            let to = gradients + co * gradientStride
            DirectConvolution.zero(to, count: gradientStride)
            for (k, n) in samples.enumerated() {
                copyRows(UnsafePointer(outputGradient.plane(n, co)), g, to: to + k * l.sampleStride)
            }
            if let biasGradient {
                let s = DirectConvolution.sum(UnsafePointer(to), count: gradientStride)
                biasGradient[co] = accumulate ? biasGradient[co] + s : s
            }
        }
        let lanes = kernels.weightGradientLanes
        l.taps.withPointer { taps in
            kernels.weightGradient3x3(inputs: scratch, inputStride: l.channelStride, inChannels: g.inChannels,
                                      outputGradient: gradients, outputGradientStride: gradientStride,
                                      outChannels: g.outChannels, taps: taps,
                                      length: (l.used + lanes - 1) / lanes * lanes,
                                      weightGradient: weightGradient, accumulate: accumulate)
        }
    }
}
