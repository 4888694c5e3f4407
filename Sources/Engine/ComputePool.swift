import CBLAS
import Dispatch

/// The single owner of parallelism in a process.
///
/// The engine splits work (samples of a batch, channels of a tensor, ranges of the parameter
/// arena) into `threads` chunks and runs them with `DispatchQueue.concurrentPerform`. OpenBLAS is
/// pinned to one thread so that its own pool never competes with ours: every `sgemm` the engine
/// issues is already one of `threads` concurrent pieces of work.
public final class ComputePool: @unchecked Sendable {
    /// How many chunks each parallel region is split into (`--threads`).
    public let threads: Int

    /// Creates a pool of `threads` workers and restricts OpenBLAS to a single thread.
    public init(threads: Int) {
        precondition(threads >= 1, "threads must be at least 1")
        self.threads = threads
        openblas_set_num_threads(1)
    }

    /// Splits `0..<count` into at most `threads` contiguous ranges and runs `body(range, worker)`
    /// on each concurrently; `worker` is in `0..<threads` and indexes per-thread scratch space.
    @inline(__always)
    public func chunks(_ count: Int, _ body: (Range<Int>, Int) -> Void) {
        guard count > 0 else { return }
        let parts = min(threads, count)
        if parts == 1 {
            body(0..<count, 0)
            return
        }
        // The work items share pointers into buffers whose disjoint parts they write; Swift cannot
        // see that disjointness, so the closure is handed over unchecked.
        withoutActuallyEscaping(body) { body in
            nonisolated(unsafe) let work = body
            DispatchQueue.concurrentPerform(iterations: parts) { part in
                let lo = count * part / parts
                let hi = count * (part + 1) / parts
                work(lo..<hi, part)
            }
        }
    }
}
