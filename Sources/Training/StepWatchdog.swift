import Foundation

/// Ends the process when training stops making progress for longer than a timeout.
///
/// MPI waits forever in a collective whose peer has stalled (SIGSTOP, a hung node) or is cut
/// off by the network. The training loop calls `beat` after every step and every evaluation
/// batch; a background thread checks the time since the last beat and, past the timeout, prints
/// `rank K: …` naming the step and the suspected cause and exits with status 3, which makes
/// `mpirun` end the whole job. It exits rather than calling `MPI_Abort`, because MPI runs in
/// `MPI_THREAD_FUNNELED` mode and only the main thread may call it.
public final class StepWatchdog: @unchecked Sendable {
    private let lock = NSLock()
    private var lastBeat = Date()
    private var phase = "start-up"
    private var stopped = false
    /// Seconds without progress that end the job.
    public let timeout: Double
    private let rank: Int
    /// Whether other ranks take part (the message then suspects them).
    private let distributed: Bool
    /// Where the `aborted` event goes when the watchdog ends the process.
    public var events: EventLog? {
        get { lock.withLock { eventLog } }
        set { lock.withLock { eventLog = newValue } }
    }
    private var eventLog: EventLog?

    /// Starts watching; `timeout` seconds without a beat end the process. `distributed` says
    /// whether the job has other ranks (by default, whether `mpirun` started more than one).
    public init(timeout: Double, rank: Int, distributed: Bool = (Int(ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"] ?? "") ?? 1) > 1) {
        self.timeout = timeout
        self.rank = rank
        self.distributed = distributed
        let thread = Thread { [self] in watch() }
        thread.name = "ddptrain.watchdog"
        thread.start()
    }

    /// Records progress; `phase` describes what comes next (for the message).
    public func beat(_ phase: String) {
        lock.withLock {
            lastBeat = Date()
            self.phase = phase
        }
    }

    /// Stops watching (the run ended normally).
    public func stop() { lock.withLock { stopped = true } }

    private func watch() {
        while true {
            Thread.sleep(forTimeInterval: min(1, max(0.05, timeout / 10)))
            let (idle, phase, stopped, events) = lock.withLock {
                (Date().timeIntervalSince(lastBeat), self.phase, self.stopped, eventLog)
            }
            if stopped { return }
            if idle > timeout {
                let cause = distributed
                    ? "A peer rank is probably stalled, dead or cut off by the network, leaving a collective that never "
                        + "completes; ending the job so that it can be restarted (e.g. with --resume auto).\n"
                    : "This single process is stuck or far slower than the limit (stopped with SIGSTOP, starved of CPU, "
                        + "or the limit is too short for this step); ending it so that it can be restarted (e.g. with --resume auto).\n"
                let message = (distributed ? "rank \(rank): " : "error: ")
                    + "no progress for \(idle < 10 ? String(format: "%.1f", idle) : String(Int(idle))) s (--step-timeout \(timeout)) during \(phase). " + cause
                FileHandle.standardError.write(Data(message.utf8))
                var event = RunEvent(.aborted, rank: rank)
                event.reason = "step-timeout"
                event.exitStatus = 3
                event.message = message.trimmingCharacters(in: .newlines)
                events?.record(event)
                _exit(3)
            }
        }
    }
}
