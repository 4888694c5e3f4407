import Foundation

/// Shows training progress to a person: a live, rewritten line on a terminal; plain lines every
/// `interval` seconds when the output is a file or a pipe (a batch job's log).
public final class ProgressReporter: @unchecked Sendable {
    private let lock = NSLock()
    private let live: Bool
    private let interval: Double
    private var lastPrint = 0.0
    private let output: (String) -> Void

    /// Chooses the mode from whether standard output is a terminal. Under `mpirun` it is a
    /// pseudo-terminal even when mpirun's own output is a file, so ranks print plain lines unless
    /// `DDPTRAIN_LIVE_PROGRESS=1` says otherwise.
    public init(interval: Double = 30, output: @escaping (String) -> Void = { FileHandle.standardOutput.write(Data($0.utf8)) }) {
        let env = ProcessInfo.processInfo.environment
        let underMPI = env["OMPI_COMM_WORLD_SIZE"] != nil || env["PMIX_RANK"] != nil
        live = isatty(STDOUT_FILENO) == 1 && (!underMPI || env["DDPTRAIN_LIVE_PROGRESS"] == "1")
        self.interval = interval
        self.output = output
    }

    /// Reports step `step` of `steps` in `epoch` of `epochs`.
    public func update(epoch: Int, epochs: Int, step: Int, steps: Int, loss: Double, accuracy: Double,
                       imagesPerSecond: Double, elapsed: Double) {
        let now = Date().timeIntervalSince1970
        let remaining = imagesPerSecond > 0 && step > 0 ? elapsed / Double(step) * Double(steps - step) : 0
        let text = String(format: "epoch %d/%d  step %d/%d  loss %.4f  acc %.1f%%  %.0f img/s  ETA %@",
                          epoch, epochs, step, steps, loss, 100 * accuracy, imagesPerSecond, Self.clock(remaining))
        lock.withLock {
            if live {
                output("\r\u{1B}[2K" + text)
            } else if now - lastPrint >= interval || step == steps {
                lastPrint = now
                output(text + "\n")
            }
        }
    }

    /// Ends the live line (if any) and prints `line`.
    public func line(_ line: String) {
        lock.withLock { output((live ? "\r\u{1B}[2K" : "") + line + "\n") }
    }

    /// `h:mm:ss` or `m:ss`.
    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}
