/// One of the engine's own convolution kernels (direct, strided, 1×1 or Winograd), forward and
/// input gradient: in each direction the weights are packed once a layer call and worker, then
/// each sample is computed from the packed copy. `DirectKernel` picks the conforming type for a
/// layer's geometry and direction; the weight gradient is `SampleGroupedWeightGradient`.
protocol ConvolutionKernel {
    /// Packs `weight` (`[out][in][kh][kw]`) into `scratch` in the layout `forward` reads.
    static func packWeights(_ weight: UnsafePointer<Float>, geometry g: ConvolutionGeometry,
                            scratch: UnsafeMutablePointer<Float>, kernels: KernelSet)

    /// Sample `n`'s output from its input segments (with `activation` applied while they are
    /// read) and the weights `packWeights` left in `scratch`.
    static func forward(sample n: Int, input: [TensorView], geometry g: ConvolutionGeometry,
                        activation: InputActivation?, bias: UnsafePointer<Float>?, output: TensorView,
                        scratch: UnsafeMutablePointer<Float>, kernels: KernelSet)

    /// Packs `weight` transposed into `scratch`, split into gradient segments of `segments` channels.
    static func packTransposedWeights(_ weight: UnsafePointer<Float>, geometry g: ConvolutionGeometry,
                                      segments: [Int], scratch: UnsafeMutablePointer<Float>, kernels: KernelSet)

    /// Sample `n`'s input gradient, stored (or with `accumulate` added) into `inputGradient`.
    static func inputGradient(sample n: Int, outputGradient: TensorView, geometry g: ConvolutionGeometry,
                              inputGradient: [TensorView], accumulate: Bool, scratch: UnsafeMutablePointer<Float>,
                              kernels: KernelSet)
}

extension DirectConvolution: ConvolutionKernel {}
extension StridedConvolution: ConvolutionKernel {}
extension PointwiseConvolution: ConvolutionKernel {}

extension WinogradConvolution: ConvolutionKernel {
    /// The forward weights packed as Winograd's transformed `U = G g Gᵀ` (`transformWeights`).
    static func packWeights(_ weight: UnsafePointer<Float>, geometry g: ConvolutionGeometry,
                            scratch: UnsafeMutablePointer<Float>, kernels: KernelSet) {
        transformWeights(weight, geometry: g, scratch: scratch, kernels: kernels)
    }

    /// The input-gradient weights packed transposed and transformed (`transformTransposedWeights`).
    static func packTransposedWeights(_ weight: UnsafePointer<Float>, geometry g: ConvolutionGeometry,
                                      segments: [Int], scratch: UnsafeMutablePointer<Float>, kernels: KernelSet) {
        transformTransposedWeights(weight, geometry: g, segments: segments, scratch: scratch, kernels: kernels)
    }
}
