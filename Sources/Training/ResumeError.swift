/// Why a run cannot resume from a checkpoint.
public enum ResumeError: Error, CustomStringConvertible, Equatable {
    /// The metadata does not decode as a training state.
    case unreadableState(path: String, reason: String)
    /// The training state decodes but breaks a rule; `reason` names the file and the field.
    case invalidState(path: String, reason: String)
    /// `--resume auto` found checkpoints but none was usable.
    case noValidCheckpoint(directory: String, tried: Int)
    /// The global batch cannot be split over the new number of ranks.
    case worldSizeMismatch(path: String, globalBatch: Int, savedRanks: Int, ranks: Int, accumulateSteps: Int = 1)
    /// The checkpoint's batch-norm groups (`group:K` on `savedRanks` ranks, so savedRanks / K
    /// groups) cannot be kept on `ranks` ranks, which do not divide into that many equal groups.
    case batchNormGroups(path: String, ranksPerGroup: Int, savedRanks: Int, ranks: Int)
    /// Flags given on the command line contradict the checkpoint.
    case contradictingFlags(path: String, fields: [String])
    /// A tensor of the checkpoint does not fit the model.
    case tensorMismatch(path: String, name: String, reason: String)

    public var description: String {
        switch self {
        case .unreadableState(let path, let reason):
            return "\(path): the training state in the checkpoint cannot be read: \(reason); was it written by another tool or ddptrain version?"
        case .invalidState(_, let reason):
            return reason
        case .noValidCheckpoint(let directory, let tried):
            return "--resume auto: all \(tried) checkpoint(s) in \(directory) are unusable (see the warnings above); "
                + "remove them or pass --resume PATH"
        case .worldSizeMismatch(let path, let globalBatch, let savedRanks, let ranks, let steps):
            guard steps > 1 else {
                return "\(path) was written by \(savedRanks) rank(s) with global batch \(globalBatch), which \(ranks) ranks cannot split "
                    + "evenly; resume with a number of ranks that divides \(globalBatch) so the sample order and schedule stay the same"
            }
            return "\(path) was written by \(savedRanks) rank(s) × \(steps) accumulated micro-batches with global batch \(globalBatch), "
                + "which \(ranks) ranks × \(steps) micro-batches cannot split evenly; resume with a number of ranks that divides "
                + "\(globalBatch / steps) so the sample order and schedule stay the same"
        case .batchNormGroups(let path, let k, let savedRanks, let ranks):
            let groups = max(1, savedRanks / k)
            return "\(path) was trained with --bn-sync group:\(k) on \(savedRanks) ranks: \(groups) batch-norm groups, each "
                + "normalising its own 1/\(groups) of every global batch. A resume keeps those groups (and with them the "
                + "statistics), which \(ranks) rank(s) cannot split evenly; resume on a multiple of \(groups) ranks "
                + "(\((1...3).map { "\(groups * $0)" }.joined(separator: ", "))…), or start a new run in another --run-dir "
                + "(--init-from the checkpoint) to normalise over other groups"
        case .contradictingFlags(let path, let fields):
            return "flags contradict the checkpoint \(path) in: \(fields.joined(separator: ", ")). "
                + "Drop those flags to continue the saved run, start a new run in another --run-dir, or (for the recipe: "
                + "epochs, schedule, optimizer, augmentation) add --continue-with-changes"
        case .tensorMismatch(let path, let name, let reason):
            return "\(path): tensor \(name) \(reason); the file holds a different model"
        }
    }
}
