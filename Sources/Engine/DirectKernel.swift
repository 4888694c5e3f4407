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
            max(PointwiseConvolution.workspaceElements(g, segmentCount: segmentCount),
                PointwiseConvolution.weightGradientScratchCount(
                    g, samples: PointwiseConvolution.preferredWeightGradientSamples(g)))
        }
    }

    /// `workspaceElements` of the kernels `DirectKernel(g)` picks (no Winograd weight gradient),
    /// or 0 for geometries without own kernels.
    static func workspaceElements(_ g: ConvolutionGeometry, segmentCount: Int) -> Int {
        DirectKernel(g)?.workspaceElements(g, segmentCount: segmentCount) ?? 0
    }

    /// The kernel of every direction no Winograd kernel is asked for in.
    private var directKernel: any ConvolutionKernel.Type {
        switch self {
        case .threeByThree: DirectConvolution.self
        case .stridedThreeByThree: StridedConvolution.self
        case .pointwise: PointwiseConvolution.self
        }
    }

    /// The kernel of the forward pass.
    private var forwardKernel: any ConvolutionKernel.Type {
        if case .threeByThree(winogradForward: true, _, _) = self { return WinogradConvolution.self }
        return directKernel
    }

    /// The kernel of the input gradient.
    private var inputGradientKernel: any ConvolutionKernel.Type {
        if case .threeByThree(_, winogradInputGradient: true, _) = self { return WinogradConvolution.self }
        return directKernel
    }

    // Each call below dispatches through a metatype once per layer call or sample, never per
    // element: the kernels' loops run statically dispatched inside.

    /// Packs the forward weights into `scratch` (once per layer call and worker).
    func packWeights(_ weight: UnsafePointer<Float>, geometry g: ConvolutionGeometry, scratch: UnsafeMutablePointer<Float>,
                     kernels: KernelSet = .selected) {
        forwardKernel.packWeights(weight, geometry: g, scratch: scratch, kernels: kernels)
    }

    /// Sample `n`'s forward pass.
    func forward(sample n: Int, input: [TensorView], geometry g: ConvolutionGeometry, activation: InputActivation?,
                 bias: UnsafePointer<Float>?, output: TensorView, scratch: UnsafeMutablePointer<Float>,
                 kernels: KernelSet = .selected) {
        forwardKernel.forward(sample: n, input: input, geometry: g, activation: activation, bias: bias, output: output,
                              scratch: scratch, kernels: kernels)
    }

    /// Packs the input-gradient weights for gradient segments of `segments` channels.
    func packTransposedWeights(_ weight: UnsafePointer<Float>, geometry g: ConvolutionGeometry, segments: [Int],
                               scratch: UnsafeMutablePointer<Float>, kernels: KernelSet = .selected) {
        inputGradientKernel.packTransposedWeights(weight, geometry: g, segments: segments, scratch: scratch,
                                                  kernels: kernels)
    }

    /// Sample `n`'s input gradient, stored or added into `inputGradient`.
    func inputGradient(sample n: Int, outputGradient: TensorView, geometry g: ConvolutionGeometry,
                       inputGradient: [TensorView], accumulate: Bool, scratch: UnsafeMutablePointer<Float>,
                       kernels: KernelSet = .selected) {
        inputGradientKernel.inputGradient(sample: n, outputGradient: outputGradient, geometry: g,
                                          inputGradient: inputGradient, accumulate: accumulate, scratch: scratch,
                                          kernels: kernels)
    }

    /// Adds (or, with `accumulate` false, stores) the weight and bias gradients of `samples`:
    /// the Winograd, direct or strided kernel for 3×3, the channel products for 1×1, in groups
    /// of the kernel's `preferredWeightGradientSamples`.
    func weightGradient(samples: Range<Int>, input: [TensorView], geometry g: ConvolutionGeometry,
                        activation: InputActivation?, weight: UnsafePointer<Float>, outputGradient: TensorView,
                        weightGradient: UnsafeMutablePointer<Float>, biasGradient: UnsafeMutablePointer<Float>?,
                        accumulate: Bool, scratch: UnsafeMutablePointer<Float>, kernels: KernelSet = .selected) {
        let kernel: any SampleGroupedWeightGradient.Type
        switch self {
        case .threeByThree(_, _, winogradWeightGradient: true): kernel = WinogradConvolution.self
        case .threeByThree: kernel = DirectConvolution.self
        case .stridedThreeByThree: kernel = StridedConvolution.self
        case .pointwise: kernel = PointwiseConvolution.self
        }
        kernel.weightGradientInGroups(
            samples: samples, input: input, geometry: g, activation: activation, outputGradient: outputGradient,
            weightGradient: weightGradient, biasGradient: biasGradient, accumulate: accumulate, scratch: scratch,
            kernels: kernels)
    }
}
