import Engine
import Foundation

/// `ddptrain bench --peak`: this machine's single-precision peak at 1 thread and at `--threads`
/// threads, measured with `PeakMeasurement` (OpenBLAS `sgemm` and a register-only FMA loop), so a
/// model's GFLOP/s can be read as a fraction of what the cores can do.
///
/// The lines it prints are parsed by Scripts/compare-pytorch.sh: keep `peak: sgemm` and the
/// `N thread(s) X GFLOP/s` figures as they are.
public struct PeakReport {
    /// Matrix size n of the sgemm problem (n×n×n, one per worker).
    public let size: Int
    /// The size `bench --peak` measures without `--peak-size`: about a second on a 2-core machine.
    public static let defaultSize = 2048
    /// The thread counts measured, ascending: 1 and `--threads`.
    public let threadCounts: [Int]
    /// GFLOP/s of the sgemm problem, by thread count.
    public let sgemm: [Int: Double]
    /// GFLOP/s of the FMA loop, by thread count.
    public let fma: [Int: Double]

    /// Steps of the FMA loop per worker and run: about 4 GFLOP, a few tens of milliseconds.
    static let fmaIterations = 20_000_000
    /// Timed runs of each measurement; the best one counts.
    static let repetitions = 3

    /// Measures both peaks at 1 thread and at `threads` threads.
    public static func measure(size: Int, threads: Int) throws -> PeakReport {
        let bytes = 3 * size * size * MemoryLayout<Float>.size * threads
        if let available = SystemMemory.availableBytes(), bytes > available {
            throw TrainingError.invalidOption(flag: "--peak-size", value: "\(size)",
                                              rule: "needs \(bytes >> 20) MiB for \(threads) × 3 matrices of \(size)² floats but "
                                                  + "\(available >> 20) MiB are available: lower --peak-size or --threads")
        }
        let counts = Array(Set([1, threads])).sorted()
        var sgemm: [Int: Double] = [:], fma: [Int: Double] = [:]
        for count in counts {
            sgemm[count] = PeakMeasurement.sgemm(size: size, threads: count, repetitions: repetitions)
            fma[count] = PeakMeasurement.fmaLoop(iterations: fmaIterations, threads: count, repetitions: repetitions)
        }
        return PeakReport(size: size, threadCounts: counts, sgemm: sgemm, fma: fma)
    }

    /// The report: one line for sgemm (with the OpenBLAS kernels that ran it), one for the FMA loop.
    public var lines: [String] {
        [
            "peak: sgemm \(size)³ \(figures(sgemm)) (OpenBLAS \(BLASKernels.summary), single-threaded, one problem per thread, best of \(Self.repetitions))",
            "peak: FMA loop \(figures(fma)) (\(PeakMeasurement.fmaAccumulators) independent SIMD16<Float> accumulators in registers, "
                + "as compiled for the package's -target-cpu: haswell unless DDPTRAIN_TARGET_CPU was set)",
        ]
    }

    /// "1 thread 118.3 GFLOP/s, 2 threads 231.0 GFLOP/s".
    private func figures(_ gflops: [Int: Double]) -> String {
        threadCounts.map { count in
            String(format: "%d thread%@ %.1f GFLOP/s", count, count == 1 ? "" : "s", gflops[count] ?? 0)
        }.joined(separator: ", ")
    }
}
