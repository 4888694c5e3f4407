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

    /// Creates a configuration field by field.
    public init(family: ModelFamily, depth: Int, growthRate: Int = 12, bottleneck: Bool = false,
                compression: Double = 1, stemChannels: Int = 16, dropout: Float = 0, classes: Int = 10) {
        self.family = family
        self.depth = depth
        self.growthRate = growthRate
        self.bottleneck = bottleneck
        self.compression = compression
        self.stemChannels = stemChannels
        self.dropout = dropout
        self.classes = classes
    }

    /// Parses `family[-bc]-depth[-growth]` with the papers' defaults: DenseNet's stem has 16
    /// channels, DenseNet-BC's and SparseNet's have 2k; `-bc` means a bottleneck and compression 0.5.
    public init(name: String) throws {
        let parts = name.lowercased().split(separator: "-").map(String.init)
        guard let first = parts.first, let family = ModelFamily(rawValue: first) else {
            throw ModelError.unknownName(name)
        }
        var rest = Array(parts.dropFirst())
        let bc = rest.first == "bc"
        if bc { rest.removeFirst() }
        let numbers = rest.compactMap { Int($0) }
        guard numbers.count == rest.count else { throw ModelError.unknownName(name) }
        switch family {
        case .resnet:
            guard !bc, numbers.count == 1 else { throw ModelError.unknownName(name) }
            self.init(family: .resnet, depth: numbers[0], stemChannels: 16)
        case .densenet, .sparsenet:
            guard numbers.count == 2 else { throw ModelError.unknownName(name) }
            let k = numbers[1]
            let stem = (family == .densenet && !bc) ? 16 : 2 * k
            self.init(family: family, depth: numbers[0], growthRate: k, bottleneck: bc,
                      compression: bc ? 0.5 : 1, stemChannels: stem)
        }
        try validate()
    }

    /// The canonical name of this configuration (flags that differ from the name's defaults are not encoded).
    public var name: String {
        switch family {
        case .resnet: return "resnet-\(depth)"
        case .densenet, .sparsenet:
            return "\(family.rawValue)\(bottleneck && compression < 1 ? "-bc" : "")-\(depth)-\(growthRate)"
        }
    }

    /// Layers per dense/sparse block, or basic blocks per ResNet stage.
    public var unitsPerStage: Int {
        switch family {
        case .resnet: return (depth - 2) / 6
        case .densenet, .sparsenet: return (depth - 4) / (bottleneck ? 6 : 3)
        }
    }

    /// Checks that the settings describe a buildable network.
    public func validate() throws {
        switch family {
        case .resnet:
            guard depth >= 8, (depth - 2) % 6 == 0 else {
                throw ModelError.invalidDepth(family: family, depth: depth, rule: "ResNet depth must be 6n+2 with n ≥ 1 (20, 56, 110)")
            }
        case .densenet, .sparsenet:
            let per = bottleneck ? 6 : 3
            guard depth > 4, (depth - 4) % per == 0 else {
                throw ModelError.invalidDepth(family: family, depth: depth,
                                              rule: "depth must be \(per)n+4 with n ≥ 1\(bottleneck ? " when a bottleneck is used" : "")")
            }
            guard growthRate >= 1 else {
                throw ModelError.invalidSetting(name: "growth rate", value: "\(growthRate)", rule: "must be at least 1")
            }
            guard compression > 0, compression <= 1 else {
                throw ModelError.invalidSetting(name: "compression", value: "\(compression)", rule: "must be in (0, 1]")
            }
        }
        guard stemChannels >= 1 else {
            throw ModelError.invalidSetting(name: "stem channels", value: "\(stemChannels)", rule: "must be at least 1")
        }
        guard dropout >= 0, dropout < 1 else {
            throw ModelError.invalidSetting(name: "dropout", value: "\(dropout)", rule: "must be in [0, 1)")
        }
        guard classes >= 2 else {
            throw ModelError.invalidSetting(name: "classes", value: "\(classes)", rule: "must be at least 2")
        }
        guard inputHeight % 4 == 0, inputWidth % 4 == 0, inputHeight >= 4, inputWidth >= 4 else {
            throw ModelError.invalidSetting(name: "input size", value: "\(inputHeight)×\(inputWidth)",
                                            rule: "height and width must be multiples of 4 (two 2× downsamplings)")
        }
    }
}
