/// Changes to a named model's settings, one per `ddptrain` model flag (`--growth-rate`, `--depth`,
/// `--bottleneck`/`--no-bottleneck`, `--compression`, `--stem-channels`, `--dropout`); nil leaves
/// the setting as the name gives it.
public struct ModelOverrides: Hashable, Sendable {
    /// `--growth-rate`.
    public var growthRate: Int?
    /// `--depth`.
    public var depth: Int?
    /// `--bottleneck` (true) or `--no-bottleneck` (false).
    public var bottleneck: Bool?
    /// `--compression`.
    public var compression: Double?
    /// `--stem-channels`.
    public var stemChannels: Int?
    /// `--dropout`.
    public var dropout: Float?

    /// Creates the overrides; every omitted setting is left alone.
    public init(growthRate: Int? = nil, depth: Int? = nil, bottleneck: Bool? = nil, compression: Double? = nil,
                stemChannels: Int? = nil, dropout: Float? = nil) {
        self.growthRate = growthRate
        self.depth = depth
        self.bottleneck = bottleneck
        self.compression = compression
        self.stemChannels = stemChannels
        self.dropout = dropout
    }

    /// Whether any setting is overridden.
    public var isEmpty: Bool { self == ModelOverrides() }
}

extension ModelConfiguration {
    /// This configuration with `overrides` applied, validated.
    ///
    /// A flag the family does not use is refused, naming it, whatever its value: a ResNet has no
    /// dense layers or transitions, so `--growth-rate`, `--bottleneck`/`--no-bottleneck`,
    /// `--compression` and `--dropout` would change nothing on one.
    public func applying(_ overrides: ModelOverrides) throws -> ModelConfiguration {
        if family == .resnet {
            let given: [(ResNetUnusedSetting, String?)] = [
                (.growthRate, overrides.growthRate.map { _ in "--growth-rate" }),
                (.bottleneck, overrides.bottleneck.map { $0 ? "--bottleneck" : "--no-bottleneck" }),
                (.compression, overrides.compression.map { _ in "--compression" }),
                (.dropout, overrides.dropout.map { _ in "--dropout" }),
            ]
            for case let (setting, flag?) in given { throw setting.error(naming: flag) }
        }
        var c = self
        if let growthRate = overrides.growthRate { c.growthRate = growthRate }
        if let depth = overrides.depth { c.depth = depth }
        if let bottleneck = overrides.bottleneck { c.bottleneck = bottleneck }
        if let compression = overrides.compression { c.compression = compression }
        if let stemChannels = overrides.stemChannels { c.stemChannels = stemChannels }
        if let dropout = overrides.dropout { c.dropout = dropout }
        try c.validate()
        return c
    }
}

/// The settings only DenseNet and SparseNet use, and why a ResNet has no use for each.
enum ResNetUnusedSetting {
    case growthRate, bottleneck, compression, dropout

    /// Why a ResNet does not use the setting.
    var reason: String {
        switch self {
        case .growthRate: return "ResNet has no dense layers to grow (its width is set by --stem-channels)"
        case .bottleneck: return "ResNet has no dense layers to put a 1×1 bottleneck in"
        case .compression: return "ResNet has no transitions to compress"
        case .dropout: return "ResNet has no dense layers to apply dropout after"
        }
    }

    /// The error refusing the setting, `setting` naming it as given (a flag, or a name and value).
    func error(naming setting: String) -> ModelError {
        .unusedSetting(family: .resnet, setting: setting, reason: reason)
    }
}
