#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Checkpoint
import Foundation

/// An advisory `flock` on `<run-dir>/.ddptrain.lock`, held for the life of the process that
/// trains into the directory, so a second process refuses the directory instead of mixing two
/// runs' files. The file records the holder (pid, host, start time) for the refusal's message.
///
/// The kernel drops the lock when the process ends in any way (crash, SIGKILL), so a stale lock
/// never blocks a restart. The lock file itself stays: removing it would let two processes lock
/// two different files of the same name.
final class RunDirectoryLock {
    /// The lock file's name inside the run directory.
    static let fileName = ".ddptrain.lock"

    private let descriptor: Int32

    /// Takes the lock of `directory` (which must exist), or throws `RunDirectoryError.locked`
    /// naming the holder.
    init(directory: String) throws(RunDirectoryError) {
        let path = POSIXFile.join(directory, Self.fileName)
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else {
            throw .unusable(path: directory, reason: "creating the lock file \(Self.fileName) failed: \(POSIXFile.message(errno))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            let holder = Self.holder(fd)
            close(fd)
            if code == EWOULDBLOCK { throw .locked(path: directory, holder: holder) }
            throw .unusable(path: directory, reason: "locking \(Self.fileName) failed: \(POSIXFile.message(code))")
        }
        descriptor = fd
        let host = ProcessInfo.processInfo.hostName
        let record = "pid \(getpid()) on host \(host), since \(ISO8601DateFormatter().string(from: Date()))\n"
        _ = ftruncate(fd, 0)
        _ = record.withCString { pwrite(fd, $0, strlen($0), 0) }
    }

    deinit {
        // Closing the descriptor releases the lock.
        close(descriptor)
    }

    /// What the lock file says about its holder, or a placeholder when it says nothing.
    private static func holder(_ fd: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = pread(fd, &buffer, buffer.count, 0)
        let text = n > 0 ? String(decoding: buffer[..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : ""
        return text.isEmpty ? "another process (it has not recorded itself yet)" : text
    }
}
