import Dispatch
import Engine

/// Averages a network's gradients over all ranks while backward runs.
///
/// The gradient arena is laid out in backward order, so it is cut into a few contiguous buckets
/// of about `bucketBytes`. After every layer's backward the network reports how much of the
/// arena is final; each bucket whose range is complete starts its non-blocking all-reduce at
/// once, and pending reductions are polled so MPI moves them forward between layers.
/// `finish()` starts what is left and waits for everything before the optimizer step.
/// Buckets are started in arena order on every rank, so all ranks issue identical collectives.
public final class GradientBuckets {
    /// Bucket ranges in the arena, in the order they are reduced.
    public let ranges: [Range<Int>]
    private let communicator: Communicator
    private let gradients: UnsafeMutablePointer<Float>
    private var started = 0
    /// While true, finished gradients are not reduced: the backward pass of a micro-batch that
    /// is not its step's last only adds to the gradients, which the last one then reduces.
    public var isDeferred = false
    /// Seconds spent inside `finish()` waiting for reductions: the communication not hidden behind backward.
    public private(set) var exposedSeconds = 0.0

    /// Splits `arena`'s gradient into buckets of about `bucketBytes` and hooks them to `network`.
    public init(network: Network, communicator: Communicator, bucketBytes: Int) {
        let arena = network.parameters
        let perBucket = max(1, bucketBytes / MemoryLayout<Float>.stride)
        ranges = stride(from: 0, to: arena.count, by: perBucket).map { $0..<min(arena.count, $0 + perBucket) }
        self.communicator = communicator
        gradients = arena.gradients!.pointer
        if communicator.size > 1 {
            network.onGradientsReady = { [unowned self] prefix in self.ready(upTo: prefix) }
        }
    }

    /// Starts every bucket that lies within the finished prefix, then lets pending ones progress.
    func ready(upTo prefix: Int) {
        guard !isDeferred else { return }
        while started < ranges.count && ranges[started].upperBound <= prefix {
            let r = ranges[started]
            communicator.startSum(gradients + r.lowerBound, count: r.count)
            started += 1
        }
        communicator.progress()
    }

    /// Starts any bucket not yet started, waits for all, and resets for the next step.
    public func finish() {
        isDeferred = false
        let start = DispatchTime.now().uptimeNanoseconds
        ready(upTo: Int.max)
        communicator.waitAll()
        exposedSeconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        started = 0
    }

    /// Resets the exposed-time counter.
    public func resetTimer() { exposedSeconds = 0 }
}
