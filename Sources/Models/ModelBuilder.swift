import Engine

/// Builds the graph of a model configuration by its family's definition (`ResNet`, `DenseNet`,
/// `SparseNet`; DenseNet and SparseNet share `AggregatingFamily`'s block builder).
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

    /// Describes the model of `configuration` into `g`, layer by layer, by its family's definition.
    static func describe<G: ModelGraph>(_ configuration: ModelConfiguration, into g: inout G) throws {
        try configuration.family.architecture.describe(&g, configuration)
    }

    /// Which earlier outputs a layer of `family` reads, given the outputs so far `[block input, y1,
    /// y2, …]`: all of them for DenseNet, those 1, 2, 4, 8, … back for SparseNet (see their files).
    public static func aggregation<Value>(_ family: ModelFamily, _ outputs: [Value]) -> [Value] {
        guard let aggregating = family.architecture as? any AggregatingFamily.Type else { return outputs }
        return aggregating.aggregation(outputs)
    }
}
