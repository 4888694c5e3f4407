#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Which kernels compute 3×3, stride-1, padding-1 convolutions: the forward pass and the input
/// gradient.
///
/// Chosen once per process from the environment variable `DDPTRAIN_CONVOLUTION` (`winograd`,
/// `direct` or `im2col`), for A/B runs and tests; without it, `winograd`. `direct` measured faster
/// than `im2col` on every model (batch 64, 2 threads, AMD EPYC Zen 4, medians of 3 interleaved
/// rounds: 3×3 forward time 204 against 347 ms per step on densenet-40-12, 232 against 335 on
/// sparsenet-40-24, 34 against 39 on resnet-20), and `winograd` faster than `direct` (same
/// setting, medians of 3 interleaved rounds on a shared machine: forward 438 → 357 ms per step and
/// 31.6 → 33.9 images/s on densenet-40-12, 64.3 → 48.4 ms and 247 → 279 images/s on resnet-20;
/// Docs/benchmarks.md). Other geometries, and the weight gradient, use im2col + `sgemm`.
public enum ConvolutionAlgorithm: String, Sendable, CaseIterable {
    /// `DirectConvolution`: no im2col buffer, register-blocked over output channels and pixels.
    case direct
    /// `Convolution.forward`: im2col packing and OpenBLAS `sgemm`.
    case im2col
    /// `WinogradConvolution` (F(2×2, 3×3)) for each direction where it measured faster
    /// (`WinogradConvolution.winsForward` / `winsInputGradient`), else `direct`.
    case winograd

    /// The environment variable that overrides the default.
    public static let variable = "DDPTRAIN_CONVOLUTION"

    /// The algorithm when `DDPTRAIN_CONVOLUTION` is not set.
    public static let standard = ConvolutionAlgorithm.winograd

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

    /// Whether `self` runs the engine's own kernels (direct or Winograd, not im2col) for
    /// geometry `g`; then the calls below compute it.
    public func handles(_ g: ConvolutionGeometry) -> Bool {
        self != .im2col && DirectConvolution.supports(g)
    }

    /// Whether `self` computes `g`'s forward pass with Winograd.
    public func usesWinogradForward(_ g: ConvolutionGeometry) -> Bool {
        self == .winograd && WinogradConvolution.winsForward(g)
    }

    /// Whether `self` computes `g`'s input gradient with Winograd.
    public func usesWinogradInputGradient(_ g: ConvolutionGeometry) -> Bool {
        self == .winograd && WinogradConvolution.winsInputGradient(g)
    }
}

/// The engine's own 3×3 kernels as the layer calls them: Winograd or direct, as the algorithm
/// picks for the geometry and direction (`handles` must hold). Scratch is the per-worker panel
/// (`DirectConvolution.workspaceElements` covers both).
extension ConvolutionAlgorithm {
    /// Prepares `scratch` for `forward`: `WinogradConvolution.transformWeights` or
    /// `DirectConvolution.packWeights`.
    public func packWeights(_ weight: UnsafePointer<Float>, geometry g: ConvolutionGeometry,
                            scratch: UnsafeMutablePointer<Float>) {
        if usesWinogradForward(g) {
            WinogradConvolution.transformWeights(weight, geometry: g, scratch: scratch)
        } else {
            DirectConvolution.packWeights(weight, geometry: g, scratch: scratch)
        }
    }

    /// `WinogradConvolution.forward` or `DirectConvolution.forward`.
    public func forward(sample n: Int, input: [TensorView], geometry g: ConvolutionGeometry,
                        activation: InputActivation?, bias: UnsafePointer<Float>?, output: TensorView,
                        scratch: UnsafeMutablePointer<Float>) {
        if usesWinogradForward(g) {
            WinogradConvolution.forward(sample: n, input: input, geometry: g, activation: activation, bias: bias,
                                        output: output, scratch: scratch)
        } else {
            DirectConvolution.forward(sample: n, input: input, geometry: g, activation: activation, bias: bias,
                                      output: output, scratch: scratch)
        }
    }

    /// Prepares `scratch` for `inputGradient`: `WinogradConvolution.transformTransposedWeights` or
    /// `DirectConvolution.packTransposedWeights`.
    public func packTransposedWeights(_ weight: UnsafePointer<Float>, geometry g: ConvolutionGeometry,
                                      segments: [Int], scratch: UnsafeMutablePointer<Float>) {
        if usesWinogradInputGradient(g) {
            WinogradConvolution.transformTransposedWeights(weight, geometry: g, segments: segments, scratch: scratch)
        } else {
            DirectConvolution.packTransposedWeights(weight, geometry: g, segments: segments, scratch: scratch)
        }
    }

    /// `WinogradConvolution.inputGradient` or `DirectConvolution.inputGradient`.
    public func inputGradient(sample n: Int, outputGradient: TensorView, geometry g: ConvolutionGeometry,
                              inputGradient: [TensorView], accumulate: Bool, scratch: UnsafeMutablePointer<Float>) {
        if usesWinogradInputGradient(g) {
            WinogradConvolution.inputGradient(sample: n, outputGradient: outputGradient, geometry: g,
                                              inputGradient: inputGradient, accumulate: accumulate, scratch: scratch)
        } else {
            DirectConvolution.inputGradient(sample: n, outputGradient: outputGradient, geometry: g,
                                            inputGradient: inputGradient, accumulate: accumulate, scratch: scratch)
        }
    }
}
