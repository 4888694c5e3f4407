import Distributed
import Engine
import Foundation

/// One data-parallel optimizer step on this rank's share of a global batch, the same for
/// `Trainer` and for `Benchmark`: forward, loss over the global batch, backward with the gradient
/// buckets all-reduced while it runs, optional gradient clipping, SGD.
///
/// A step has separate halves so that the caller can act between them: `Trainer` adds the global
/// loss and the ranks' stop votes in one all-reduce after the last `forward` and before its
/// `backward`. With gradient accumulation a step is K micro-batches, each a `forward` and a
/// `backward` that adds to the gradients; only the last reduces them over the ranks, and the
/// batch-norm running statistics move as the K·N ranks the micro-batches stand in for would
/// move them (`MicroBatchStatistics`).
public final class StepRunner {
    /// The model with its parameters, gradients and activations.
    public let network: Network
    /// The optimizer and its momentum buffers.
    public let optimizer: SGD
    /// The ranks whose gradients (and, with synchronised batch norm, statistics) are summed.
    public let communicator: Communicator
    /// The ranks whose batch-norm statistics this rank sums with its own (`BatchNormSync
    /// .statisticsGroup`): all of them, a group, or nil for this rank's samples alone.
    public let batchNormGroup: Communicator?
    /// The worker threads every layer and the optimizer share.
    let pool: ComputePool
    /// Overlaps the gradient all-reduce with the backward pass.
    let buckets: GradientBuckets
    /// Micro-batches per optimizer step (1 without accumulation).
    public let accumulationSteps: Int
    /// The running statistics' bookkeeping across a step's micro-batches (nil for one).
    let microBatchStatistics: MicroBatchStatistics?
    /// Seconds of the last step's phases.
    public private(set) var timings = Timings()

    /// Seconds spent in each phase of one step.
    public struct Timings: Sendable {
        /// Forward pass and loss.
        public var forward = 0.0
        /// Backward pass, including the wait for the last gradient buckets.
        public var backward = 0.0
        /// Clipping and the SGD update.
        public var update = 0.0
        /// Of `backward`: waiting on all-reduces the backward pass could not hide.
        public var allReduceWait = 0.0
        /// The whole step.
        public var total: Double { forward + backward + update }
    }

    /// Builds the network for batches of up to `maxBatch` samples on `threads` threads, with
    /// batch-norm statistics summed over the ranks `batchNormSync` groups together (a collective
    /// for `group:K` and `node`, which split the communicator), gradients exchanged in `allReduceDataType`.
    public init(graph: Graph, maxBatch: Int, threads: Int, seed: UInt64, communicator: Communicator,
                batchNormSync: BatchNormSync, bucketBytes: Int, allReduceDataType: AllReduceDataType = .fp32,
                optimizer configuration: SGD.Configuration = .init(), accumulationSteps: Int = 1) {
        precondition(accumulationSteps >= 1, "accumulationSteps must be at least 1")
        self.accumulationSteps = accumulationSteps
        pool = ComputePool(threads: threads)
        network = Network(graph: graph, maxBatch: maxBatch, pool: pool, seed: seed)
        self.communicator = communicator
        batchNormGroup = batchNormSync.statisticsGroup(in: communicator)
        network.context.statisticsReducer = batchNormGroup
        buckets = GradientBuckets(network: network, communicator: communicator, bucketBytes: bucketBytes, dataType: allReduceDataType)
        optimizer = SGD(arena: network.parameters, configuration: configuration)
        microBatchStatistics = accumulationSteps > 1 ? MicroBatchStatistics(buffers: network.buffers) : nil
    }

    /// Whether the ranks' batch-norm running statistics drift apart while they train: each rank
    /// updates them from its own or its group's statistics, and not every rank is in its group.
    /// They are then averaged over all ranks before every evaluation and checkpoint.
    public var runningStatisticsDiffer: Bool {
        communicator.size > 1 && (batchNormGroup?.size ?? 1) < communicator.size
    }

    /// Gradient buckets of the all-reduce.
    public var bucketCount: Int { buckets.ranges.count }

    /// The gradient exchange in words: its number format and the bytes of gradient each rank
    /// sends into the all-reduce per optimizer step (halved by bf16).
    public var exchangeSummary: String {
        "gradients exchanged as \(buckets.dataType.rawValue), \(buckets.bytesPerStep) bytes per step"
    }

    /// Seconds the all-reduce kept the backward passes waiting since `resetWaitTimer`.
    public var allReduceWaitSeconds: Double { buckets.exposedSeconds }

    /// Restarts the count behind `allReduceWaitSeconds`.
    public func resetWaitTimer() { buckets.resetTimer() }

    /// Runs the forward pass of micro-batch `microBatch` (0 ..< `accumulationSteps`) of a step
    /// on the `count` samples already in `network.input` and evaluates the loss, normalised by the
    /// global batch `globalCount` (all ranks and micro-batches); returns this rank's loss sum and
    /// correct count for the micro-batch.
    public func forward(count: Int, labels: UnsafePointer<Int32>, smoothing: Float = 0,
                        globalCount: Int, microBatch: Int = 0) -> SoftmaxCrossEntropy.Result {
        precondition(microBatch >= 0 && microBatch < accumulationSteps, "micro-batch \(microBatch) of \(accumulationSteps)")
        let start = DispatchTime.now().uptimeNanoseconds
        if microBatch == 0 { timings = Timings() }
        microBatchStatistics?.beforeForward(microBatch: microBatch)
        network.forward(batch: count, training: true, sameStep: microBatch > 0)
        microBatchStatistics?.afterForward(microBatch: microBatch, of: accumulationSteps)
        let result = network.loss(labels: labels, smoothing: smoothing, normalizer: globalCount)
        timings.forward += Self.seconds(since: start)
        return result
    }

    /// Back-propagates the loss of the last `forward` (micro-batch `microBatch` of the step),
    /// adding to the parameter gradients, which the step's first micro-batch starts from zero;
    /// the last one sums them over the ranks, bucket by bucket while it runs.
    public func backward(microBatch: Int = 0) {
        let start = DispatchTime.now().uptimeNanoseconds
        let waitBefore = buckets.exposedSeconds
        let last = microBatch == accumulationSteps - 1
        if microBatch == 0 { network.zeroParameterGradients() }
        buckets.isDeferred = !last
        network.backward()
        if last { buckets.finish() }
        timings.allReduceWait += buckets.exposedSeconds - waitBefore
        timings.backward += Self.seconds(since: start)
    }

    /// Back-propagates the loss of the last `forward`, sums the gradients over the ranks, clips
    /// their norm to `clipNorm` when given, and takes one SGD step at `learningRate` (a step of
    /// one micro-batch).
    ///
    /// - Throws: `nonFiniteGradient` (with the norm) when clipping finds a NaN or infinite
    ///   gradient; the parameters are then left as they were.
    public func backwardAndUpdate(learningRate: Float, clipNorm: Double? = nil) throws(NonFiniteGradient) {
        backward()
        try update(learningRate: learningRate, clipNorm: clipNorm)
    }

    /// Clips the summed gradients' norm to `clipNorm` when given and takes one SGD step at
    /// `learningRate`, once the step's last micro-batch has run `backward`.
    ///
    /// - Throws: `nonFiniteGradient` (with the norm) when clipping finds a NaN or infinite
    ///   gradient; the parameters are then left as they were.
    public func update(learningRate: Float, clipNorm: Double? = nil) throws(NonFiniteGradient) {
        let update = DispatchTime.now().uptimeNanoseconds
        if let clipNorm {
            let norm = network.parameters.gradientNorm()
            guard norm.isFinite else { throw NonFiniteGradient(norm: norm) }
            if norm > clipNorm { network.parameters.scaleGradients(by: Float(clipNorm / norm)) }
        }
        optimizer.step(network.parameters, learningRate: learningRate, pool: pool)
        timings.update = Self.seconds(since: update)
    }

    /// The gradient norm that clipping found to be NaN or infinite.
    public struct NonFiniteGradient: Error {
        /// The norm.
        public var norm: Double
    }

    static func seconds(since start: UInt64) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }
}
