/// Everything a layer may touch while it runs: the batch, the mode, the activations and their
/// gradients, scratch space, and the thread pool.
public final class ExecutionContext: @unchecked Sendable {
    /// Samples in the current batch (at most the network's `maxBatch`).
    public internal(set) var batch: Int = 0
    /// Training (batch statistics, dropout) or evaluation mode.
    public internal(set) var training = true
    /// Counts training forward passes; with `seed` it keys dropout masks (a checkpoint stores it).
    public var step: UInt64 = 0
    /// The network's seed.
    public let seed: UInt64
    /// Set in a distributed run with synchronised batch norm: adds batch-norm statistics across
    /// ranks. Nil normalises with this process's samples only.
    public var statisticsReducer: StatisticsReducer?
    /// Position of this process's first sample within the global batch, so that per-sample
    /// randomness (dropout) is the same whichever rank holds a sample.
    public var sampleOffset = 0
    /// The thread pool all layers share.
    public let pool: ComputePool
    /// Per value: its shape, activations and gradient.
    let shapes: [TensorShape]
    let data: [FloatBuffer]
    let gradients: [FloatBuffer]
    /// Per worker: two im2col panels and a partial weight gradient.
    public let panels: [(col: FloatBuffer, dcol: FloatBuffer)]
    /// Per worker partial gradient buffers.
    public let partials: [FloatBuffer]
    /// Shared scratch sized `maxBatch × sharedPerSample`.
    public let shared: FloatBuffer

    init(shapes: [TensorShape], maxBatch: Int, workspace: WorkspaceRequirement,
         pool: ComputePool, seed: UInt64) {
        self.shapes = shapes
        self.pool = pool
        self.seed = seed
        data = shapes.map { FloatBuffer(count: maxBatch * $0.elementCount) }
        gradients = shapes.map { FloatBuffer(count: maxBatch * $0.elementCount) }
        panels = (0..<pool.threads).map { _ in
            (FloatBuffer(count: workspace.panel), FloatBuffer(count: workspace.panel))
        }
        partials = (0..<pool.threads).map { _ in FloatBuffer(count: workspace.partial) }
        shared = FloatBuffer(count: maxBatch * workspace.sharedPerSample)
        gradientWritten = Array(repeating: false, count: shapes.count)
    }

    /// The activations of `value`.
    public func view(_ value: ValueID) -> TensorView {
        TensorView(base: data[value.index].pointer, shape: shapes[value.index])
    }

    /// The activations of several values, as a segment list.
    public func views(_ values: [ValueID]) -> [TensorView] { values.map(view) }

    /// The gradient of `value`. Every value has one, the network input included, so a layer
    /// never has to special-case which of its inputs receive gradients.
    public func gradient(_ value: ValueID) -> TensorView {
        TensorView(base: gradients[value.index].pointer, shape: shapes[value.index])
    }

    /// The gradients of several values, as a segment list.
    public func gradients(_ values: [ValueID]) -> [TensorView] { values.map(gradient) }

    // MARK: Gradient writes

    /// Per value: whether a layer has written its gradient in the current backward pass.
    /// `Network.backward` clears it, so the first write of a pass overwrites what the previous
    /// step left and no pass zeroes every activation gradient first (that zeroing was 3 % of a
    /// resnet-20 step, and turned every first write into a read-modify-write).
    var gradientWritten: [Bool]

    /// Whether a write into `value`'s gradient must add to what is there (`true`) or may
    /// overwrite it (`false`: nothing has written it in this backward pass). Marks it written, so
    /// a layer calls this once per input, before its kernels write, and then writes every element
    /// of the gradient when the answer is `false`.
    public func claimGradient(_ value: ValueID) -> Bool {
        defer { gradientWritten[value.index] = true }
        return gradientWritten[value.index]
    }

    /// `claimGradient` for every value of `values`, in order.
    public func claimGradients(_ values: [ValueID]) -> [Bool] { values.map(claimGradient) }

    /// One accumulate flag for all of `values`, for kernels that take a single flag: `false` when
    /// none of them has been written in this pass; otherwise `true`, after zeroing those not
    /// written yet.
    public func claimGradientsTogether(_ values: [ValueID]) -> Bool {
        let written = claimGradients(values)
        if !written.contains(true) { return false }
        for (value, w) in zip(values, written) where !w { zeroGradient(value) }
        return true
    }

    /// Claims `value`'s gradient for a kernel that only adds: zeroes it if this is the pass's
    /// first write.
    public func claimGradientForAdding(_ value: ValueID) {
        if !claimGradient(value) { zeroGradient(value) }
    }

    /// Zeroes `value`'s gradient for the current batch, split over the workers.
    func zeroGradient(_ value: ValueID) {
        let p = gradients[value.index].pointer
        pool.chunks(batch * shapes[value.index].elementCount) { range, _ in
            (p + range.lowerBound).update(repeating: 0, count: range.count)
        }
    }
}
