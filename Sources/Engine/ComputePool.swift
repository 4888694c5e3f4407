import CBLAS
import CPUFeatures
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The single owner of parallelism in a process.
///
/// The engine splits work (samples of a batch, channels of a tensor, ranges of the parameter
/// arena) into `threads` chunks. The calling thread runs the first chunk and `threads - 1`
/// persistent workers run the others. A resnet-20 step has some 300 such parallel regions of
/// 0.1–1 ms, so a worker that went to sleep between two of them would pay a kernel wake-up each
/// time: workers spin on the region counter for `spinMicroseconds` before they park on a
/// condition variable (as OpenMP runtimes do). OpenBLAS is pinned to one thread so that its own
/// pool never competes with ours: every `sgemm` the engine issues is already one of `threads`
/// concurrent pieces of work.
public final class ComputePool: @unchecked Sendable {
    /// How many chunks each parallel region is split into (`--threads`).
    public let threads: Int

    /// How long an idle worker keeps spinning for the next region before it parks.
    public static let spinMicroseconds = 2_000

    private let state: PoolState
    private var workers: [pthread_t] = []

    /// Creates a pool of `threads` workers (the caller and `threads - 1` threads) and restricts
    /// OpenBLAS to a single thread.
    public init(threads: Int) {
        precondition(threads >= 1, "threads must be at least 1")
        self.threads = threads
        openblas_set_num_threads(1)
        state = PoolState(workers: threads - 1)
        for index in 1..<threads {
            let start = WorkerStart(state: state, index: index)
            var thread = pthread_t()
            let rc = pthread_create(&thread, nil, { raw in
                let start = Unmanaged<WorkerStart>.fromOpaque(raw!).takeRetainedValue()
                start.state.work(as: start.index)
                return nil
            }, Unmanaged.passRetained(start).toOpaque())
            precondition(rc == 0, "pthread_create failed with error \(rc)")
            workers.append(thread)
        }
    }

    deinit {
        state.shutdown()
        for thread in workers { pthread_join(thread, nil) }
    }

    /// Splits `0..<count` into at most `threads` contiguous ranges and runs `body(range, worker)`
    /// on each concurrently; `worker` is in `0..<threads` and indexes per-thread scratch space.
    /// Regions must not nest, and one pool serves one calling thread at a time.
    @inline(__always)
    public func chunks(_ count: Int, _ body: (Range<Int>, Int) -> Void) {
        guard count > 0 else { return }
        let parts = min(threads, count)
        if parts == 1 {
            body(0..<count, 0)
            return
        }
        // The workers call the closure through a pointer while this call waits for them; the
        // closure shares pointers into buffers whose disjoint parts they write, a disjointness
        // Swift cannot see, so it is handed over unchecked.
        withoutActuallyEscaping(body) { body in
            var job: Job = body
            withUnsafeMutablePointer(to: &job) { job in
                state.run(job, count: count, parts: parts)
                body(PoolState.chunk(0, of: count, parts: parts), 0)
                state.waitForWorkers()
            }
        }
    }
}

/// A parallel region's body as the workers see it.
typealias Job = (Range<Int>, Int) -> Void

/// What a worker thread is started with.
private final class WorkerStart {
    let state: PoolState
    let index: Int
    init(state: PoolState, index: Int) { self.state = state; self.index = index }
}

/// The region hand-off between the calling thread and the workers: a generation counter the
/// workers watch (the region's job, count and parts are written before it is bumped, sequentially
/// consistent), a countdown of workers still busy, and a mutex and condition variable for workers
/// that spun too long and parked.
final class PoolState: @unchecked Sendable {
    private let workers: Int
    private let generation = Atomic<Int>(0)
    private let busy = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    private let sleepers = Atomic<Int>(0)
    private var job: UnsafeMutablePointer<Job>?
    private var count = 0
    private var parts = 0
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let wake: UnsafeMutablePointer<pthread_cond_t>

    /// State for `workers` worker threads (the pool's threads but the caller).
    init(workers: Int) {
        self.workers = workers
        mutex = .allocate(capacity: 1)
        wake = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
    }

    deinit {
        pthread_cond_destroy(wake)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        wake.deallocate()
    }

    /// Chunk `index` of `0..<count` split into `parts` contiguous ranges. Overflow-free: counts
    /// are batch sizes, channel counts and arena lengths, far below `Int.max / threads`.
    @inline(__always)
    static func chunk(_ index: Int, of count: Int, parts: Int) -> Range<Int> {
        (count * index / parts)..<(count * (index + 1) / parts)
    }

    /// Publishes a region to the workers and wakes those that parked.
    func run(_ job: UnsafeMutablePointer<Job>, count: Int, parts: Int) {
        self.job = job
        self.count = count
        self.parts = parts
        busy.store(workers, ordering: .relaxed)
        generation.wrappingAdd(1, ordering: .sequentiallyConsistent)
        wakeSleepers()
    }

    /// Spins until every worker has finished the current region (they finish about when the
    /// caller does, so this never parks).
    func waitForWorkers() {
        while busy.load(ordering: .acquiring) != 0 { ddptrain_cpu_relax() }
        job = nil
    }

    /// Stops the workers at their next wait.
    func shutdown() {
        stopping.store(true, ordering: .relaxed)
        generation.wrappingAdd(1, ordering: .sequentiallyConsistent)
        wakeSleepers()
    }

    private func wakeSleepers() {
        // A worker parks only after re-checking the generation under the mutex, so taking the
        // mutex here (after the bump) means none can miss this region.
        if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
            pthread_mutex_lock(mutex)
            pthread_cond_broadcast(wake)
            pthread_mutex_unlock(mutex)
        }
    }

    /// A worker's life: wait for a region, run chunk `index` of it, report, repeat.
    func work(as index: Int) {
        var seen = 0
        while true {
            seen = waitForRegion(after: seen)
            if stopping.load(ordering: .relaxed) { return }
            let parts = self.parts, count = self.count
            if index < parts, let job { job.pointee(Self.chunk(index, of: count, parts: parts), index) }
            busy.wrappingSubtract(1, ordering: .releasing)
        }
    }

    /// Returns the generation of the next region after `seen`: spins on the counter for
    /// `ComputePool.spinMicroseconds`, then parks on the condition variable.
    private func waitForRegion(after seen: Int) -> Int {
        var deadline = monotonicMicroseconds() + Double(ComputePool.spinMicroseconds)
        var spins = 0
        while true {
            let now = generation.load(ordering: .acquiring)
            if now != seen { return now }
            ddptrain_cpu_relax()
            spins &+= 1
            // The clock only every 256 spins: reading it costs more than a spin.
            if spins & 255 != 0 || monotonicMicroseconds() < deadline { continue }
            pthread_mutex_lock(mutex)
            sleepers.wrappingAdd(1, ordering: .sequentiallyConsistent)
            while generation.load(ordering: .sequentiallyConsistent) == seen {
                pthread_cond_wait(wake, mutex)
            }
            sleepers.wrappingSubtract(1, ordering: .sequentiallyConsistent)
            pthread_mutex_unlock(mutex)
            deadline = monotonicMicroseconds() + Double(ComputePool.spinMicroseconds)
        }
    }

    private func monotonicMicroseconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) * 1e6 + Double(ts.tv_nsec) / 1e3
    }
}
