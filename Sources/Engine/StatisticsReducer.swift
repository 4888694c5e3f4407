/// Adds per-channel batch-norm statistics across the processes of a distributed run, so that
/// every rank normalises with the statistics of the global batch (synchronised batch norm).
///
/// The engine calls it once per batch-norm layer in the forward pass (Σ(x−K), Σ(x−K)², count)
/// and once in the backward pass (Σdz, Σdz·x̂), always in layer order, so every rank issues the
/// same collectives in the same order.
public protocol StatisticsReducer: AnyObject {
    /// Replaces `values[0..<count]` by their element-wise sum over all ranks.
    func sumAcrossRanks(_ values: UnsafeMutablePointer<Double>, count: Int)
}
