#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Which kernels compute the forward pass and the input gradient of 3×3 stride-1 and 1×1
/// stride-1 convolutions: the engine's own (`DirectKernel`) or im2col + `sgemm`.
///
/// Chosen once per process from the environment variable `DDPTRAIN_CONVOLUTION` (`direct` or
/// `im2col`), for A/B runs and tests; without it, `direct`, which measured faster on every model
/// (batch 64, 2 threads, AMD EPYC Zen 4, medians of 3 interleaved rounds: 3×3 forward time
/// 204 against 347 ms per step on densenet-40-12, 232 against 335 on sparsenet-40-24, 34 against
/// 39 on resnet-20). Other geometries, and the weight gradient, use im2col + `sgemm`.
public enum ConvolutionAlgorithm: String, Sendable, CaseIterable {
    /// `DirectConvolution`: no im2col buffer, register-blocked over output channels and pixels.
    case direct
    /// `Convolution.forward`: im2col packing and OpenBLAS `sgemm`.
    case im2col

    /// The environment variable that overrides the default.
    public static let variable = "DDPTRAIN_CONVOLUTION"

    /// The algorithm when `DDPTRAIN_CONVOLUTION` is not set.
    public static let standard = ConvolutionAlgorithm.direct

    /// The process-wide choice, read from `DDPTRAIN_CONVOLUTION` on first use. An unknown value
    /// stops the process: an A/B run with a misspelt setting must not silently measure the default.
    public static let selected: ConvolutionAlgorithm = {
        guard let raw = getenv(variable) else { return standard }
        let value = String(cString: raw)
        guard let algorithm = parse(value) else {
            fatalError("DDPTRAIN_CONVOLUTION=\(value): expected one of "
                       + allCases.map(\.rawValue).joined(separator: ", "))
        }
        return algorithm
    }()

    /// The algorithm named `value` (empty means the default); nil for an unknown name.
    public static func parse(_ value: String) -> ConvolutionAlgorithm? {
        value.isEmpty ? standard : ConvolutionAlgorithm(rawValue: value)
    }

    /// Whether `self` runs the direct kernels for geometry `g`.
    public func handles(_ g: ConvolutionGeometry) -> Bool {
        kernel(for: g) != nil
    }

    /// The direct kernels `self` runs for geometry `g`, or nil for im2col + `sgemm`.
    func kernel(for g: ConvolutionGeometry) -> DirectKernel? {
        self == .direct ? DirectKernel(g) : nil
    }
}
