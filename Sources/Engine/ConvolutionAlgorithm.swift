import Foundation

/// How 3×3 stride-1 convolutions run their forward pass: `DirectConvolution` (no im2col panel),
/// or im2col + `sgemm` as every other convolution does. Chosen once per process from the
/// environment variable `DDPTRAIN_CONVOLUTION` (`direct` or `im2col`), for tests and A/B runs;
/// the default is the one measured faster (Docs/benchmarks.md).
public enum ConvolutionAlgorithm: String, Sendable, CaseIterable {
    /// `DirectConvolution` for the shapes it supports.
    case direct
    /// im2col + `sgemm` everywhere.
    case im2col

    /// The environment variable that overrides the default.
    public static let variable = "DDPTRAIN_CONVOLUTION"

    /// The algorithm of this process: the environment's choice, else the default.
    public static let current: ConvolutionAlgorithm = {
        guard let text = ProcessInfo.processInfo.environment[variable] else { return .direct }
        guard let choice = ConvolutionAlgorithm(rawValue: text.lowercased()) else {
            FileHandle.standardError.write(Data("warning: \(variable)=\(text) is neither direct nor im2col; using direct\n".utf8))
            return .direct
        }
        return choice
    }()
}
