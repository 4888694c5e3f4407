#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Which kernels compute the forward pass and the input gradient of 3×3 (stride 1 and 2) and 1×1
/// stride-1 convolutions (and the 3×3 weight gradient): the engine's own (`DirectKernel`) or
/// im2col + `sgemm`.
///
/// Chosen once per process from the environment variable `DDPTRAIN_CONVOLUTION` (`winograd`,
/// `direct`, `im2col` or `winograd-all`), for A/B runs and tests; without it, `winograd`. `direct` measured faster
/// than `im2col` on every model (batch 64, 2 threads, AMD EPYC Zen 4, medians of 3 interleaved
/// rounds: 3×3 forward time 204 against 347 ms per step on densenet-40-12, 232 against 335 on
/// sparsenet-40-24, 34 against 39 on resnet-20), and `winograd` faster than `direct` (same
/// setting, medians of 3 interleaved rounds on a shared machine: forward 438 → 357 ms per step and
/// 31.6 → 33.9 images/s on densenet-40-12, 64.3 → 48.4 ms and 247 → 279 images/s on resnet-20;
/// Docs/benchmarks.md). Other geometries, and the 1×1 weight gradient, use im2col + `sgemm`.
public enum ConvolutionAlgorithm: String, Sendable, CaseIterable {
    /// `DirectConvolution`: no im2col buffer, register-blocked over output channels and pixels.
    case direct
    /// `Convolution.forward`: im2col packing and OpenBLAS `sgemm`.
    case im2col
    /// `WinogradConvolution` (F(2×2, 3×3)) for each direction where it measured faster
    /// (`WinogradConvolution.winsForward` / `winsInputGradient` / `winsWeightGradient`), else
    /// `direct`.
    case winograd
    /// `WinogradConvolution` in every direction of every 3×3 stride-1 layer, the rules ignored:
    /// for A/B runs that test the rules (`DDPTRAIN_CONVOLUTION=winograd-all`), not for training.
    case winogradAll = "winograd-all"

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

    /// Whether `self` runs the engine's own kernels (Winograd or direct, not im2col) for
    /// geometry `g`.
    public func handles(_ g: ConvolutionGeometry) -> Bool {
        kernel(for: g) != nil
    }

    /// The own kernels `self` runs for geometry `g`, or nil for im2col + `sgemm`.
    func kernel(for g: ConvolutionGeometry) -> DirectKernel? {
        self == .im2col ? nil : DirectKernel(g, winogradForward: usesWinogradForward(g),
                                             winogradInputGradient: usesWinogradInputGradient(g),
                                             winogradWeightGradient: usesWinogradWeightGradient(g))
    }

    /// Whether `self` computes `g`'s forward pass with Winograd.
    public func usesWinogradForward(_ g: ConvolutionGeometry) -> Bool {
        usesWinograd(g, rule: WinogradConvolution.winsForward(g))
    }

    /// Whether `self` computes `g`'s input gradient with Winograd.
    public func usesWinogradInputGradient(_ g: ConvolutionGeometry) -> Bool {
        usesWinograd(g, rule: WinogradConvolution.winsInputGradient(g))
    }

    /// Whether `self` computes `g`'s weight gradient with Winograd.
    public func usesWinogradWeightGradient(_ g: ConvolutionGeometry) -> Bool {
        usesWinograd(g, rule: WinogradConvolution.winsWeightGradient(g))
    }

    /// `rule` under `winograd`, every supported geometry under `winograd-all`, never otherwise.
    func usesWinograd(_ g: ConvolutionGeometry, rule: Bool) -> Bool {
        switch self {
        case .winograd: rule
        case .winogradAll: WinogradConvolution.supports(g)
        case .direct, .im2col: false
        }
    }
}
