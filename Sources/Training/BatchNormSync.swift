/// How batch norm computes training statistics when several ranks share a global batch.
///
/// Flags, `config.json` and checkpoints spell it as one string: `batch`, `local`, `group:K` or
/// `node` (files written before groups existed hold only the first two, which read unchanged).
/// Whatever the mode, the gradients are summed over all ranks; the mode decides only which
/// ranks' samples a batch-norm layer normalises together.
public enum BatchNormSync: Hashable, Sendable {
    /// Statistics of the global batch: per-channel sums are all-reduced in forward and backward,
    /// so N ranks compute exactly what one process with the global batch would.
    case batch
    /// Statistics of each rank's own samples (no communication); running statistics are averaged
    /// across ranks before every evaluation and checkpoint.
    case local
    /// Statistics of groups of `ranksPerGroup` consecutive ranks (0..<K, K..<2K, …): the sums are
    /// all-reduced within the group only. `group(1)` computes what `local` does and a group of
    /// every rank what `batch` does; running statistics are averaged as with `local`.
    case group(ranksPerGroup: Int)
    /// Statistics of the ranks that share a host (MPI's shared-memory split), however many each
    /// host runs; running statistics are averaged as with `local`.
    case node

    /// Reads a spelling: `batch`, `local`, `node`, or `group:K` with K a whole number of ranks
    /// from 1 to `TrainingConfiguration.Limits.worldSize`, written without sign or leading zeros
    /// (so that every value has one spelling, which ranks compare and files store).
    public init(parsing text: String) throws(BatchNormSyncError) {
        switch text {
        case "batch": self = .batch
        case "local": self = .local
        case "node": self = .node
        default:
            let prefix = "group:"
            guard text.hasPrefix(prefix) else { throw .unknownMode(text) }
            let digits = text.dropFirst(prefix.count)
            guard digits.allSatisfy({ $0.isASCII && $0.isNumber }), let k = Int(digits), String(k) == digits,
                  (1...TrainingConfiguration.Limits.worldSize).contains(k) else {
                throw .invalidGroupSize(text)
            }
            self = .group(ranksPerGroup: k)
        }
    }

    /// The number of ranks per group of `group:K`; nil for the other modes.
    public var ranksPerGroup: Int? {
        if case .group(let k) = self { return k }
        return nil
    }

    /// Checks the mode against the run's `worldSize` ranks: `group:K` needs K to divide it, so
    /// that every group has K ranks.
    public func validate(worldSize: Int) throws(ConfigurationProblem) {
        guard let k = ranksPerGroup, worldSize % k != 0 else { return }
        let divisors = (1...max(1, worldSize)).filter { worldSize % $0 == 0 }.prefix(8).map { "group:\($0)" }
        throw ConfigurationProblem(
            flag: "--bn-sync", field: "batchNormSync", value: rawValue,
            rule: "groups of \(k) consecutive ranks need a number of ranks divisible by \(k), and this run has \(worldSize) "
                + "rank(s); give a K that divides \(worldSize) (\(divisors.joined(separator: ", "))), node, local or batch, "
                + "or start \(k * max(1, (worldSize + k - 1) / k)) ranks")
    }
}

extension BatchNormSync: RawRepresentable {
    /// The mode's one spelling, as flags, `config.json` and checkpoints write it.
    public var rawValue: String {
        switch self {
        case .batch: return "batch"
        case .local: return "local"
        case .group(let k): return "group:\(k)"
        case .node: return "node"
        }
    }

    /// The mode `rawValue` spells, or nil (`init(parsing:)` says why).
    public init?(rawValue: String) {
        guard let mode = try? BatchNormSync(parsing: rawValue) else { return nil }
        self = mode
    }
}

extension BatchNormSync: Codable {
    /// Decodes the single string of `config.json` and checkpoints, with the reason when it is not
    /// a mode.
    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do { self = try BatchNormSync(parsing: text) } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "\(error)")
        }
    }

    /// Encodes the mode as its spelling.
    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
