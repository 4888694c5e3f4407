import Engine

/// The processes of a run and the collectives between them.
///
/// Training code talks only to this protocol, so a plain `ddptrain train` (one process) and
/// `mpirun -np N ddptrain train` take the same code path. Every collective must be called by all
/// ranks in the same order; the trainer guarantees that by making every such call from the
/// same sequence of steps on every rank.
public protocol Communicator: StatisticsReducer {
    /// This process's rank, 0 ..< size.
    var rank: Int { get }
    /// Number of processes.
    var size: Int { get }

    /// Replaces `values` by their element-wise sum over all ranks.
    func sumAcrossRanks(_ values: UnsafeMutablePointer<Float>, count: Int)
    /// Replaces `values` by their element-wise sum over all ranks.
    func sumAcrossRanks(_ values: UnsafeMutablePointer<Double>, count: Int)
    /// The minimum and maximum of `value` over all ranks.
    func range(of value: UInt64) -> (min: UInt64, max: UInt64)
    /// Copies rank 0's `values` to every rank.
    func broadcast(_ values: UnsafeMutablePointer<Float>, count: Int)
    /// Copies rank 0's bytes to every rank (whose arrays may have any length before the call).
    func broadcast(_ bytes: inout [UInt8])

    /// Starts summing `values` over all ranks in place without waiting; `waitAll` completes it.
    func startSum(_ values: UnsafeMutablePointer<Float>, count: Int)
    /// Starts summing the bfloat16 patterns `values` (`BFloat16`) over all ranks in place without
    /// waiting; `waitAll` completes it. Pairs are added in float32 and each partial sum rounded
    /// back to bfloat16; every rank ends with the same patterns.
    func startBFloat16Sum(_ values: UnsafeMutablePointer<UInt16>, count: Int)
    /// Lets started sums make progress (MPI progresses them only inside MPI calls).
    func progress()
    /// Waits until every started sum has completed.
    func waitAll()

    /// The ranks that give the same `color` as this one, as a communicator of their own, ordered
    /// by rank (`MPI_Comm_split`): for collectives among a group, such as batch-norm statistics
    /// over groups of ranks. Collective: every rank calls it at the same point.
    func split(color: Int) -> Communicator
    /// The ranks on this one's host, as a communicator of their own, ordered by rank
    /// (`MPI_Comm_split_type` with `MPI_COMM_TYPE_SHARED`). Collective, as `split`.
    func splitByHost() -> Communicator

    /// Prints `rank K: message` to standard error and ends the whole job with exit status
    /// `status` (non-zero; `mpirun` reports it).
    func abort(_ message: String, status: Int32) -> Never
}

extension Communicator {
    /// Prints `rank K: message` and ends the whole job with status 1 (a run failure).
    public func abort(_ message: String) -> Never { abort(message, status: 1) }

    /// Whether this process prints progress and writes files (rank 0).
    public var isLeader: Bool { rank == 0 }
}
