import ArgumentParser
import Checkpoint
import Distributed
import Foundation

/// Process start-up shared by the commands: the communicator, and turning an error into an
/// orderly end of the whole job.
enum Launch {
    /// An MPI communicator when started by `mpirun`, otherwise the single-process one.
    static func communicator() -> Communicator {
        MPICommunicator.launchedByMPIRun ? MPICommunicator() : SingleProcessCommunicator()
    }

    /// Runs `body`; on an error a distributed run prints `rank K: message` and aborts every
    /// rank (so no rank waits forever in a collective), a single process rethrows it.
    static func run(_ communicator: Communicator, _ body: () throws -> Void) throws {
        do {
            try body()
        } catch {
            if communicator is MPICommunicator { communicator.abort("\(error)", status: ExitStatus.of(error).rawValue) }
            throw error
        }
        (communicator as? MPICommunicator)?.finalize()
    }

}
