/// Sums and products of sizes that report overflow instead of trapping or wrapping around.
///
/// Sizes that users choose (model depth and width, batch, threads) meet here before anything is
/// allocated, so that a request too large to count is refused with an error rather than a trap.
public enum SizeArithmetic {
    /// The result of a size computation does not fit in `Int`.
    public struct Overflow: Error, Equatable {
        /// Creates the error.
        public init() {}
    }

    /// The sum of `terms`.
    public static func sum(_ terms: Int...) throws(Overflow) -> Int { try sum(terms) }

    /// The sum of `terms`.
    public static func sum(_ terms: [Int]) throws(Overflow) -> Int {
        var total = 0
        for term in terms {
            let (result, overflow) = total.addingReportingOverflow(term)
            guard !overflow else { throw Overflow() }
            total = result
        }
        return total
    }

    /// The product of `factors`.
    public static func product(_ factors: Int...) throws(Overflow) -> Int { try product(factors) }

    /// The product of `factors`.
    public static func product(_ factors: [Int]) throws(Overflow) -> Int {
        var total = 1
        for factor in factors {
            let (result, overflow) = total.multipliedReportingOverflow(by: factor)
            guard !overflow else { throw Overflow() }
            total = result
        }
        return total
    }
}

/// The sizes that decide how much memory a graph takes once it runs: everything
/// `Network(graph:maxBatch:pool:seed:)` allocates, for any batch and thread count, and the
/// batch-norm state the graph's layers hold themselves.
///
/// `init?(graph:)` reads a built graph; `ModelConfiguration.footprint()` (Models) counts the same
/// value from a model's settings without building any layer, so a model too large for the machine
/// can be refused before its graph exists. Every total is computed with checked arithmetic.
///
/// The byte counts are the tensor storage (every `FloatBuffer` and batch-norm sum array). They
/// leave out Swift's own objects — layers, names, input lists, arrays of buffer references — which
/// come to a few hundred bytes per layer and, for DenseNet's input lists, 8 bytes per layer input.
public struct NetworkFootprint: Hashable, Sendable {
    /// Number of layers.
    public var layers = 0
    /// Trainable parameters, in elements.
    public var parameters = 0
    /// Persistent non-trainable elements (batch-norm running statistics).
    public var buffers = 0
    /// Forward multiply-accumulates per sample.
    public var macsPerSample = 0
    /// Per value, the network input first and then each layer's output, its elements per sample.
    public var valueElements: [Int] = []
    /// Per dropout layer, the elements per sample of its mask.
    public var dropoutElements: [Int] = []
    /// Per squeeze-and-excitation unit, the elements per sample it keeps between forward and
    /// backward (means, hidden activations and gate), one buffer of `maxBatch` samples each.
    public var squeezeExcitationElements: [Int] = []
    /// Per batch norm, standalone or fused in front of a convolution, its channels.
    public var normalizedChannels: [Int] = []
    /// The largest im2col panel of any layer, in elements (each thread has two).
    public var panelElements = 0
    /// The largest partial weight gradient of any layer, in elements (one per thread).
    public var partialElements = 0
    /// The largest scratch per sample of any layer, in elements (shared by all threads).
    public var sharedElementsPerSample = 0

    /// An empty footprint, to be filled by a counter.
    public init() {}

    /// The footprint of `graph`, or nil when one of its totals does not fit in `Int`.
    public init?(graph: Graph) {
        do throws(SizeArithmetic.Overflow) {
            valueElements = try graph.shapes.map { s throws(SizeArithmetic.Overflow) in
                try SizeArithmetic.product(s.channels, s.height, s.width)
            }
            for layer in graph.layers {
                layers += 1
                for d in layer.parameters { parameters = try SizeArithmetic.sum(parameters, SizeArithmetic.product(d.shape)) }
                for d in layer.buffers { buffers = try SizeArithmetic.sum(buffers, SizeArithmetic.product(d.shape)) }
                macsPerSample = try SizeArithmetic.sum(macsPerSample, layer.macsPerSample)
                let w = layer.workspace
                panelElements = max(panelElements, w.panel)
                partialElements = max(partialElements, w.partial)
                sharedElementsPerSample = max(sharedElementsPerSample, w.sharedPerSample)
                if let norm = (layer as? ConvolutionLayer)?.norm ?? (layer as? BatchNormLayer)?.norm
                    ?? (layer as? PooledConvolutionLayer)?.norm ?? (layer as? DepthwiseConvolutionLayer)?.norm
                    ?? (layer as? NormalizedResidualLayer)?.norm {
                    normalizedChannels.append(norm.channels)
                }
                if layer is DropoutLayer { dropoutElements.append(valueElements[layer.output.index]) }
                if let se = layer as? SqueezeExcitationLayer { squeezeExcitationElements.append(se.stateElementsPerSample) }
            }
        } catch {
            return nil
        }
    }

    /// Bytes of the batch-norm state the graph's layers allocated when they were made (per batch
    /// norm of `c` channels, `4c` floats of transform and `2c + 1` doubles of sums), or nil on overflow.
    public var layerStateBytes: Int? {
        try? SizeArithmetic.sum(normalizedChannels.map { c throws(SizeArithmetic.Overflow) in
            try SizeArithmetic.sum(Self.floatBytes(SizeArithmetic.product(4, c)),
                                   SizeArithmetic.product(SizeArithmetic.sum(SizeArithmetic.product(2, c), 1), 8))
        })
    }

    /// Bytes `Network(graph:maxBatch:pool:seed:)` allocates for batches of up to `maxBatch` on a pool
    /// of `threads`: parameters and their gradients, buffers, every value's activations and
    /// gradient, per-thread panels and partial gradients, shared scratch, dropout masks and the
    /// squeeze-and-excitation units' kept state.
    /// Nil when `maxBatch` or `threads` is below 1 or the total does not fit in `Int`.
    public func networkBytes(maxBatch: Int, threads: Int) -> Int? {
        guard maxBatch >= 1, threads >= 1 else { return nil }
        return try? SizeArithmetic.sum([
            SizeArithmetic.product(2, Self.floatBytes(parameters)),
            Self.floatBytes(buffers),
            SizeArithmetic.product(2, Self.batchBytes(valueElements, maxBatch)),
            SizeArithmetic.product(threads, SizeArithmetic.sum(SizeArithmetic.product(2, Self.floatBytes(panelElements)),
                                                               Self.floatBytes(partialElements))),
            Self.floatBytes(SizeArithmetic.product(maxBatch, sharedElementsPerSample)),
            Self.batchBytes(dropoutElements, maxBatch),
            Self.batchBytes(squeezeExcitationElements, maxBatch),
        ])
    }

    /// `layerStateBytes` plus `networkBytes(maxBatch:threads:)`: the memory a model of this graph
    /// occupies once its network is allocated. Nil under the same conditions as either.
    public func totalBytes(maxBatch: Int, threads: Int) -> Int? {
        guard let state = layerStateBytes, let network = networkBytes(maxBatch: maxBatch, threads: threads) else { return nil }
        return try? SizeArithmetic.sum(state, network)
    }

    /// Bytes of one `FloatBuffer` of `count` elements, which allocates at least one element.
    static func floatBytes(_ count: Int) throws(SizeArithmetic.Overflow) -> Int {
        try SizeArithmetic.product(max(count, 1), MemoryLayout<Float>.stride)
    }

    /// Bytes of one buffer of `maxBatch × e` floats for each per-sample size `e` of `elements`.
    static func batchBytes(_ elements: [Int], _ maxBatch: Int) throws(SizeArithmetic.Overflow) -> Int {
        try SizeArithmetic.sum(elements.map { e throws(SizeArithmetic.Overflow) in
            try floatBytes(SizeArithmetic.product(maxBatch, e))
        })
    }
}

extension Network {
    /// The bytes `Network(graph:maxBatch:pool:seed:)` allocates for `graph` with batches of up to
    /// `maxBatch` on a pool of `threads` (see `NetworkFootprint.networkBytes`); nil when `maxBatch`
    /// or `threads` is below 1 or the count does not fit in `Int`.
    public static func allocationBytes(graph: Graph, maxBatch: Int, threads: Int) -> Int? {
        NetworkFootprint(graph: graph)?.networkBytes(maxBatch: maxBatch, threads: threads)
    }
}
