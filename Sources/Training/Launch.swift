import Distributed

/// Process start-up shared by the commands: the communicator, and turning an error into an
/// orderly end of the whole job.
public enum Launch {
    /// An MPI communicator when started by `mpirun`, otherwise the single-process one.
    public static func communicator() -> Communicator {
        MPICommunicator.launchedByMPIRun ? MPICommunicator() : SingleProcessCommunicator()
    }

    /// Runs `body`; on an error a distributed run prints `rank K: message` and aborts every
    /// rank with `exitStatus(error)` (so no rank waits forever in a collective), a single process
    /// rethrows it. After `body` returns, MPI is finalised.
    public static func run(_ communicator: Communicator, exitStatus: (Error) -> Int32,
                           _ body: () throws -> Void) throws {
        do {
            try body()
        } catch {
            if communicator is MPICommunicator { communicator.abort("\(error)", status: exitStatus(error)) }
            throw error
        }
        (communicator as? MPICommunicator)?.finalize()
    }
}
