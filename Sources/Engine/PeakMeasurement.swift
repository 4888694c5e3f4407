import CBLAS
import Dispatch

/// This machine's single-precision arithmetic peak, measured the two ways that bound what the
/// engine can reach: OpenBLAS `sgemm` (the best dense kernel the engine calls) and a loop of
/// fused multiply-adds that never leaves the registers (the vector unit's limit for code compiled
/// with the package's `-target-cpu`).
///
/// Both run the way the engine runs: `threads` workers of a `ComputePool`, each with its own
/// independent problem, and OpenBLAS single-threaded. Figures are GFLOP/s summed over the workers
/// (an FMA counts as two operations), the best of `repetitions` timings, so a benchmark can state
/// a model's speed as a fraction of what the cores can do.
public enum PeakMeasurement {
    /// Independent `SIMD16<Float>` accumulators of the FMA loop. Six cover the FMA latency of
    /// current x86 cores (4 cycles × 2 pipes = 8 chains of 8 lanes for 256-bit code, which splits
    /// each into two) and, with the two operands, fill exactly the 16 AVX2 vector registers.
    public static let fmaAccumulators = 6

    /// GFLOP/s of `threads` concurrent `size`×`size`×`size` `sgemm` calls (C = A·B, row-major),
    /// one per worker on its own matrices; the best of `repetitions` after one untimed call.
    public static func sgemm(size: Int, threads: Int, repetitions: Int = 3) -> Double {
        precondition(size >= 1 && threads >= 1 && repetitions >= 1, "size, threads and repetitions must be positive")
        let pool = ComputePool(threads: threads)
        let elements = size * size
        let matrices = (0..<threads).map { worker in
            (0..<3).map { k in
                let buffer = UnsafeMutablePointer<Float>.allocate(capacity: elements)
                // Values near 1 (no denormals, no overflow): the timing does not depend on them.
                for i in 0..<elements { buffer[i] = 1 + Float((i &* 7 &+ k &+ worker) % 13) / 64 }
                return buffer
            }
        }
        defer { for buffers in matrices { for buffer in buffers { buffer.deallocate() } } }
        let n = Int32(size)
        let flopsPerWorker = 2 * Double(size) * Double(size) * Double(size)
        return best(of: repetitions, pool: pool, flopsPerWorker: flopsPerWorker) { worker in
            let m = matrices[worker]
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, m[0], n, m[1], n, 0, m[2], n)
        }
    }

    /// GFLOP/s of `threads` concurrent register-only FMA loops of `iterations` steps, each step one
    /// `addingProduct` on every one of the `fmaAccumulators` 16-lane accumulators; the best of
    /// `repetitions` after one untimed run.
    public static func fmaLoop(iterations: Int, threads: Int, repetitions: Int = 3) -> Double {
        precondition(iterations >= 1 && threads >= 1 && repetitions >= 1, "iterations, threads and repetitions must be positive")
        let pool = ComputePool(threads: threads)
        let results = UnsafeMutablePointer<Float>.allocate(capacity: threads)
        results.initialize(repeating: 0, count: threads)
        defer { results.deallocate() }
        let flopsPerWorker = 2 * Double(iterations) * Double(fmaAccumulators * 16)
        let gflops = best(of: repetitions, pool: pool, flopsPerWorker: flopsPerWorker) { worker in
            let seed = Float(worker + 1)
            results[worker] = fmaChains(iterations: iterations, start: seed, x: seed * 1e-3, y: 1e-4 / seed)
        }
        // Reading the sums keeps the loops from being optimised away.
        precondition((0..<threads).allSatisfy { results[$0].isFinite }, "FMA loop produced a non-finite sum")
        return gflops
    }

    /// `fmaAccumulators` independent FMA chains, `iterations` long: accumulator k starts at
    /// `start + k` in every lane and gains `x·y` per step. The operands are run-time values the
    /// compiler cannot fold; the sum of all lanes is returned so the work is observable.
    @inline(never)
    static func fmaChains(iterations: Int, start: Float, x: Float, y: Float) -> Float {
        let x = SIMD16<Float>(repeating: x), y = SIMD16<Float>(repeating: y)
        var a0 = SIMD16<Float>(repeating: start), a1 = a0 + 1, a2 = a0 + 2, a3 = a0 + 3, a4 = a0 + 4, a5 = a0 + 5
        for _ in 0..<iterations {
            a0 = a0.addingProduct(x, y)
            a1 = a1.addingProduct(x, y)
            a2 = a2.addingProduct(x, y)
            a3 = a3.addingProduct(x, y)
            a4 = a4.addingProduct(x, y)
            a5 = a5.addingProduct(x, y)
        }
        return (a0 + a1 + a2 + a3 + a4 + a5).sum()
    }

    /// Runs `body(worker)` on every worker of `pool` at once, `repetitions + 1` times, and returns
    /// the GFLOP/s of the fastest timed run (the first run warms caches and pages up, untimed).
    static func best(of repetitions: Int, pool: ComputePool, flopsPerWorker: Double, _ body: (Int) -> Void) -> Double {
        var fastest = Double.infinity
        for run in 0...repetitions {
            let start = DispatchTime.now().uptimeNanoseconds
            pool.chunks(pool.threads) { _, worker in body(worker) }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            if run > 0 { fastest = min(fastest, seconds) }
        }
        return flopsPerWorker * Double(pool.threads) / max(fastest, 1e-9) / 1e9
    }
}
