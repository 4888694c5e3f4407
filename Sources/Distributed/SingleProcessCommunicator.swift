import Foundation

/// The communicator of a run without MPI: one rank, and every collective is the identity.
public final class SingleProcessCommunicator: Communicator {
    /// Creates the single-process communicator.
    public init() {}

    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func sumAcrossRanks(_ values: UnsafeMutablePointer<Float>, count: Int) {}
    public func sumAcrossRanks(_ values: UnsafeMutablePointer<Double>, count: Int) {}
    public func range(of value: UInt64) -> (min: UInt64, max: UInt64) { (value, value) }
    public func broadcast(_ values: UnsafeMutablePointer<Float>, count: Int) {}
    public func broadcast(_ bytes: inout [UInt8]) {}
    public func startSum(_ values: UnsafeMutablePointer<Float>, count: Int) {}
    public func startBFloat16Sum(_ values: UnsafeMutablePointer<UInt16>, count: Int) {}
    public func progress() {}
    public func waitAll() {}
    /// This communicator: one process is every group.
    public func split(color: Int) -> Communicator { self }
    /// This communicator: one process is its host's only rank.
    public func splitByHost() -> Communicator { self }

    public func abort(_ message: String, status: Int32) -> Never {
        FileHandle.standardError.write(Data("error: \(message)\n".utf8))
        exit(status)
    }
}
