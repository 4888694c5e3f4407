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
///
/// With `AllReduceDataType.bf16` a bucket is rounded to bfloat16 into its part of a 16-bit copy
/// of the arena when it starts, that copy is summed, and `finish()` widens every bucket back into
/// the gradients. The bucket ranges are the same as for fp32 (`bucketBytes` counts float32
/// gradient bytes), so each bucket sends half the bytes. A single process rounds too, so that
/// its gradients are what a run of any size exchanges.
public final class GradientBuckets {
    /// Bucket ranges in the arena, in the order they are reduced.
    public let ranges: [Range<Int>]
    private let communicator: Communicator
    private let gradients: UnsafeMutablePointer<Float>
    /// The number format the gradients are exchanged in.
    public let dataType: AllReduceDataType
    /// The bfloat16 copy of the arena's gradients (bf16 only), a bucket's part written when it starts.
    private let halves: UnsafeMutablePointer<UInt16>?
    /// Gradient values in the arena, all exchanged once per optimizer step.
    private let count: Int
    private var started = 0
    /// While true, finished gradients are not reduced: the backward pass of a micro-batch that
    /// is not its step's last only adds to the gradients, which the last one then reduces.
    public var isDeferred = false
    /// Seconds spent inside `finish()` waiting for reductions: the communication not hidden behind backward.
    public private(set) var exposedSeconds = 0.0

    /// Splits `arena`'s gradient into buckets of about `bucketBytes` of float32 gradient and hooks
    /// them to `network`; `dataType` is the format they are exchanged in.
    public init(network: Network, communicator: Communicator, bucketBytes: Int, dataType: AllReduceDataType = .fp32) {
        let arena = network.parameters
        let perBucket = max(1, bucketBytes / MemoryLayout<Float>.stride)
        ranges = stride(from: 0, to: arena.count, by: perBucket).map { $0..<min(arena.count, $0 + perBucket) }
        self.communicator = communicator
        gradients = arena.gradients!.pointer
        self.dataType = dataType
        count = arena.count
        halves = dataType == .bf16 ? .allocate(capacity: max(1, arena.count)) : nil
        if communicator.size > 1 {
            network.onGradientsReady = { [unowned self] prefix in self.ready(upTo: prefix) }
        }
    }

    /// Starts every bucket that lies within the finished prefix, then lets pending ones progress.
    func ready(upTo prefix: Int) {
        guard !isDeferred else { return }
        while started < ranges.count && ranges[started].upperBound <= prefix {
            let r = ranges[started]
            if let halves {
                BFloat16.round(gradients + r.lowerBound, into: halves + r.lowerBound, count: r.count)
                communicator.startBFloat16Sum(halves + r.lowerBound, count: r.count)
            } else {
                communicator.startSum(gradients + r.lowerBound, count: r.count)
            }
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
        if let halves { BFloat16.expand(halves, into: gradients, count: count) }
        exposedSeconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        started = 0
    }

    deinit { halves?.deallocate() }

    /// Bytes of gradient one optimizer step sends into the all-reduce on each rank (before the
    /// algorithm's own traffic, which is a multiple of it): the arena's values in `dataType`.
    public var bytesPerStep: Int { count * dataType.bytesPerValue }

    /// Resets the exposed-time counter.
    public func resetTimer() { exposedSeconds = 0 }
}
