/// Why a text is not a batch-norm mode (`--bn-sync`, or the `batchNormSync` of a file).
public enum BatchNormSyncError: Error, CustomStringConvertible, Equatable, Sendable {
    /// Not one of the spellings.
    case unknownMode(String)
    /// `group:` followed by something other than a whole number of ranks in range.
    case invalidGroupSize(String)

    public var description: String {
        switch self {
        case .unknownMode(let text):
            return "'\(text)' is not a batch-norm mode: give batch (the global batch), local (each rank's samples), "
                + "group:K (groups of K consecutive ranks) or node (the ranks of each host)"
        case .invalidGroupSize(let text):
            return "'\(text)': K in group:K is the number of ranks per group, a whole number from 1 to "
                + "\(TrainingConfiguration.Limits.worldSize) written with digits only, e.g. group:2"
        }
    }
}
