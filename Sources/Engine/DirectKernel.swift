/// The engine's own convolution kernels for one layer geometry: for 3×3, stride 1, padding 1,
/// `DirectConvolution` or, per direction, `WinogradConvolution`; for 3×3, stride 2, padding 1,
/// `StridedConvolution`; for 1×1, stride 1,
/// `PointwiseConvolution`. Other geometries have none and run im2col + `sgemm`. One switch here
/// keeps `ConvolutionLayer` free of per-kernel branches.
enum DirectKernel {
    case threeByThree(winogradForward: Bool, winogradInputGradient: Bool, winogradWeightGradient: Bool)
    case stridedThreeByThree
    case pointwise

    /// The kernels for geometry `g` (Winograd in the directions asked for), or nil.
    init?(_ g: ConvolutionGeometry, winogradForward: Bool = false, winogradInputGradient: Bool = false,
          winogradWeightGradient: Bool = false) {
        if DirectConvolution.supports(g) {
            self = .threeByThree(winogradForward: winogradForward, winogradInputGradient: winogradInputGradient,
                                 winogradWeightGradient: winogradWeightGradient)
        } else if StridedConvolution.supports(g) {
            self = .stridedThreeByThree
        } else if PointwiseConvolution.supports(g) {
            self = .pointwise
        } else {
            return nil
        }
    }

    /// Floats of each of a worker's two panels for geometry `g` with `segmentCount` gradient
    /// segments, with any kernel set: the forward pass and the weight gradient use the first
    /// panel, the input gradient the second. (The direct and Winograd forward and input-gradient
    /// scratch are both counted; the Winograd weight gradient's only where `self` runs it.)
    func workspaceElements(_ g: ConvolutionGeometry, segmentCount: Int) -> Int {
        switch self {
        case let .threeByThree(_, _, winogradWeightGradient):
            max(DirectConvolution.workspaceElements(g, segmentCount: segmentCount),
                DirectConvolution.weightGradientScratchCount(g, samples: DirectConvolution.preferredWeightGradientSamples(g)),
                winogradWeightGradient
                    ? WinogradConvolution.weightGradientScratchCount(g, samples: WinogradConvolution.preferredWeightGradientSamples(g))
                    : 0)
        case .stridedThreeByThree:
            StridedConvolution.workspaceElements(g, segmentCount: segmentCount)
        case .pointwise:
            // The weight gradient's `sgemm` reads the activated input from an im2col panel.
            max(PointwiseConvolution.workspaceElements(g, segmentCount: segmentCount), g.patchSize * g.outPlane)
        }
    }

    /// `workspaceElements` of the kernels `DirectKernel(g)` picks (no Winograd weight gradient),
    /// or 0 for geometries without own kernels.
    static func workspaceElements(_ g: ConvolutionGeometry, segmentCount: Int) -> Int {
        DirectKernel(g)?.workspaceElements(g, segmentCount: segmentCount) ?? 0
    }

    /// Packs the forward weights into `scratch` (once per layer call and worker).
    func packWeights(_ weight: UnsafePointer<Float>, geometry g: ConvolutionGeometry, scratch: UnsafeMutablePointer<Float>,
                     kernels: KernelSet = .selected) {
        switch self {
        case .threeByThree(winogradForward: true, _, _):
            WinogradConvolution.transformWeights(weight, geometry: g, scratch: scratch, kernels: kernels)
        case .threeByThree: DirectConvolution.packWeights(weight, geometry: g, scratch: scratch, kernels: kernels)
        case .stridedThreeByThree: StridedConvolution.packWeights(weight, geometry: g, scratch: scratch, kernels: kernels)
        case .pointwise: PointwiseConvolution.packWeights(weight, geometry: g, scratch: scratch, kernels: kernels)
        }
    }

    /// Sample `n`'s forward pass.
    func forward(sample n: Int, input: [TensorView], geometry g: ConvolutionGeometry, activation: InputActivation?,
                 bias: UnsafePointer<Float>?, output: TensorView, scratch: UnsafeMutablePointer<Float>,
                 kernels: KernelSet = .selected) {
        switch self {
        case .threeByThree(winogradForward: true, _, _):
            WinogradConvolution.forward(sample: n, input: input, geometry: g, activation: activation, bias: bias,
                                        output: output, scratch: scratch, kernels: kernels)
        case .threeByThree:
            DirectConvolution.forward(sample: n, input: input, geometry: g, activation: activation, bias: bias,
                                      output: output, scratch: scratch, kernels: kernels)
        case .stridedThreeByThree:
            StridedConvolution.forward(sample: n, input: input, geometry: g, activation: activation, bias: bias,
                                       output: output, scratch: scratch, kernels: kernels)
        case .pointwise:
            PointwiseConvolution.forward(sample: n, input: input, geometry: g, activation: activation, bias: bias,
                                         output: output, scratch: scratch, kernels: kernels)
        }
    }

    /// Packs the input-gradient weights for gradient segments of `segments` channels.
    func packTransposedWeights(_ weight: UnsafePointer<Float>, geometry g: ConvolutionGeometry, segments: [Int],
                               scratch: UnsafeMutablePointer<Float>, kernels: KernelSet = .selected) {
        switch self {
        case .threeByThree(_, winogradInputGradient: true, _):
            WinogradConvolution.transformTransposedWeights(weight, geometry: g, segments: segments, scratch: scratch,
                                                           kernels: kernels)
        case .threeByThree:
            DirectConvolution.packTransposedWeights(weight, geometry: g, segments: segments, scratch: scratch,
                                                    kernels: kernels)
        case .stridedThreeByThree:
            StridedConvolution.packTransposedWeights(weight, geometry: g, segments: segments, scratch: scratch,
                                                     kernels: kernels)
        case .pointwise:
            PointwiseConvolution.packTransposedWeights(weight, geometry: g, segments: segments, scratch: scratch,
                                                       kernels: kernels)
        }
    }

    /// Sample `n`'s input gradient, stored or added into `inputGradient`.
    func inputGradient(sample n: Int, outputGradient: TensorView, geometry g: ConvolutionGeometry,
                       inputGradient: [TensorView], accumulate: Bool, scratch: UnsafeMutablePointer<Float>,
                       kernels: KernelSet = .selected) {
        switch self {
        case .threeByThree(_, winogradInputGradient: true, _):
            WinogradConvolution.inputGradient(sample: n, outputGradient: outputGradient, geometry: g,
                                              inputGradient: inputGradient, accumulate: accumulate, scratch: scratch,
                                              kernels: kernels)
        case .threeByThree:
            DirectConvolution.inputGradient(sample: n, outputGradient: outputGradient, geometry: g,
                                            inputGradient: inputGradient, accumulate: accumulate, scratch: scratch,
                                            kernels: kernels)
        case .stridedThreeByThree:
            StridedConvolution.inputGradient(sample: n, outputGradient: outputGradient, geometry: g,
                                             inputGradient: inputGradient, accumulate: accumulate, scratch: scratch,
                                             kernels: kernels)
        case .pointwise:
            PointwiseConvolution.inputGradient(sample: n, outputGradient: outputGradient, geometry: g,
                                               inputGradient: inputGradient, accumulate: accumulate, scratch: scratch,
                                               kernels: kernels)
        }
    }

    /// Adds (or, with `accumulate` false, stores) the weight and bias gradients of `samples`:
    /// the Winograd, direct or strided kernel for 3×3, in groups of its
    /// `preferredWeightGradientSamples`;
    /// `dY · Zᵀ` by `sgemm` for 1×1 (`Convolution.backward` without an input gradient).
    func weightGradient(samples: Range<Int>, input: [TensorView], geometry g: ConvolutionGeometry,
                        activation: InputActivation?, weight: UnsafePointer<Float>, outputGradient: TensorView,
                        weightGradient: UnsafeMutablePointer<Float>, biasGradient: UnsafeMutablePointer<Float>?,
                        accumulate: Bool, scratch: UnsafeMutablePointer<Float>, kernels: KernelSet = .selected) {
        switch self {
        case .threeByThree(_, _, winogradWeightGradient: true):
            Self.groups(of: samples, WinogradConvolution.preferredWeightGradientSamples(g), accumulate: accumulate) { group, add in
                WinogradConvolution.weightGradient(
                    samples: group, input: input, geometry: g, activation: activation, outputGradient: outputGradient,
                    weightGradient: weightGradient, biasGradient: biasGradient, accumulate: add, scratch: scratch,
                    kernels: kernels)
            }
        case .threeByThree:
            Self.groups(of: samples, DirectConvolution.preferredWeightGradientSamples(g), accumulate: accumulate) { group, add in
                DirectConvolution.weightGradient(
                    samples: group, input: input, geometry: g, activation: activation, outputGradient: outputGradient,
                    weightGradient: weightGradient, biasGradient: biasGradient, accumulate: add, scratch: scratch,
                    kernels: kernels)
            }
        case .stridedThreeByThree:
            Self.groups(of: samples, StridedConvolution.preferredWeightGradientSamples(g), accumulate: accumulate) { group, add in
                StridedConvolution.weightGradient(
                    samples: group, input: input, geometry: g, activation: activation, outputGradient: outputGradient,
                    weightGradient: weightGradient, biasGradient: biasGradient, accumulate: add, scratch: scratch,
                    kernels: kernels)
            }
        case .pointwise:
            for n in samples {
                Convolution.backward(sample: n, input: input, geometry: g, activation: activation, weight: weight,
                                     outputGradient: outputGradient, weightGradient: weightGradient,
                                     biasGradient: biasGradient, accumulateWeights: accumulate || n != samples.lowerBound,
                                     inputGradient: nil, accumulateInput: false, col: scratch, dcol: scratch)
            }
        }
    }

    /// Calls `body(group, accumulate)` for consecutive groups of at most `size` of `samples`: the
    /// first with `accumulate` as given, the others adding to it.
    static func groups(of samples: Range<Int>, _ size: Int, accumulate: Bool,
                       _ body: (_ group: Range<Int>, _ accumulate: Bool) -> Void) {
        var first = samples.lowerBound
        while first < samples.upperBound {
            let last = min(first + size, samples.upperBound)
            body(first..<last, accumulate || first != samples.lowerBound)
            first = last
        }
    }
}
