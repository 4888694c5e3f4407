import Engine

/// Builds the graph of a model configuration: SparseNet and DenseNet share one block builder and
/// differ only in which earlier outputs each layer aggregates; ResNet has its own.
///
/// The builders describe a model through `ModelGraph`, so the same description either makes a
/// `Graph` or only counts its `NetworkFootprint`: a model's size is known, and checked, before any
/// of its layers is allocated.
public enum ModelBuilder {
    /// Builds the graph for `configuration` after validating it.
    public static func graph(for configuration: ModelConfiguration) throws -> Graph {
        try configuration.validate()
        return try build(configuration)
    }

    /// Builds the graph of a named model.
    public static func graph(named name: String) throws -> Graph {
        try graph(for: ModelConfiguration(name: name))
    }

    /// Builds the graph for `configuration` to be trained or evaluated with batches of up to `batch`
    /// on `threads` threads, after checking — from the settings alone, before any layer is made —
    /// that the graph and its `Network` fit in `availableBytes` (nil: not known, not checked).
    ///
    /// - Throws: `ModelError.tooLarge` naming the bytes needed and available, `invalidSetting` for a
    ///   batch or thread count below 1, and whatever `ModelConfiguration.validate()` throws.
    public static func checkedGraph(for configuration: ModelConfiguration, batch: Int, threads: Int,
                                    availableBytes: Int?) throws -> Graph {
        try ModelConfiguration.check("batch size", batch, atLeast: 1, atMost: .max)
        try ModelConfiguration.check("threads", threads, atLeast: 1, atMost: .max)
        let footprint = try configuration.footprint()
        try refuse(configuration, batch: batch, needing: footprint.totalBytes(maxBatch: batch, threads: threads),
                   availableBytes: availableBytes)
        return try build(configuration)
    }

    /// Builds the graph for `configuration` to be described, not run (`ddptrain summary`), after
    /// checking before any layer is made that the graph and one copy of its parameters fit in
    /// `availableBytes` (nil: not known, not checked).
    ///
    /// - Throws: `ModelError.tooLarge` naming the bytes needed and available, and whatever
    ///   `ModelConfiguration.validate()` throws.
    public static func checkedGraph(for configuration: ModelConfiguration, availableBytes: Int?) throws -> Graph {
        let footprint = try configuration.footprint()
        let needed = footprint.layerStateBytes.flatMap {
            try? SizeArithmetic.sum($0, SizeArithmetic.product(footprint.parameters, MemoryLayout<Float>.stride))
        }
        try refuse(configuration, batch: nil, needing: needed, availableBytes: availableBytes)
        return try build(configuration)
    }

    /// Throws `tooLarge` unless `needed` bytes (nil: too many to count) fit in `availableBytes`.
    static func refuse(_ configuration: ModelConfiguration, batch: Int?, needing needed: Int?, availableBytes: Int?) throws {
        guard let availableBytes else { return }
        if let needed, needed <= availableBytes { return }
        throw ModelError.tooLarge(model: configuration.name, batch: batch, neededBytes: needed, availableBytes: availableBytes)
    }

    /// The graph of an already validated configuration.
    static func build(_ configuration: ModelConfiguration) throws -> Graph {
        var g = Graph(input: configuration.inputShape)
        try describe(configuration, into: &g)
        return g
    }

    /// Describes the model of `configuration` into `g`, layer by layer.
    static func describe<G: ModelGraph>(_ configuration: ModelConfiguration, into g: inout G) throws {
        switch configuration.family {
        case .resnet: try buildResNet(&g, configuration)
        case .densenet, .sparsenet: try buildAggregated(&g, configuration)
        }
    }

    // MARK: DenseNet and SparseNet

    /// Which earlier outputs a layer reads, given the outputs so far `[block input, y1, y2, …]`.
    ///
    /// DenseNet reads all of them. SparseNet reads those at offsets 1, 2, 4, 8, … back from the end
    /// (nearest first), as in the SparseNet paper's exponential aggregation.
    public static func aggregation<Value>(_ family: ModelFamily, _ outputs: [Value]) -> [Value] {
        switch family {
        case .densenet, .resnet:
            return outputs
        case .sparsenet:
            var picked: [Value] = []
            var offset = 1
            while offset <= outputs.count {
                picked.append(outputs[outputs.count - offset])
                offset *= 2
            }
            return picked
        }
    }

    /// One dense/sparse layer over `inputs`: [BN-ReLU-Conv1×1(4k), dropout,] BN-ReLU-Conv3×3(k), dropout.
    static func denseLayer<G: ModelGraph>(_ g: inout G, _ c: ModelConfiguration, inputs: [G.Value],
                                          prefix: String) throws -> G.Value {
        var inputs = inputs
        if c.bottleneck {
            var b = try g.convolution(inputs, outChannels: 4 * c.growthRate, kernel: 1, stride: 1, preactivation: true,
                                      name: prefix + ".bottleneck")
            if c.dropout > 0 { b = try g.dropout(b, rate: c.dropout, name: prefix + ".bottleneck.dropout") }
            inputs = [b]
        }
        var y = try g.convolution(inputs, outChannels: c.growthRate, kernel: 3, stride: 1, preactivation: true,
                                  name: prefix + ".conv")
        if c.dropout > 0 { y = try g.dropout(y, rate: c.dropout, name: prefix + ".dropout") }
        return y
    }

    static func buildAggregated<G: ModelGraph>(_ g: inout G, _ c: ModelConfiguration) throws {
        var x = [try g.convolution([g.input], outChannels: c.stemChannels, kernel: 3, stride: 1, preactivation: false,
                                   name: "stem")]
        for block in 1...3 {
            var outputs = x
            for layer in 1...c.unitsPerStage {
                // The layer reads a temporary list, gone before `append`: a list still alive
                // would make every append copy `outputs`, quadratic in depth.
                let y = try denseLayer(&g, c, inputs: aggregation(c.family, outputs), prefix: "block\(block).layer\(layer)")
                outputs.append(y)
            }
            x = aggregation(c.family, outputs)
            if block < 3 {
                let channels = try g.channels(x)
                let kept = Int((Double(channels) * c.compression).rounded(.down))
                guard kept >= 1 else {
                    throw ModelError.invalidSetting(name: "compression", value: "\(c.compression)",
                                                    rule: "transition\(block) would keep none of its \(channels) channels")
                }
                // BN-ReLU-Conv1×1 then 2×2 average pooling, run as BN-ReLU, pooling, Conv1×1: the
                // same output for a quarter of the convolution's work (see `PooledConvolutionLayer`).
                x = [try g.pooledConvolution(x, outChannels: kept, name: "transition\(block).conv")]
            }
        }
        let h = try g.batchNorm(x, relu: true, name: "head.norm")
        let p = try g.globalAveragePool(h, name: "head.pool")
        _ = try g.linear(p, outFeatures: c.classes, name: "head.fc")
    }

    // MARK: ResNet

    static func buildResNet<G: ModelGraph>(_ g: inout G, _ c: ModelConfiguration) throws {
        let stem = try g.convolution([g.input], outChannels: c.stemChannels, kernel: 3, stride: 1, preactivation: false,
                                     name: "stem.conv")
        var x = try g.batchNorm([stem], relu: true, name: "stem.norm")
        var channels = c.stemChannels
        for stage in 1...3 {
            for block in 1...c.unitsPerStage {
                let prefix = "stage\(stage).block\(block)"
                let stride = (stage > 1 && block == 1) ? 2 : 1
                let c1 = try g.convolution([x], outChannels: channels, kernel: 3, stride: stride, preactivation: false,
                                           name: prefix + ".conv1")
                // conv2's fused pre-activation is the block's first BN + ReLU.
                let c2 = try g.convolution([c1], outChannels: channels, kernel: 3, stride: 1, preactivation: true,
                                           name: prefix + ".conv2")
                let b2 = try g.batchNorm([c2], relu: false, name: prefix + ".norm2")
                x = try g.residual(b2, shortcut: x, relu: true, name: prefix + ".add")
            }
            channels *= 2
        }
        let p = try g.globalAveragePool(x, name: "head.pool")
        _ = try g.linear(p, outFeatures: c.classes, name: "head.fc")
    }
}
