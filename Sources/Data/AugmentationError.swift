/// Why an augmentation list such as `--augment crop,flip` could not be parsed.
public enum AugmentationError: Error, CustomStringConvertible, Equatable {
    /// A name in the list is not one of `AugmentationOptions.kindNames`.
    case unknownKind(String)

    public var description: String {
        switch self {
        case .unknownKind(let name):
            return "unknown augmentation '\(name)': use a comma-separated list of "
                + AugmentationOptions.kindNames.joined(separator: ", ")
                + " (e.g. --augment crop,flip), or none"
        }
    }
}
