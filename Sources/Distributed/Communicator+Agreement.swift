/// The agreement steps ranks take before they act together: rank 0's value to every rank, a
/// vote on whether any rank has a problem, and a check that a value is the same everywhere.
/// Every rank must call each of them at the same point, as any collective.
extension Communicator {
    /// Rank 0's `bytes` on every rank.
    public func leaders(_ bytes: [UInt8]) -> [UInt8] {
        var copy = bytes
        broadcast(&copy)
        return copy
    }

    /// Rank 0's `text` on every rank.
    public func leaders(_ text: String) -> String {
        String(decoding: leaders([UInt8](text.utf8)), as: UTF8.self)
    }

    /// Whether `condition` holds on at least one rank: a vote that lets every rank stop together
    /// instead of leaving the others waiting in the next collective.
    public func anyRank(_ condition: Bool) -> Bool {
        var votes = [condition ? 1.0 : 0.0]
        sumAcrossRanks(&votes, count: 1)
        return votes[0] > 0
    }

    /// Whether `value` is the same on every rank.
    public func everyRankHolds(_ value: UInt64) -> Bool {
        let (low, high) = range(of: value)
        return low == high
    }
}
