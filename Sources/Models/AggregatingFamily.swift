/// The families built from dense blocks (DenseNet, SparseNet): a 3×3 stem, three blocks of
/// layers that each read a channel concatenation of earlier outputs, transitions between blocks,
/// and a BN-ReLU, global-pooling, linear head. They share names (`family[-bc]-depth-k`), depth
/// rules and this builder, and differ in which earlier outputs a layer reads (`aggregation`) and
/// in the stem's default width.
protocol AggregatingFamily: ArchitectureFamily {
    /// The family this definition is for.
    static var family: ModelFamily { get }
    /// The stem's channels a name implies, for growth rate `k`, with or without `-bc`.
    static func defaultStemChannels(bc: Bool, growthRate k: Int) -> Int
    /// Which earlier outputs a layer reads, given the outputs so far `[block input, y1, y2, …]`,
    /// nearest first or in order as the family's paper has them.
    static func aggregation<Value>(_ outputs: [Value]) -> [Value]
}

extension AggregatingFamily {
    static func configuration(bc: Bool, numbers: Int, number: (Int, String, Int) throws -> Int) throws -> ModelConfiguration? {
        guard numbers == 2 else { return nil }
        let depth = try number(0, "depth", ModelConfiguration.maximumDepth)
        let k = try number(1, "growth rate", ModelConfiguration.maximumGrowthRate)
        return ModelConfiguration(family: family, depth: depth, growthRate: k, bottleneck: bc, compression: bc ? 0.5 : 1,
                                  stemChannels: defaultStemChannels(bc: bc, growthRate: k))
    }

    static func name(_ c: ModelConfiguration) -> String {
        "\(family.rawValue)\(c.bottleneck && c.compression < 1 ? "-bc" : "")-\(c.depth)-\(c.growthRate)"
    }

    static func unitsPerStage(_ c: ModelConfiguration) -> Int { (max(c.depth, 4) - 4) / (c.bottleneck ? 6 : 3) }

    static func checkSettings(_ c: ModelConfiguration) throws {
        let per = c.bottleneck ? 6 : 3
        guard c.depth > 4, (c.depth - 4) % per == 0 else {
            throw ModelError.invalidDepth(family: family, depth: c.depth,
                                          rule: "depth must be \(per)n+4 with n ≥ 1\(c.bottleneck ? " when a bottleneck is used" : "")")
        }
        try ModelConfiguration.check("growth rate", c.growthRate, atLeast: 1, atMost: ModelConfiguration.maximumGrowthRate)
        guard c.compression > 0, c.compression <= 1 else {
            throw ModelError.invalidSetting(name: "compression", value: "\(c.compression)", rule: "must be in (0, 1]")
        }
    }

    static func describe<G: ModelGraph>(_ g: inout G, _ c: ModelConfiguration) throws {
        var x = [try g.convolution([g.input], outChannels: c.stemChannels, kernel: 3, stride: 1, preactivation: false,
                                   name: "stem")]
        for block in 1...3 {
            var outputs = x
            for layer in 1...unitsPerStage(c) {
                // The layer reads a temporary list, gone before `append`: a list still alive
                // would make every append copy `outputs`, quadratic in depth.
                let y = try denseLayer(&g, c, inputs: aggregation(outputs), prefix: "block\(block).layer\(layer)")
                outputs.append(y)
            }
            x = aggregation(outputs)
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

    /// One layer over `inputs`: [BN-ReLU-Conv1×1(4k), dropout,] BN-ReLU-Conv3×3(k) (separable:
    /// BN-ReLU-Depthwise3×3-Conv1×1(k)), dropout, and a
    /// squeeze-and-excitation unit on the k new features before they join any concatenation.
    static func denseLayer<G: ModelGraph>(_ g: inout G, _ c: ModelConfiguration, inputs: [G.Value],
                                          prefix: String) throws -> G.Value {
        var inputs = inputs
        if c.bottleneck {
            var b = try g.convolution(inputs, outChannels: 4 * c.growthRate, kernel: 1, stride: 1, preactivation: true,
                                      name: prefix + ".bottleneck")
            if c.dropout > 0 { b = try g.dropout(b, rate: c.dropout, name: prefix + ".bottleneck.dropout") }
            inputs = [b]
        }
        var y = try g.convolution3x3(inputs, c, outChannels: c.growthRate, stride: 1, preactivation: true,
                                     name: prefix + ".conv")
        if c.dropout > 0 { y = try g.dropout(y, rate: c.dropout, name: prefix + ".dropout") }
        if let hidden = c.squeezeExcitationHidden(channels: c.growthRate) {
            y = try g.squeezeExcitation(y, hidden: hidden, name: prefix + ".se")
        }
        return y
    }
}
