import Engine

/// Everything that determines a model's architecture. Built from a name such as
/// `sparsenet-40-24` or `densenet-bc-100-12`, then optionally adjusted by flags.
public struct ModelConfiguration: Codable, Hashable, Sendable {
    /// The architecture family.
    public var family: ModelFamily
    /// Depth L as in the papers' names (convolution and linear layers on the main path).
    public var depth: Int
    /// Growth rate k (DenseNet, SparseNet); ignored by ResNet.
    public var growthRate: Int
    /// Whether each dense/sparse layer has a BN-ReLU-Conv1×1(4k) bottleneck before its 3×3.
    public var bottleneck: Bool
    /// Fraction of channels a transition keeps (1 = none dropped; BC models use 0.5).
    public var compression: Double
    /// Channels of the stem convolution.
    public var stemChannels: Int
    /// Dropout after each dense/sparse layer's convolutions (0 = none).
    public var dropout: Float
    /// The reduction ratio R of a squeeze-and-excitation unit on every ResNet residual branch and
    /// every dense/sparse layer's new features (hidden width `max(1, ⌊C/R⌋)`); nil: no units.
    /// Optional, so configurations written before it existed decode unchanged and those without
    /// units are written without it.
    public var seRatio: Int?
    /// Whether every 3×3 convolution after the stem is depthwise-separable (Chollet, Xception): a
    /// depthwise 3×3 (with the 3×3's stride) then a pointwise 1×1, with nothing between them. True
    /// or nil (plain): optional, so configurations written before it existed decode unchanged and
    /// plain ones are written without it.
    public var separable: Bool?
    /// Number of classes.
    public var classes: Int
    /// Input channels, height and width.
    public var inputChannels = 3, inputHeight = 32, inputWidth = 32

    /// The models of the papers, each with a reference parameter count the tests check.
    public static let namedModels = [
        "resnet-20", "resnet-56", "resnet-110",
        "densenet-40-12", "densenet-100-12", "densenet-bc-100-12",
        "sparsenet-40-24", "sparsenet-100-24", "sparsenet-bc-100-24",
    ]

    /// The reduction ratio an `se-` name implies (Hu et al.'s default).
    public static let defaultSERatio = 16
    /// The largest reduction ratio accepted: any larger one already gives every unit of these
    /// models one hidden feature.
    public static let maximumSERatio = 1 << 20

    /// The model a run trains when no `--model` is given: the SparseNet notebooks' model.
    public static let defaultName = "sparsenet-40-24"

    /// Creates a configuration field by field.
    public init(family: ModelFamily, depth: Int, growthRate: Int = 12, bottleneck: Bool = false,
                compression: Double = 1, stemChannels: Int = 16, dropout: Float = 0, classes: Int = 10, seRatio: Int? = nil,
                separable: Bool = false) {
        self.family = family
        self.depth = depth
        self.growthRate = growthRate
        self.bottleneck = bottleneck
        self.compression = compression
        self.stemChannels = stemChannels
        self.dropout = dropout
        self.classes = classes
        self.seRatio = seRatio
        self.separable = separable ? true : nil
    }

    /// Whether the model's 3×3 convolutions after the stem are depthwise-separable.
    public var isSeparable: Bool { separable == true }

    /// The deepest model accepted: above ResNet-1202, the deepest CIFAR model in He et al. A
    /// model has at most about one layer per unit of depth, so this also bounds the layer count and
    /// keeps counting a model's footprint before building it cheap. A dense block's layers each
    /// list all earlier outputs, so that count grows with depth²: at the earlier limit of 10,000,
    /// `densenet-9010-2` took 38 s to validate in the fuzzing build (a finding of the model-name
    /// fuzzer, 2026-12-03); at 2,000 the deepest DenseNet takes under a fifth of that per block.
    public static let maximumDepth = 2_000
    /// The widest growth rate accepted (the papers use 12 to 48).
    public static let maximumGrowthRate = 4_096
    /// The widest stem accepted: twice the widest growth rate, so that the `2k` stem of every
    /// SparseNet and DenseNet-BC name within the growth limit is accepted.
    public static let maximumStemChannels = 2 * maximumGrowthRate
    /// The most classes accepted (ImageNet-21k has 21,841).
    public static let maximumClasses = 100_000
    /// The most input channels, and the largest input height or width, accepted.
    public static let maximumInputChannels = 4_096, maximumInputSize = 4_096

    /// Parses `[se-][sep-]family[-bc]-depth[-growth]` with the papers' defaults: DenseNet's stem has 16
    /// channels, DenseNet-BC's and SparseNet's have 2k; `-bc` means a bottleneck and compression 0.5;
    /// `se-` adds squeeze-and-excitation units with ratio 16 (`defaultSERatio`); `sep-` makes the
    /// 3×3 convolutions after the stem depthwise-separable (the two prefixes in either order).
    /// A number above its limit (even one too large for `Int`) is refused as out of range.
    public init(name: String) throws {
        var parts = name.lowercased().split(separator: "-", omittingEmptySubsequences: false).map(String.init)
        var se = false, sep = false
        while parts.count > 1, (parts[0] == "se" && !se) || (parts[0] == "sep" && !sep) {
            if parts.removeFirst() == "se" { se = true } else { sep = true }
        }
        guard let first = parts.first, let family = ModelFamily(rawValue: first) else {
            throw ModelError.unknownName(name)
        }
        var rest = Array(parts.dropFirst())
        let bc = rest.first == "bc"
        if bc { rest.removeFirst() }
        let isNumber = { (part: String) in Int(part) != nil || (!part.isEmpty && part.allSatisfy { $0.isASCII && $0.isNumber }) }
        guard rest.allSatisfy(isNumber) else { throw ModelError.unknownName(name) }
        // The number at `index`, checked against `maximum` before any arithmetic uses it.
        func number(_ index: Int, _ setting: String, maximum: Int) throws -> Int {
            guard let n = Int(rest[index]), n <= maximum else {
                throw ModelError.outOfRange(setting: setting, value: rest[index], maximum: maximum)
            }
            return n
        }
        guard let c = try family.architecture.configuration(bc: bc, numbers: rest.count, number: { i, setting, maximum in
            try number(i, setting, maximum: maximum)
        }) else { throw ModelError.unknownName(name) }
        self = c
        if se { seRatio = Self.defaultSERatio }
        if sep { separable = true }
        try validate()
    }

    /// The canonical name of this configuration, `se-` first when it has squeeze-and-excitation
    /// units, then `sep-` when its convolutions are depthwise-separable (e.g. `se-sep-resnet-20`;
    /// flags that differ from the name's defaults, the SE ratio among them, are not encoded).
    public var name: String {
        (seRatio == nil ? "" : "se-") + (isSeparable ? "sep-" : "") + family.architecture.name(self)
    }

    /// The hidden width of a squeeze-and-excitation unit over `channels`, or nil when the model has none.
    func squeezeExcitationHidden(channels: Int) -> Int? {
        seRatio.map { SqueezeExcitation.hiddenWidth(channels: channels, ratio: $0) }
    }

    /// Layers per dense/sparse block, or basic blocks per ResNet stage (0 below the family's smallest depth).
    public var unitsPerStage: Int { family.architecture.unitsPerStage(self) }

    /// Checks that the settings describe a buildable network whose sizes can all be counted.
    ///
    /// Every size is bounded before any arithmetic uses it, and the model's footprint is then
    /// counted with checked arithmetic, so that parameter counts, MACs and activation sizes of an
    /// accepted configuration fit in `Int`. A setting the family does not use is refused, naming it:
    /// a ResNet has no dense layers or transitions, so dropout, a bottleneck or a compression other
    /// than 1 would change nothing (its stored growth rate is ignored, as saved configurations have one).
    public func validate() throws {
        try checkSettings()
        _ = try footprint()
    }

    /// The checks of `validate` that need no counting.
    func checkSettings() throws {
        guard depth <= Self.maximumDepth else {
            throw ModelError.outOfRange(setting: "depth", value: "\(depth)", maximum: Self.maximumDepth)
        }
        try family.architecture.checkSettings(self)
        try Self.check("stem channels", stemChannels, atLeast: 1, atMost: Self.maximumStemChannels)
        guard dropout >= 0, dropout < 1 else {
            throw ModelError.invalidSetting(name: "dropout", value: "\(dropout)", rule: "must be in [0, 1)")
        }
        try Self.check("classes", classes, atLeast: 2, atMost: Self.maximumClasses)
        if let seRatio { try Self.check("squeeze-and-excitation ratio", seRatio, atLeast: 1, atMost: Self.maximumSERatio) }
        try Self.check("input channels", inputChannels, atLeast: 1, atMost: Self.maximumInputChannels)
        guard inputHeight % 4 == 0, inputWidth % 4 == 0, inputHeight >= 4, inputWidth >= 4 else {
            throw ModelError.invalidSetting(name: "input size", value: "\(inputHeight)×\(inputWidth)",
                                            rule: "height and width must be multiples of 4 (two 2× downsamplings)")
        }
        guard inputHeight <= Self.maximumInputSize, inputWidth <= Self.maximumInputSize else {
            throw ModelError.outOfRange(setting: "input size", value: "\(inputHeight)×\(inputWidth)",
                                        maximum: Self.maximumInputSize)
        }
    }

    /// Refuses `value` below `minimum` as invalid and above `maximum` as out of range.
    static func check(_ setting: String, _ value: Int, atLeast minimum: Int, atMost maximum: Int) throws {
        guard value >= minimum else {
            throw ModelError.invalidSetting(name: setting, value: "\(value)", rule: "must be at least \(minimum)")
        }
        guard value <= maximum else {
            throw ModelError.outOfRange(setting: setting, value: "\(value)", maximum: maximum)
        }
    }
}
