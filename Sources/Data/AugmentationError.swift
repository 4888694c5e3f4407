/// Why an augmentation list such as `--augment crop,flip` could not be parsed.
public enum AugmentationError: Error, CustomStringConvertible, Equatable {
    /// A name in the list is not one of `AugmentationOptions.kindNames`.
    case unknownKind(String)
    /// `list` names `none` and also some kind to turn on, which contradict each other.
    case noneWithOthers(list: String)
    /// The kind `kind` (lower-cased) is named more than once in `list`.
    case repeatedKind(String, list: String)

    /// The message shown to the user: what is wrong with the list and how to write it.
    public var description: String {
        switch self {
        case .unknownKind(let name):
            return "unknown augmentation '\(name)': use a comma-separated list of "
                + AugmentationOptions.kindNames.joined(separator: ", ")
                + " (e.g. --augment crop,flip), or none"
        case .noneWithOthers(let list):
            return "augmentation list '\(list)' names none together with other kinds: none turns "
                + "every augmentation off, so give either none alone or the kinds to turn on "
                + "(e.g. --augment crop,flip)"
        case .repeatedKind(let kind, let list):
            return "augmentation list '\(list)' names \(kind) more than once: name each kind once "
                + "(e.g. --augment crop,flip)"
        }
    }
}
