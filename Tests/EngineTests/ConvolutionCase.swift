@testable import Engine

/// One case of the convolution kernel tests: `batch` samples whose input is `segments` channel slices
/// (a DenseNet layer reads a concatenation), `outChannels` outputs, with or without the fused
/// BN-ReLU and bias, overwriting or accumulating into its outputs.
struct ConvolutionCase: CustomStringConvertible {
    var batch: Int, segments: [Int], height: Int, width: Int, outChannels: Int
    var activation: Bool, bias: Bool, accumulate: Bool

    var description: String {
        "batch \(batch) segments \(segments) \(height)×\(width) → \(outChannels)"
            + (activation ? " +act" : "") + (bias ? " +bias" : "") + " accumulate \(accumulate)"
    }

    /// The 3×3, padding-1 geometry of the case at `stride`.
    func geometry(stride: Int = 1) -> ConvolutionGeometry {
        ConvolutionGeometry(inChannels: segments.reduce(0, +), outChannels: outChannels, kernel: 3, stride: stride,
                            padding: 1, inHeight: height, inWidth: width)
    }
}
