import ArgumentParser
import Models

/// Flags that choose a model by name and adjust its architecture.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "Model name, e.g. sparsenet-40-24, densenet-bc-100-12, resnet-20 (default: sparsenet-40-24).")
    var model: String?

    @Option(name: .long, help: "Override the growth rate k.")
    var growthRate: Int?

    @Option(name: .long, help: "Override the depth L.")
    var depth: Int?

    @Flag(name: .long, inversion: .prefixedNo, help: "Add (or with --no-bottleneck remove) the 1×1 bottleneck in each layer.")
    var bottleneck: Bool?

    @Option(name: .long, help: "Fraction of channels each transition keeps, in (0, 1].")
    var compression: Double?

    @Option(name: .long, help: "Channels of the stem convolution.")
    var stemChannels: Int?

    @Option(name: .long, help: "Dropout rate after each dense/sparse layer's convolutions.")
    var dropout: Float?

    /// Whether any model flag was given.
    var isGiven: Bool {
        model != nil || growthRate != nil || depth != nil || bottleneck != nil || compression != nil
            || stemChannels != nil || dropout != nil
    }

    /// The resolved configuration, validated.
    func configuration(name: String? = nil) throws -> ModelConfiguration {
        var c = try ModelConfiguration(name: name ?? model ?? "sparsenet-40-24")
        if let growthRate { c.growthRate = growthRate }
        if let depth { c.depth = depth }
        if let bottleneck { c.bottleneck = bottleneck }
        if let compression { c.compression = compression }
        if let stemChannels { c.stemChannels = stemChannels }
        if let dropout { c.dropout = dropout }
        try c.validate()
        return c
    }
}
