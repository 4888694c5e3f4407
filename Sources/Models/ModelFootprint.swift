import Engine

/// What the model builders describe a model into: a `Graph` makes the layers; a
/// `FootprintCounter` only counts their sizes, so that a model is measured before any layer exists.
protocol ModelGraph {
    /// How the description refers to a value (the input or a layer's output).
    associatedtype Value
    /// The network input.
    var input: Value { get }
    /// Channels of the concatenation of `values`.
    func channels(_ values: [Value]) throws -> Int
    /// A convolution with "same" padding (`kernel / 2`) and no bias, optionally behind a fused BN-ReLU.
    mutating func convolution(_ inputs: [Value], outChannels: Int, kernel: Int, stride: Int, preactivation: Bool,
                              name: String) throws -> Value
    /// A depthwise 3×3 convolution with padding 1 and no bias, optionally behind a fused BN-ReLU
    /// (parameters `<name>.depthwise.weight`, `<name>.norm.*`).
    mutating func depthwiseConvolution(_ inputs: [Value], stride: Int, preactivation: Bool, name: String) throws -> Value
    /// Batch normalisation, optionally followed by ReLU.
    mutating func batchNorm(_ inputs: [Value], relu: Bool, name: String) throws -> Value
    /// A fused BN-ReLU, 2×2/2 average pooling and 1×1 convolution without bias (a transition).
    mutating func pooledConvolution(_ inputs: [Value], outChannels: Int, name: String) throws -> Value
    /// Global average pooling.
    mutating func globalAveragePool(_ x: Value, name: String) throws -> Value
    /// A linear layer over the flattened `x`.
    mutating func linear(_ x: Value, outFeatures: Int, name: String) throws -> Value
    /// Dropout with probability `rate`.
    mutating func dropout(_ x: Value, rate: Float, name: String) throws -> Value
    /// `relu?(x + shortcut(s))`.
    mutating func residual(_ x: Value, shortcut: Value, relu: Bool, name: String) throws -> Value
    /// `relu?(bn(x) + shortcut(s))` with the batch norm named `norm`: by default the two layers,
    /// which the engine fuses into one (`Graph.normalizedResidual`).
    mutating func normalizedResidual(_ x: Value, norm: String, shortcut: Value, relu: Bool, name: String) throws -> Value
    /// A squeeze-and-excitation unit over `x` with `hidden` features: each channel scaled by
    /// `σ(fc2(relu(fc1(global mean of x))))`.
    mutating func squeezeExcitation(_ x: Value, hidden: Int, name: String) throws -> Value
}

extension ModelGraph {
    mutating func normalizedResidual(_ x: Value, norm: String, shortcut: Value, relu: Bool, name: String) throws -> Value {
        try residual(try batchNorm([x], relu: false, name: norm), shortcut: shortcut, relu: relu, name: name)
    }

    /// The 3×3 convolution of a model after its stem: a plain one, or for a separable model
    /// (`ModelConfiguration.isSeparable`) a depthwise 3×3 with the same stride and fused BN-ReLU
    /// named `name`, then a pointwise 1×1 named `name.pointwise` with nothing between them (as
    /// Xception places them), so the batch norms around the 3×3 stay where they were.
    mutating func convolution3x3(_ inputs: [Value], _ c: ModelConfiguration, outChannels: Int, stride: Int,
                                 preactivation: Bool, name: String) throws -> Value {
        guard c.isSeparable else {
            return try convolution(inputs, outChannels: outChannels, kernel: 3, stride: stride, preactivation: preactivation,
                                   name: name)
        }
        let d = try depthwiseConvolution(inputs, stride: stride, preactivation: preactivation, name: name)
        return try convolution([d], outChannels: outChannels, kernel: 1, stride: 1, preactivation: false,
                               name: name + ".pointwise")
    }
}

extension Graph: ModelGraph {
    func channels(_ values: [ValueID]) -> Int { concatenatedShape(values).channels }

    mutating func convolution(_ inputs: [ValueID], outChannels: Int, kernel: Int, stride: Int, preactivation: Bool,
                              name: String) -> ValueID {
        convolution(inputs, outChannels: outChannels, kernel: kernel, stride: stride, padding: nil, bias: false,
                    preactivation: preactivation, name: name)
    }
}

/// Counts a model's `NetworkFootprint` from the builder's description with checked arithmetic,
/// making no layer: what each call adds is what the Engine's layer of that kind declares (a test
/// compares the count with `NetworkFootprint(graph:)` of the built graph for every family).
struct FootprintCounter: ModelGraph {
    /// The counts so far.
    private(set) var footprint = NetworkFootprint()
    /// Per value, its shape.
    private var shapes: [TensorShape] = []
    /// The model's name, for errors.
    let model: String
    let input = 0

    /// Starts counting a model named `model` whose input has `shape`.
    init(input shape: TensorShape, model: String) throws {
        self.model = model
        try addValue(shape)
    }

    func channels(_ values: [Int]) throws -> Int {
        // At most 10,001 values (the depth bound) of at most 2³¹ channels each cannot overflow,
        // and a plain loop keeps DenseNet's quadratic input lists cheap to count.
        var total = 0
        for v in values { total += shapes[v].channels }
        return total
    }

    mutating func convolution(_ inputs: [Int], outChannels: Int, kernel: Int, stride: Int, preactivation: Bool,
                              name: String) throws -> Int {
        let s = shapes[inputs[0]], inChannels = try channels(inputs)
        let g = ConvolutionGeometry(inChannels: inChannels, outChannels: outChannels, kernel: kernel, stride: stride,
                                    padding: kernel / 2, inHeight: s.height, inWidth: s.width)
        let weights = try counted("parameter count") { try SizeArithmetic.product(outChannels, inChannels, kernel, kernel) }
        try addLayer(parameters: weights, normalized: preactivation ? inChannels : nil,
                     macs: counted("forward MACs per sample") { try SizeArithmetic.product(weights, g.outPlane) })
        // The im2col matrix bounds every panel rule's products; checked here, the layer's own rule
        // (`ConvolutionLayer.panelElements`) then gives the size.
        try addWorkspace {
            _ = try SizeArithmetic.product(inChannels, kernel, kernel, g.outPlane)
            return try (ConvolutionLayer.panelElements(g, algorithm: .selected, segmentCount: preactivation ? 1 : inputs.count),
                        SizeArithmetic.sum(weights, outChannels), SizeArithmetic.product(preactivation ? inChannels : 0, g.inPlane))
        }
        return try addValue(g.outShape)
    }

    mutating func depthwiseConvolution(_ inputs: [Int], stride: Int, preactivation: Bool, name: String) throws -> Int {
        let s = shapes[inputs[0]], c = try channels(inputs)
        let weights = try counted("parameter count") { try SizeArithmetic.product(c, 3, 3) }
        // Checked at the largest size a geometry computes (a padded plane of the input's width
        // plus 16 per row, over the padded rows of every phase) before the geometry computes them.
        _ = try counted("convolution workspace") {
            try SizeArithmetic.product(SizeArithmetic.sum(s.height, 2), stride, SizeArithmetic.sum(s.width, 16))
        }
        let g = DepthwiseConvolution.Geometry(channels: c, stride: stride, inHeight: s.height, inWidth: s.width)
        try addLayer(parameters: weights, normalized: preactivation ? c : nil,
                     macs: counted("forward MACs per sample") { try SizeArithmetic.product(weights, g.outPlane) })
        try addWorkspace {
            _ = try SizeArithmetic.product(c, s.height, s.width)
            let w = DepthwiseConvolutionLayer.workspace(g, preactivation: preactivation)
            return (w.panel, w.partial, w.sharedPerSample)
        }
        return try addValue(g.outShape)
    }

    mutating func pooledConvolution(_ inputs: [Int], outChannels: Int, name: String) throws -> Int {
        let s = shapes[inputs[0]], inChannels = try channels(inputs)
        let pooled = TensorShape(channels: outChannels, height: s.height / 2, width: s.width / 2)
        let weights = try counted("parameter count") { try SizeArithmetic.product(outChannels, inChannels) }
        try addLayer(parameters: weights, normalized: inChannels,
                     macs: counted("forward MACs per sample") { try SizeArithmetic.product(weights, s.height, s.width) })
        try addWorkspace {
            try (SizeArithmetic.product(inChannels, pooled.planeSize), weights, SizeArithmetic.product(inChannels, s.height, s.width))
        }
        return try addValue(pooled)
    }

    mutating func batchNorm(_ inputs: [Int], relu: Bool, name: String) throws -> Int {
        let s = shapes[inputs[0]], c = try channels(inputs)
        try addLayer(parameters: 0, normalized: c)
        return try addValue(TensorShape(channels: c, height: s.height, width: s.width))
    }

    mutating func globalAveragePool(_ x: Int, name: String) throws -> Int {
        try addLayer()
        return try addValue(TensorShape(channels: shapes[x].channels, height: 1, width: 1))
    }

    mutating func linear(_ x: Int, outFeatures: Int, name: String) throws -> Int {
        let inFeatures = footprint.valueElements[x]
        let weights = try counted("parameter count") { try SizeArithmetic.product(outFeatures, inFeatures) }
        try addLayer(parameters: counted("parameter count") { try SizeArithmetic.sum(weights, outFeatures) }, macs: weights)
        return try addValue(TensorShape(channels: outFeatures, height: 1, width: 1))
    }

    mutating func dropout(_ x: Int, rate: Float, name: String) throws -> Int {
        try addLayer()
        footprint.dropoutElements.append(footprint.valueElements[x])
        return try addValue(shapes[x])
    }

    mutating func residual(_ x: Int, shortcut: Int, relu: Bool, name: String) throws -> Int {
        try addLayer()
        return try addValue(shapes[x])
    }

    mutating func normalizedResidual(_ x: Int, norm: String, shortcut: Int, relu: Bool, name: String) throws -> Int {
        try addLayer(normalized: shapes[x].channels)
        return try addValue(shapes[x])
    }

    mutating func squeezeExcitation(_ x: Int, hidden: Int, name: String) throws -> Int {
        let c = shapes[x].channels
        let products = try counted("parameter count") { try SizeArithmetic.product(2, c, hidden) }
        try addLayer(parameters: counted("parameter count") { try SizeArithmetic.sum(products, hidden, c) },
                     macs: products)
        try addWorkspace { (0, 0, try SizeArithmetic.sum(c, c, hidden)) }
        footprint.squeezeExcitationElements.append(try counted("activation size") { try SizeArithmetic.sum(c, c, hidden) })
        return try addValue(shapes[x])
    }

    /// Counts one layer with `parameters` of its own, a batch norm over `normalized` channels
    /// (which adds `2c` parameters and `2c` running statistics) and `macs` per sample.
    private mutating func addLayer(parameters: Int = 0, normalized: Int? = nil, macs: Int = 0) throws {
        footprint.layers += 1
        let norm = normalized ?? 0
        if let normalized { footprint.normalizedChannels.append(normalized) }
        footprint.parameters = try counted("parameter count") {
            try SizeArithmetic.sum(footprint.parameters, parameters, SizeArithmetic.product(2, norm))
        }
        footprint.buffers = try counted("running statistics") {
            try SizeArithmetic.sum(footprint.buffers, SizeArithmetic.product(2, norm))
        }
        footprint.macsPerSample = try counted("forward MACs per sample") {
            try SizeArithmetic.sum(footprint.macsPerSample, macs)
        }
    }

    /// Raises the per-thread panel and partial and the per-sample shared scratch, in elements, to
    /// the needs of a layer that `sizes` computes with checked arithmetic.
    private mutating func addWorkspace(_ sizes: () throws -> (panel: Int, partial: Int, shared: Int)) throws {
        let w = try counted("convolution workspace", sizes)
        footprint.panelElements = max(footprint.panelElements, w.panel)
        footprint.partialElements = max(footprint.partialElements, w.partial)
        footprint.sharedElementsPerSample = max(footprint.sharedElementsPerSample, w.shared)
    }

    /// Adds a value of `shape` and returns it.
    @discardableResult
    private mutating func addValue(_ shape: TensorShape) throws -> Int {
        let elements = try counted("activation size") {
            try SizeArithmetic.product(shape.channels, shape.height, shape.width)
        }
        footprint.valueElements.append(elements)
        shapes.append(shape)
        return shapes.count - 1
    }

    /// `body`'s result, or `ModelError.uncountable` naming `quantity` when it overflows.
    private func counted<T>(_ quantity: String, _ body: () throws -> T) throws(ModelError) -> T {
        do {
            return try body()
        } catch {
            throw ModelError.uncountable(model: model, quantity: quantity)
        }
    }
}

extension ModelConfiguration {
    /// The input shape of one sample.
    var inputShape: TensorShape { TensorShape(channels: inputChannels, height: inputHeight, width: inputWidth) }

    /// The sizes of this model's network — layers, parameters, MACs, activations, scratch — counted
    /// from the settings with checked arithmetic, without building its graph: equal to
    /// `NetworkFootprint(graph:)` of the graph `ModelBuilder` builds, and cheap even for a model far
    /// too large to build. Its byte functions say what the model needs before anything is allocated.
    ///
    /// - Throws: `ModelError.uncountable` naming the size that does not fit in 64 bits, and the
    ///   errors of the settings checks of `validate()`.
    public func footprint() throws -> NetworkFootprint {
        try checkSettings()
        var counter = try FootprintCounter(input: inputShape, model: name)
        try ModelBuilder.describe(self, into: &counter)
        return counter.footprint
    }
}
