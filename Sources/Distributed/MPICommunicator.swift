import CMPI
import Foundation

/// A communicator over OpenMPI's `MPI_COMM_WORLD`, or over a group of its ranks (`split`).
///
/// MPI is initialised with `MPI_THREAD_FUNNELED`: only the main thread calls MPI (the compute
/// pool's workers and the data thread never do). Errors make MPI calls return instead of
/// aborting inside the library, so a failure becomes a `rank K: …` message and an `MPI_Abort`.
public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int
    /// The MPI communicator: `MPI_COMM_WORLD`, or a group's made by `split` or `splitByHost`.
    private let comm: MPI_Comm?
    /// This process's rank in `MPI_COMM_WORLD`, which messages name.
    private let worldRank: Int
    /// The groups split off this communicator, freed by `finalize` (world only).
    private var groups: [MPICommunicator] = []
    private var pending: [MPI_Request?] = []
    /// The bfloat16 sum as an MPI operation (`bfloat16Sum`), created with the world communicator,
    /// shared with its groups and freed by `finalize`.
    private let bfloat16Operation: MPI_Op?

    /// Whether this process was started by `mpirun` (Open MPI sets these variables).
    public static var launchedByMPIRun: Bool {
        let env = ProcessInfo.processInfo.environment
        return env["OMPI_COMM_WORLD_SIZE"] != nil || env["PMIX_RANK"] != nil
    }

    /// Initialises MPI and checks the thread level it grants.
    public init() {
        var provided: Int32 = 0
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        let status = MPI_Init_thread(&argc, &argv, ddp_thread_funneled(), &provided)
        guard status == ddp_success() else {
            FileHandle.standardError.write(Data("error: MPI_Init_thread failed with code \(status)\n".utf8))
            exit(1)
        }
        MPI_Comm_set_errhandler(ddp_comm_world(), ddp_errors_return())
        var r: Int32 = 0, s: Int32 = 0
        MPI_Comm_rank(ddp_comm_world(), &r)
        MPI_Comm_size(ddp_comm_world(), &s)
        rank = Int(r)
        size = Int(s)
        comm = ddp_comm_world()
        worldRank = rank
        bfloat16Operation = Self.bfloat16Sum()
        if provided < ddp_thread_funneled() {
            abort("MPI granted thread level \(provided), below MPI_THREAD_FUNNELED (\(ddp_thread_funneled())) which ddptrain needs")
        }
        if bfloat16Operation == nil { abort("MPI_Op_create failed for the bfloat16 sum") }
    }

    /// The reduction of bfloat16 gradients: pairs added in float32 and rounded back
    /// (`BFloat16.accumulate`). Declared commutative, which it is bit for bit, so MPI may use the
    /// same algorithms as for `MPI_SUM`; like float addition it is not associative, and, as with
    /// `MPI_SUM`, Open MPI's all-reduce algorithms give every rank the same result regardless.
    private static func bfloat16Sum() -> MPI_Op? {
        var operation: MPI_Op? = ddp_op_null()
        let status = MPI_Op_create({ input, accumulator, length, _ in
            guard let input, let accumulator, let length else { return }
            BFloat16.accumulate(input.assumingMemoryBound(to: UInt16.self), into: accumulator.assumingMemoryBound(to: UInt16.self),
                                count: Int(length.pointee))
        }, 1, &operation)
        return status == ddp_success() ? operation : nil
    }

    /// A group's communicator: `comm`, made from the world communicator of rank `worldRank`.
    private init(group comm: MPI_Comm?, worldRank: Int, bfloat16Operation: MPI_Op?) {
        self.comm = comm
        self.worldRank = worldRank
        self.bfloat16Operation = bfloat16Operation
        var r: Int32 = 0, s: Int32 = 0
        MPI_Comm_rank(comm, &r)
        MPI_Comm_size(comm, &s)
        rank = Int(r)
        size = Int(s)
    }

    /// Ends MPI cleanly after a successful run (on the world communicator, after freeing the
    /// groups split off it).
    public func finalize() {
        precondition(comm == ddp_comm_world(), "finalize ends MPI: call it on the world communicator")
        waitAll()
        for group in groups {
            group.waitAll()
            var handle = group.comm
            MPI_Comm_free(&handle)
        }
        groups.removeAll()
        var operation = bfloat16Operation
        MPI_Op_free(&operation)
        MPI_Finalize()
    }

    /// The ranks of `color`, ordered by rank (`MPI_Comm_split`, key = rank); freed by `finalize`.
    public func split(color: Int) -> Communicator {
        var group: MPI_Comm? = ddp_comm_null()
        check(MPI_Comm_split(comm, Int32(truncatingIfNeeded: color), Int32(rank), &group), "MPI_Comm_split")
        return adopt(group)
    }

    /// The ranks on this host, ordered by rank (`MPI_Comm_split_type`, `MPI_COMM_TYPE_SHARED`);
    /// freed by `finalize`.
    public func splitByHost() -> Communicator {
        var group: MPI_Comm? = ddp_comm_null()
        check(MPI_Comm_split_type(comm, ddp_comm_type_shared(), Int32(rank), ddp_info_null(), &group), "MPI_Comm_split_type")
        return adopt(group)
    }

    /// Wraps a communicator `split` made, with errors returned as on the world communicator, and
    /// keeps it for `finalize` to free.
    private func adopt(_ group: MPI_Comm?) -> MPICommunicator {
        MPI_Comm_set_errhandler(group, ddp_errors_return())
        let communicator = MPICommunicator(group: group, worldRank: worldRank, bfloat16Operation: bfloat16Operation)
        groups.append(communicator)
        return communicator
    }

    private func check(_ status: Int32, _ what: String) {
        guard status != ddp_success() else { return }
        var length: Int32 = 0
        var text = [CChar](repeating: 0, count: Int(MPI_MAX_ERROR_STRING) + 1)
        MPI_Error_string(status, &text, &length)
        let bytes = text.prefix(Int(length)).map { UInt8(bitPattern: $0) }
        abort("\(what) failed: \(String(decoding: bytes, as: UTF8.self))")
    }

    public func sumAcrossRanks(_ values: UnsafeMutablePointer<Float>, count: Int) {
        guard size > 1, count > 0 else { return }
        check(MPI_Allreduce(ddp_in_place(), values, Int32(count), ddp_float(), ddp_sum(), comm), "MPI_Allreduce")
    }

    public func sumAcrossRanks(_ values: UnsafeMutablePointer<Double>, count: Int) {
        guard size > 1, count > 0 else { return }
        check(MPI_Allreduce(ddp_in_place(), values, Int32(count), ddp_double(), ddp_sum(), comm), "MPI_Allreduce")
    }

    public func range(of value: UInt64) -> (min: UInt64, max: UInt64) {
        var low = value, high = value
        check(MPI_Allreduce(ddp_in_place(), &low, 1, ddp_uint64(), ddp_min(), comm), "MPI_Allreduce")
        check(MPI_Allreduce(ddp_in_place(), &high, 1, ddp_uint64(), ddp_max(), comm), "MPI_Allreduce")
        return (low, high)
    }

    public func broadcast(_ values: UnsafeMutablePointer<Float>, count: Int) {
        guard size > 1, count > 0 else { return }
        check(MPI_Bcast(values, Int32(count), ddp_float(), 0, comm), "MPI_Bcast")
    }

    public func broadcast(_ bytes: inout [UInt8]) {
        guard size > 1 else { return }
        var length = UInt64(bytes.count)
        check(MPI_Bcast(&length, 1, ddp_uint64(), 0, comm), "MPI_Bcast")
        if rank != 0 { bytes = [UInt8](repeating: 0, count: Int(length)) }
        guard length > 0 else { return }
        bytes.withUnsafeMutableBytes { raw in
            check(MPI_Bcast(raw.baseAddress, Int32(length), ddp_byte(), 0, comm), "MPI_Bcast")
        }
    }

    public func startSum(_ values: UnsafeMutablePointer<Float>, count: Int) {
        start(values, count: count, type: ddp_float(), operation: ddp_sum(), "MPI_Iallreduce")
    }

    public func startBFloat16Sum(_ values: UnsafeMutablePointer<UInt16>, count: Int) {
        start(values, count: count, type: ddp_uint16(), operation: bfloat16Operation, "MPI_Iallreduce (bfloat16)")
    }

    /// Starts the in-place non-blocking all-reduce of `count` values of `type` with `operation`.
    private func start(_ values: UnsafeMutableRawPointer, count: Int, type: MPI_Datatype?, operation: MPI_Op?, _ what: String) {
        guard size > 1, count > 0 else { return }
        var request: MPI_Request? = ddp_request_null()
        check(MPI_Iallreduce(ddp_in_place(), values, Int32(count), type, operation, comm, &request), what)
        pending.append(request)
    }

    public func progress() {
        guard !pending.isEmpty else { return }
        var flag: Int32 = 0
        check(MPI_Testall(Int32(pending.count), &pending, &flag, ddp_statuses_ignore()), "MPI_Testall")
        if flag != 0 { pending.removeAll(keepingCapacity: true) }
    }

    public func waitAll() {
        guard !pending.isEmpty else { return }
        check(MPI_Waitall(Int32(pending.count), &pending, ddp_statuses_ignore()), "MPI_Waitall")
        pending.removeAll(keepingCapacity: true)
    }

    public func abort(_ message: String, status: Int32) -> Never {
        FileHandle.standardError.write(Data("rank \(worldRank): \(message)\n".utf8))
        MPI_Abort(ddp_comm_world(), status)
        exit(status)
    }
}
