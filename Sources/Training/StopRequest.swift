import Dispatch
import Foundation

/// A thread-safe boolean that is only ever set.
public final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false

    /// A flag that is not set.
    public init() {}

    /// Sets the flag.
    public func set() { lock.withLock { value = true } }

    /// Whether the flag has been set.
    public var isSet: Bool { lock.withLock { value } }
}

/// SIGTERM and SIGINT ask the run to stop: the current step finishes, all ranks agree (the
/// request travels in the per-step all-reduce), a checkpoint is written and the process exits
/// cleanly. A second signal of the same kind is not needed and is ignored.
public enum StopRequest {
    private static let requested = StopFlag()
    nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []
    private static let installLock = NSLock()

    /// Whether a stop was requested.
    public static var isRequested: Bool { requested.isSet }

    /// Routes SIGTERM and SIGINT to the stop request (idempotent).
    public static func install() {
        installLock.withLock {
            guard sources.isEmpty else { return }
            for sig in [SIGTERM, SIGINT] {
                signal(sig, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
                source.setEventHandler {
                    if !requested.isSet {
                        FileHandle.standardError.write(Data("received signal \(sig): finishing the current step, then writing a checkpoint\n".utf8))
                    }
                    requested.set()
                }
                source.resume()
                sources.append(source)
            }
        }
    }

    /// Requests a stop as a signal would (for tests).
    public static func request() { requested.set() }
}
