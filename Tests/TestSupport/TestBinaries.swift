import Foundation
import XCTest

/// Where the executables that system tests launch are found, with an `XCTSkip` that says how to
/// get each one when it is missing.
public enum TestBinaries {
    /// The package's root directory.
    public static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// The release binary (`DDPTRAIN_BINARY` or `.build/release/ddptrain`), or `XCTSkip` saying how
    /// to build it (debug builds are too slow to train).
    public static func releaseBinary() throws -> URL {
        let path = ProcessInfo.processInfo.environment["DDPTRAIN_BINARY"]
            ?? repository.appendingPathComponent(".build/release/ddptrain").path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw XCTSkip("no release build at \(path): run `swift build -c release --product ddptrain` or set DDPTRAIN_BINARY "
                          + "(debug builds are too slow to train)")
        }
        return URL(fileURLWithPath: path)
    }

    /// `name` on `PATH`, or nil.
    public static func findOnPath(_ name: String) -> URL? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") where !directory.isEmpty {
            let candidate = URL(fileURLWithPath: String(directory)).appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return nil
    }

    /// `mpirun` on `PATH`, or `XCTSkip` saying how to install Open MPI.
    public static func mpirun() throws -> URL {
        guard let found = findOnPath("mpirun") else {
            throw XCTSkip("mpirun is not on PATH: install Open MPI (apt-get install openmpi-bin libopenmpi-dev) "
                          + "to run the distributed tests")
        }
        return found
    }
}
