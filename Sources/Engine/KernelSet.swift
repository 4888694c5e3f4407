import CPUFeatures
import KernelsAVX2
import KernelsAVX512
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Which instruction set the engine's own convolution micro-kernels run with.
///
/// One binary serves a whole cluster whose nodes may differ: each micro-kernel is compiled once
/// per instruction set (modules KernelsAVX2 and KernelsAVX512, one source), and each process picks
/// one at start-up from CPUID. The environment variable `DDPTRAIN_KERNELS` (`avx512` or `avx2`)
/// overrides the choice for tests and A/B runs. OpenBLAS chooses its own kernels independently
/// (`BLASKernels`).
public enum KernelSet: String, Sendable, CaseIterable {
    /// 512-bit vectors (AVX-512 F/CD/BW/DQ/VL): a `SIMD16<Float>` is one zmm register.
    case avx512
    /// 256-bit vectors with FMA (AVX2, the package's baseline `-target-cpu haswell`): a
    /// `SIMD16<Float>` is two ymm registers. On other architectures this is the portable build.
    case avx2

    /// The environment variable that overrides the CPUID choice.
    public static let variable = "DDPTRAIN_KERNELS"

    /// The best set this CPU runs.
    public static let detected: KernelSet = ddptrain_cpu_supports_avx512() != 0 ? .avx512 : .avx2

    /// Whether this CPU can run `self`.
    public var isSupported: Bool {
        self == .avx2 || KernelSet.detected == .avx512
    }

    /// The process-wide choice: `DDPTRAIN_KERNELS` if set, else `detected`. An unknown name, or
    /// `avx512` on a CPU without it, stops the process with a message: an A/B run must never
    /// measure something other than what it asked for, and AVX-512 code on a CPU without it would
    /// die of an illegal instruction mid-run.
    public static let selected: KernelSet = {
        guard let raw = getenv(variable) else { return detected }
        let value = String(cString: raw)
        if value.isEmpty { return detected }
        guard let set = KernelSet(rawValue: value) else {
            fatalError("\(variable)=\(value): expected one of \(allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard set.isSupported else {
            fatalError("\(variable)=\(value): this CPU has no AVX-512 (F, CD, BW, DQ, VL); use avx2 or leave it unset")
        }
        return set
    }()

    /// How `bench` and the training log name the choice, e.g. `avx512 (CPUID)` or
    /// `avx2 (DDPTRAIN_KERNELS)`.
    public static var summary: String {
        "\(selected.rawValue) (\(getenv(variable).map { _ in variable } ?? "CPUID"))"
    }

    // MARK: Dispatch

    /// Output channels per register tile of this set's 3×3 tiles for `outputChannels` outputs
    /// (`ThreeByThreeTiles.channelBlock(outputChannels:)`): how weights must be packed for it.
    func channelBlock(outputChannels: Int) -> Int {
        switch self {
        case .avx512: KernelsAVX512.ThreeByThreeTiles.channelBlock(outputChannels: outputChannels)
        case .avx2: KernelsAVX2.ThreeByThreeTiles.channelBlock(outputChannels: outputChannels)
        }
    }

    /// Runs this set's 3×3 stride-1 tiles (`ThreeByThreeTiles.convolve`).
    @inline(__always)
    func convolve3x3(planes: UnsafePointer<Float>, inChannels: Int, outChannels: Int, outHeight: Int, outWidth: Int,
                     weights: UnsafePointer<Float>, bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
                     accumulate: Bool) {
        switch self {
        case .avx512:
            KernelsAVX512.ThreeByThreeTiles.convolve(
                planes: planes, inChannels: inChannels, outChannels: outChannels, outHeight: outHeight,
                outWidth: outWidth, weights: weights, bias: bias, output: output, accumulate: accumulate)
        case .avx2:
            KernelsAVX2.ThreeByThreeTiles.convolve(
                planes: planes, inChannels: inChannels, outChannels: outChannels, outHeight: outHeight,
                outWidth: outWidth, weights: weights, bias: bias, output: output, accumulate: accumulate)
        }
    }

    /// Runs this set's tap-list tiles (`TapListTiles.convolve`), which the 3×3 stride-2 kernels use.
    @inline(__always)
    func convolveTaps(planes: UnsafePointer<Float>, channelStride: Int, rowStride: Int, taps: UnsafePointer<Int>,
                      tapCount: Int, inChannels: Int, outChannels: Int, outHeight: Int, outWidth: Int,
                      weights: UnsafePointer<Float>, bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
                      accumulate: Bool) {
        switch self {
        case .avx512:
            KernelsAVX512.TapListTiles.convolve(
                planes: planes, channelStride: channelStride, rowStride: rowStride, taps: taps, tapCount: tapCount,
                inChannels: inChannels, outChannels: outChannels, outHeight: outHeight, outWidth: outWidth,
                weights: weights, bias: bias, output: output, accumulate: accumulate)
        case .avx2:
            KernelsAVX2.TapListTiles.convolve(
                planes: planes, channelStride: channelStride, rowStride: rowStride, taps: taps, tapCount: tapCount,
                inChannels: inChannels, outChannels: outChannels, outHeight: outHeight, outWidth: outWidth,
                weights: weights, bias: bias, output: output, accumulate: accumulate)
        }
    }

    /// Runs this set's 1×1 stride-1 tiles (`PointwiseTiles.convolve`).
    @inline(__always)
    func convolve1x1(planes: UnsafePointer<Float>, planeStride: Int, inChannels: Int, outChannels: Int, pixels: Int,
                     weights: UnsafePointer<Float>, bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
                     accumulate: Bool) {
        switch self {
        case .avx512:
            KernelsAVX512.PointwiseTiles.convolve(
                planes: planes, planeStride: planeStride, inChannels: inChannels, outChannels: outChannels,
                pixels: pixels, weights: weights, bias: bias, output: output, accumulate: accumulate)
        case .avx2:
            KernelsAVX2.PointwiseTiles.convolve(
                planes: planes, planeStride: planeStride, inChannels: inChannels, outChannels: outChannels,
                pixels: pixels, weights: weights, bias: bias, output: output, accumulate: accumulate)
        }
    }
}
