import Engine

/// Builds the graph of a model configuration: SparseNet and DenseNet share one block builder and
/// differ only in which earlier outputs each layer aggregates; ResNet has its own.
public enum ModelBuilder {
    /// Builds the graph for `configuration`.
    public static func graph(for configuration: ModelConfiguration) throws -> Graph {
        try configuration.validate()
        var g = Graph(input: TensorShape(channels: configuration.inputChannels,
                                         height: configuration.inputHeight, width: configuration.inputWidth))
        switch configuration.family {
        case .resnet: buildResNet(&g, configuration)
        case .densenet, .sparsenet: buildAggregated(&g, configuration)
        }
        return g
    }

    /// Builds the graph of a named model.
    public static func graph(named name: String) throws -> Graph {
        try graph(for: ModelConfiguration(name: name))
    }

    // MARK: DenseNet and SparseNet

    /// Which earlier outputs a layer reads, given the outputs so far `[block input, y1, y2, …]`.
    ///
    /// DenseNet reads all of them. SparseNet reads those at offsets 1, 2, 4, 8, … back from the end
    /// (nearest first), as in the SparseNet paper's exponential aggregation.
    public static func aggregation(_ family: ModelFamily, _ outputs: [ValueID]) -> [ValueID] {
        switch family {
        case .densenet, .resnet:
            return outputs
        case .sparsenet:
            var picked: [ValueID] = []
            var offset = 1
            while offset <= outputs.count {
                picked.append(outputs[outputs.count - offset])
                offset *= 2
            }
            return picked
        }
    }

    static func buildAggregated(_ g: inout Graph, _ c: ModelConfiguration) {
        let k = c.growthRate
        var x = [g.convolution([g.input], outChannels: c.stemChannels, kernel: 3, name: "stem")]
        for block in 1...3 {
            var outputs = x
            for layer in 1...c.unitsPerStage {
                let prefix = "block\(block).layer\(layer)"
                var inputs = aggregation(c.family, outputs)
                if c.bottleneck {
                    var b = g.convolution(inputs, outChannels: 4 * k, kernel: 1, preactivation: true, name: prefix + ".bottleneck")
                    if c.dropout > 0 { b = g.dropout(b, rate: c.dropout, name: prefix + ".bottleneck.dropout") }
                    inputs = [b]
                }
                var y = g.convolution(inputs, outChannels: k, kernel: 3, preactivation: true, name: prefix + ".conv")
                if c.dropout > 0 { y = g.dropout(y, rate: c.dropout, name: prefix + ".dropout") }
                outputs.append(y)
            }
            x = aggregation(c.family, outputs)
            if block < 3 {
                let channels = g.concatenatedShape(x).channels
                let kept = Int((Double(channels) * c.compression).rounded(.down))
                let t = g.convolution(x, outChannels: kept, kernel: 1, preactivation: true, name: "transition\(block).conv")
                x = [g.averagePool(t, name: "transition\(block).pool")]
            }
        }
        let h = g.batchNorm(x, relu: true, name: "head.norm")
        let p = g.globalAveragePool(h, name: "head.pool")
        g.linear(p, outFeatures: c.classes, name: "head.fc")
    }

    // MARK: ResNet

    static func buildResNet(_ g: inout Graph, _ c: ModelConfiguration) {
        let stem = g.convolution([g.input], outChannels: c.stemChannels, kernel: 3, name: "stem.conv")
        var x = g.batchNorm([stem], relu: true, name: "stem.norm")
        var channels = c.stemChannels
        for stage in 1...3 {
            for block in 1...c.unitsPerStage {
                let prefix = "stage\(stage).block\(block)"
                let stride = (stage > 1 && block == 1) ? 2 : 1
                let c1 = g.convolution([x], outChannels: channels, kernel: 3, stride: stride, name: prefix + ".conv1")
                // conv2's fused pre-activation is the block's first BN + ReLU.
                let c2 = g.convolution([c1], outChannels: channels, kernel: 3, preactivation: true, name: prefix + ".conv2")
                let b2 = g.batchNorm([c2], relu: false, name: prefix + ".norm2")
                x = g.residual(b2, shortcut: x, relu: true, name: prefix + ".add")
            }
            channels *= 2
        }
        let p = g.globalAveragePool(x, name: "head.pool")
        g.linear(p, outFeatures: c.classes, name: "head.fc")
    }
}
