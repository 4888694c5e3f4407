import Distributed

extension BatchNormSync {
    /// The ranks this rank sums batch-norm statistics with under this mode, as a communicator:
    /// all of `communicator` for `batch`, its group of K consecutive ranks for `group:K`, the
    /// ranks of its host for `node`; nil when it normalises its own samples alone (`local`,
    /// `group:1`, one rank, or the only rank of its host).
    ///
    /// Collective for `group:K` with K > 1 and for `node` (it splits `communicator`): every rank
    /// calls it at the same point, with the same mode. K should divide the number of ranks
    /// (`validate(worldSize:)`); otherwise the last group is smaller.
    public func statisticsGroup(in communicator: Communicator) -> Communicator? {
        guard communicator.size > 1 else { return nil }
        let group: Communicator
        switch self {
        case .local:
            return nil
        case .batch:
            group = communicator
        case .group(let k):
            guard k > 1 else { return nil }
            group = communicator.split(color: communicator.rank / k)
        case .node:
            group = communicator.splitByHost()
        }
        return group.size > 1 ? group : nil
    }
}
