/// A 3×3 weight-gradient kernel that sums over several samples in one call (the direct,
/// strided and Winograd kernels): the per-weight horizontal sums and loop overheads are paid
/// once a group, and the group is sized so that its scratch stays in L2.
protocol SampleGroupedWeightGradient {
    /// How many samples one `weightGradient(samples:…)` call should take for geometry `g`.
    static func preferredWeightGradientSamples(_ g: ConvolutionGeometry) -> Int

    /// Computes (`accumulate` false) or adds the weight gradient, and the bias gradient when
    /// `biasGradient` is given, summed over `samples`.
    static func weightGradient(samples: Range<Int>, input: [TensorView], geometry g: ConvolutionGeometry,
                               activation: InputActivation?, outputGradient: TensorView,
                               weightGradient: UnsafeMutablePointer<Float>, biasGradient: UnsafeMutablePointer<Float>?,
                               accumulate: Bool, scratch: UnsafeMutablePointer<Float>, kernels: KernelSet)
}

extension SampleGroupedWeightGradient {
    /// `weightGradient(samples:…)` over consecutive groups of at most
    /// `preferredWeightGradientSamples(g)` of `samples`: the first group with `accumulate` as
    /// given, the others adding to it.
    static func weightGradientInGroups(
        samples: Range<Int>, input: [TensorView], geometry g: ConvolutionGeometry, activation: InputActivation?,
        outputGradient: TensorView, weightGradient: UnsafeMutablePointer<Float>,
        biasGradient: UnsafeMutablePointer<Float>?, accumulate: Bool, scratch: UnsafeMutablePointer<Float>,
        kernels: KernelSet
    ) {
        let size = preferredWeightGradientSamples(g)
        var first = samples.lowerBound
        while first < samples.upperBound {
            let last = min(first + size, samples.upperBound)
            self.weightGradient(samples: first..<last, input: input, geometry: g, activation: activation,
                                outputGradient: outputGradient, weightGradient: weightGradient,
                                biasGradient: biasGradient, accumulate: accumulate || first != samples.lowerBound,
                                scratch: scratch, kernels: kernels)
            first = last
        }
    }
}

extension DirectConvolution: SampleGroupedWeightGradient {}
extension StridedConvolution: SampleGroupedWeightGradient {}
extension WinogradConvolution: SampleGroupedWeightGradient {}
