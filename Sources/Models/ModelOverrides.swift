/// Changes to a named model's settings, one per `ddptrain` model flag (`--growth-rate`, `--depth`,
/// `--bottleneck`/`--no-bottleneck`, `--compression`, `--stem-channels`, `--dropout`, `--se`, `--separable`); nil leaves
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
    /// `--se R`: squeeze-and-excitation units with reduction ratio R (on any family).
    public var seRatio: Int?
    /// `--separable`: depthwise-separable 3×3 convolutions after the stem (on any family).
    public var separable: Bool?

    /// Creates the overrides; every omitted setting is left alone.
    public init(growthRate: Int? = nil, depth: Int? = nil, bottleneck: Bool? = nil, compression: Double? = nil,
                stemChannels: Int? = nil, dropout: Float? = nil, seRatio: Int? = nil,
                separable: Bool? = nil) {
        self.growthRate = growthRate
        self.depth = depth
        self.bottleneck = bottleneck
        self.compression = compression
        self.stemChannels = stemChannels
        self.dropout = dropout
        self.seRatio = seRatio
        self.separable = separable
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
        try family.architecture.refuseUnused(overrides)
        var c = self
        if let growthRate = overrides.growthRate { c.growthRate = growthRate }
        if let depth = overrides.depth { c.depth = depth }
        if let bottleneck = overrides.bottleneck { c.bottleneck = bottleneck }
        if let compression = overrides.compression { c.compression = compression }
        if let stemChannels = overrides.stemChannels { c.stemChannels = stemChannels }
        if let dropout = overrides.dropout { c.dropout = dropout }
        if let seRatio = overrides.seRatio { c.seRatio = seRatio }
        if let separable = overrides.separable { c.separable = separable ? true : nil }
        try c.validate()
        return c
    }
}
