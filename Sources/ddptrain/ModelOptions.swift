import ArgumentParser
import Models  // the flags parse into Models' ModelConfiguration

/// Flags that choose a model by name and adjust its architecture.
///
/// A flag the chosen family does not use is refused, naming it, rather than ignored: a ResNet has no
/// dense layers or transitions, so `--growth-rate`, `--bottleneck`, `--compression` and `--dropout`
/// are errors on one (see `ModelConfiguration.applying(_:)`).
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "Model name, e.g. sparsenet-40-24, densenet-bc-100-12, resnet-20, se-resnet-20, sep-sparsenet-40-24 (default: \(ModelConfiguration.defaultName)).")
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

    @Option(name: .long, help: ArgumentHelp("Add squeeze-and-excitation units with reduction ratio R (hidden width max(1, C/R)) to every residual branch or dense/sparse layer; se-<model> names imply 16.", valueName: "R"))
    var se: Int?

    @Flag(name: .long, help: "Make every 3×3 convolution after the stem depthwise-separable (depthwise 3×3, then pointwise 1×1, as in Xception); sep-<model> names imply it.")
    var separable = false

    /// The architecture flags given, as overrides of the named model's settings.
    var overrides: ModelOverrides {
        ModelOverrides(growthRate: growthRate, depth: depth, bottleneck: bottleneck, compression: compression,
                       stemChannels: stemChannels, dropout: dropout, seRatio: se,
                       separable: separable ? true : nil)
    }

    /// Whether any model flag was given.
    var isGiven: Bool { model != nil || !overrides.isEmpty }

    /// The resolved configuration, validated.
    func configuration(name: String? = nil) throws -> ModelConfiguration {
        try ModelConfiguration(name: name ?? model ?? ModelConfiguration.defaultName).applying(overrides)
    }
}
