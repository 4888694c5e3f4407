/// The engine's own convolution kernels for one layer geometry: `DirectConvolution` (3×3,
/// stride 1, padding 1) or `PointwiseConvolution` (1×1, stride 1). Other geometries have none and
/// run im2col + `sgemm`. One switch here keeps `ConvolutionLayer` free of per-kernel branches.
enum DirectKernel {
    case threeByThree
    case pointwise

    /// The kernels for geometry `g`, or nil.
    init?(_ g: ConvolutionGeometry) {
        if DirectConvolution.supports(g) {
            self = .threeByThree
        } else if PointwiseConvolution.supports(g) {
            self = .pointwise
        } else {
            return nil
        }
    }

    /// Per-worker scratch floats for the forward pass and the input gradient, with any kernel set.
    static func workspaceElements(_ g: ConvolutionGeometry, segmentCount: Int) -> Int {
        max(DirectConvolution.workspaceElements(g, segmentCount: segmentCount),
            PointwiseConvolution.workspaceElements(g, segmentCount: segmentCount))
    }

    /// Packs the forward weights into `scratch` (once per layer call and worker).
    func packWeights(_ weight: UnsafePointer<Float>, geometry g: ConvolutionGeometry, scratch: UnsafeMutablePointer<Float>,
                     kernels: KernelSet = .selected) {
        switch self {
        case .threeByThree: DirectConvolution.packWeights(weight, geometry: g, scratch: scratch, kernels: kernels)
        case .pointwise: PointwiseConvolution.packWeights(weight, geometry: g, scratch: scratch, kernels: kernels)
        }
    }

    /// Sample `n`'s forward pass.
    func forward(sample n: Int, input: [TensorView], geometry g: ConvolutionGeometry, activation: InputActivation?,
                 bias: UnsafePointer<Float>?, output: TensorView, scratch: UnsafeMutablePointer<Float>,
                 kernels: KernelSet = .selected) {
        switch self {
        case .threeByThree:
            DirectConvolution.forward(sample: n, input: input, geometry: g, activation: activation, bias: bias,
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
        case .threeByThree:
            DirectConvolution.packTransposedWeights(weight, geometry: g, segments: segments, scratch: scratch,
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
        case .threeByThree:
            DirectConvolution.inputGradient(sample: n, outputGradient: outputGradient, geometry: g,
                                            inputGradient: inputGradient, accumulate: accumulate, scratch: scratch,
                                            kernels: kernels)
        case .pointwise:
            PointwiseConvolution.inputGradient(sample: n, outputGradient: outputGradient, geometry: g,
                                               inputGradient: inputGradient, accumulate: accumulate, scratch: scratch,
                                               kernels: kernels)
        }
    }
}
