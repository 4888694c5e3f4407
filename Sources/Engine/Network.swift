import Dispatch

/// A graph with its storage allocated for a maximum batch: parameters, gradients, batch-norm
/// buffers, activations and scratch. All allocation happens here, once; steps allocate nothing.
public final class Network {
    /// The architecture.
    public let graph: Graph
    /// The largest batch `forward` accepts.
    public let maxBatch: Int
    /// Trainable parameters and their gradients, laid out in backward order.
    public let parameters: ParameterArena
    /// Batch-norm running statistics.
    public let buffers: ParameterArena
    /// Activations, gradients and scratch.
    public let context: ExecutionContext
    /// When set, every layer's forward and backward time is added to it.
    public var profile: LayerProfile?
    /// Called after each layer's backward pass with the length of the gradient-arena prefix that
    /// is now complete (gradients are laid out in backward order), so that a distributed run can
    /// start reducing finished buckets while backward goes on.
    public var onGradientsReady: ((Int) -> Void)?
    /// Per layer, the end of its parameters in the arena: once it has run backward, the arena
    /// prefix up to here is final.
    let gradientPrefixEnd: [Int]

    /// Allocates `graph` for batches of up to `maxBatch` and initialises its parameters from `seed`.
    public init(graph: Graph, maxBatch: Int, pool: ComputePool, seed: UInt64 = 0) {
        precondition(maxBatch >= 1, "batch size must be at least 1")
        self.graph = graph
        self.maxBatch = maxBatch
        let backwardOrder = graph.layers.reversed()
        parameters = ParameterArena(declarations: backwardOrder.flatMap { $0.parameters }, withGradients: true)
        buffers = ParameterArena(declarations: graph.layers.flatMap { $0.buffers }, withGradients: false)
        parameters.initialize(seed: seed)
        buffers.initialize(seed: seed)
        var workspace = WorkspaceRequirement()
        for layer in graph.layers { workspace = workspace.union(layer.workspace) }
        context = ExecutionContext(shapes: graph.shapes, maxBatch: maxBatch, workspace: workspace, pool: pool, seed: seed)
        var parameterOffset = parameters.count
        var bufferOffset = 0
        var prefixEnd: [Int] = []
        let g = parameters.gradients!.pointer
        for layer in graph.layers {
            prefixEnd.append(parameterOffset)
            parameterOffset -= layer.parameterCount
            layer.bind(parameters: parameters.values.pointer + parameterOffset, gradients: g + parameterOffset,
                       buffers: buffers.values.pointer + bufferOffset, maxBatch: maxBatch)
            bufferOffset += layer.buffers.reduce(0) { $0 + $1.count }
        }
        gradientPrefixEnd = prefixEnd
    }

    /// The input batch, `maxBatch × C × H × W`, to be filled before `forward`.
    public var input: UnsafeMutablePointer<Float> { context.view(graph.input).base }
    /// The output batch (class logits) after `forward`.
    public var output: UnsafeMutablePointer<Float> { context.view(graph.output).base }
    /// Classes (elements of one sample's output).
    public var outputCount: Int { graph.shape(graph.output).elementCount }

    /// Runs the layers forward on the first `batch` samples of `input`. A training pass counts
    /// one step (which keys dropout masks) unless `sameStep`: the later micro-batches of an
    /// accumulated optimizer step share its step, as the ranks they stand in for would.
    public func forward(batch: Int, training: Bool, sameStep: Bool = false) {
        precondition(batch >= 1 && batch <= maxBatch, "batch \(batch) outside 1...\(maxBatch)")
        context.batch = batch
        context.training = training
        // Keys dropout masks only; wrapping after 2⁶⁴ steps is harmless and never reached.
        if training && !sameStep { context.step &+= 1 }
        guard let profile else {
            for layer in graph.layers { layer.forward(context) }
            return
        }
        for (i, layer) in graph.layers.enumerated() {
            let start = DispatchTime.now().uptimeNanoseconds
            layer.forward(context)
            profile.forward[i] += DispatchTime.now().uptimeNanoseconds - start
        }
    }

    /// Computes the softmax cross-entropy of the current output against `labels` and writes
    /// its gradient into the output's gradient, ready for `backward`.
    public func loss(labels: UnsafePointer<Int32>, smoothing: Float = 0, normalizer: Int? = nil) -> SoftmaxCrossEntropy.Result {
        SoftmaxCrossEntropy.evaluate(logits: output, labels: labels, batch: context.batch, classes: outputCount,
                                     smoothing: smoothing, normalizer: normalizer,
                                     gradient: context.gradient(graph.output).base)
    }

    /// Sets every parameter gradient to zero (call once per optimizer step).
    public func zeroParameterGradients() { parameters.gradients!.zero() }

    /// Back-propagates the output gradient, adding to the parameter gradients.
    ///
    /// Activation gradients are not zeroed first: each layer overwrites an input's gradient on
    /// the pass's first write and adds afterwards (`ExecutionContext.claimGradient`). A layer
    /// whose output gradient nobody wrote (an output no later layer consumed) sees zeros.
    public func backward() {
        let out = graph.output.index
        for i in context.gradientWritten.indices { context.gradientWritten[i] = i == out }
        for (i, layer) in graph.layers.enumerated().reversed() {
            let start = profile == nil ? 0 : DispatchTime.now().uptimeNanoseconds
            if !context.gradientWritten[layer.output.index] { context.claimGradientForAdding(layer.output) }
            layer.backward(context)
            if let profile { profile.backward[i] += DispatchTime.now().uptimeNanoseconds - start }
            onGradientsReady?(gradientPrefixEnd[i])
        }
    }
}
