/// Why a model could not be built from a name or flags; each message says what to change.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    /// The name does not follow `family[-bc]-depth[-growth]`.
    case unknownName(String)
    /// The depth does not give a whole number of layers per block.
    case invalidDepth(family: ModelFamily, depth: Int, rule: String)
    /// A numeric setting is out of range.
    case invalidSetting(name: String, value: String, rule: String)

    public var description: String {
        switch self {
        case .unknownName(let name):
            return "unknown model '\(name)': expected sparsenet-<depth>-<growth>, sparsenet-bc-<depth>-<growth>, "
                + "densenet-<depth>-<growth>, densenet-bc-<depth>-<growth> or resnet-<depth> "
                + "(e.g. \(ModelConfiguration.namedModels.joined(separator: ", ")))"
        case .invalidDepth(let family, let depth, let rule):
            return "\(family.rawValue) depth \(depth) is not valid: \(rule)"
        case .invalidSetting(let name, let value, let rule):
            return "\(name) \(value) is not valid: \(rule)"
        }
    }
}
