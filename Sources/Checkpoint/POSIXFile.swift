#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// The few system calls checkpoints and run directories need, with failures turned into
/// `CheckpointError.io` whose reason names the step and carries `strerror`'s explanation.
public enum POSIXFile {
    /// `directory/name`, without doubling a trailing slash.
    public static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    /// The system's explanation of `code`, with a hint for the cases a user can act on.
    public static func message(_ code: Int32) -> String {
        let text = String(cString: strerror(code))
        switch code {
        case ENOSPC: return text + " (free space on that file system, or choose another --run-dir)"
        case EDQUOT: return text + " (the disk quota is exhausted; free space or choose another --run-dir)"
        case EACCES, EPERM, EROFS: return text + " (check the directory's permissions and mount)"
        default: return text
        }
    }

    /// An I/O error for `path`: "`step` failed: <reason>".
    static func failure(_ path: String, _ step: String, _ code: Int32) -> CheckpointError {
        .io(path: path, reason: "\(step) failed: \(message(code))")
    }

    /// Reads the whole regular file at `path`. Anything else (a directory, a FIFO, a device) is
    /// refused without reading: the open does not block, so a FIFO cannot hang the caller.
    public static func readAll(_ path: String) throws(CheckpointError) -> Data {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            let code = errno
            if code == ENOENT { throw .notFound(path: path) }
            throw failure(path, "opening it", code)
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw failure(path, "reading its size (fstat)", errno) }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            let kind = (info.st_mode & S_IFMT) == S_IFDIR ? "a directory" : "not a regular file"
            throw .io(path: path, reason: "it is \(kind), not a checkpoint file")
        }
        let size = Int(info.st_size)
        var data = Data(count: size)
        var done = 0
        let status: Int32 = data.withUnsafeMutableBytes { buffer in
            while done < size {
                let n = read(fd, buffer.baseAddress! + done, size - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                if n == 0 { break }
                done += n
            }
            return 0
        }
        guard status == 0 else { throw failure(path, "reading it", status) }
        // A file that shrank while it was read is decoded as it is now: decode reports the truncation.
        if done < size { data.count = done }
        return data
    }

    /// Writes all of `bytes` to `fd`; with `chunkDelay` set, in 16 chunks with that many
    /// milliseconds of sleep between them (the kill-during-write test hook).
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, chunkDelay: Int?) -> Int32 {
        let total = bytes.count
        let chunk = chunkDelay == nil ? max(total, 1) : max((total + 15) / 16, 1)
        var done = 0
        while done < total {
            let end = min(done + chunk, total)
            while done < end {
                let n = write(fd, bytes.baseAddress! + done, end - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                done += n
            }
            if let delay = chunkDelay, done < total { usleep(useconds_t(delay) * 1000) }
        }
        return 0
    }

    /// Creates (or truncates) `path`, writes `bytes`, fsyncs and closes it.
    static func writeDurably(_ path: String, _ bytes: UnsafeRawBufferPointer, chunkDelay: Int?) throws(CheckpointError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw failure(path, "creating the temporary file", errno) }
        let written = writeAll(fd, bytes, chunkDelay: chunkDelay)
        if written != 0 {
            close(fd)
            throw failure(path, "writing \(bytes.count) bytes", written)
        }
        if fsync(fd) != 0 {
            let code = errno
            close(fd)
            throw failure(path, "flushing it to disk (fsync)", code)
        }
        if close(fd) != 0 { throw failure(path, "closing it", errno) }
    }

    /// Writes `bytes` as the new file `path`, never replacing one: into a temporary file beside it,
    /// fsynced, then hard-linked to `path` (which fails if anything is there, even a file that
    /// appeared meanwhile), so `path` is either absent or complete. The temporary file is always
    /// removed.
    public static func createNewFile(_ path: String, _ bytes: [UInt8]) throws(CheckpointError) {
        if access(path, F_OK) == 0 { throw .io(path: path, reason: "it already exists; ddptrain does not overwrite files it did not create. Choose another path or remove it") }
        let temporary = path + ".tmp-\(getpid())"
        defer { _ = removeFile(temporary) }
        var failed: CheckpointError?
        bytes.withUnsafeBytes { raw in
            do throws(CheckpointError) { try writeDurably(temporary, raw, chunkDelay: nil) } catch { failed = error }
        }
        if let failed { throw failed }
        if link(temporary, path) != 0 {
            let code = errno
            throw code == EEXIST
                ? .io(path: path, reason: "it already exists; ddptrain does not overwrite files it did not create. Choose another path or remove it")
                : failure(path, "linking the written temporary file to it", code)
        }
        let directory = (path as NSString).deletingLastPathComponent
        try syncDirectory(directory.isEmpty ? "." : directory)
    }

    /// fsyncs a directory, so that a rename inside it survives a power failure.
    public static func syncDirectory(_ path: String) throws(CheckpointError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_DIRECTORY)
        guard fd >= 0 else { throw failure(path, "opening the directory to flush it", errno) }
        defer { close(fd) }
        // Some file systems cannot fsync a directory (EINVAL); their renames are durable anyway.
        if fsync(fd) != 0, errno != EINVAL { throw failure(path, "flushing the directory (fsync)", errno) }
    }

    /// Renames `from` to `to` (atomically replacing `to`).
    public static func move(_ from: String, to: String) throws(CheckpointError) {
        if rename(from, to) != 0 { throw failure(to, "renaming '\(from)' to it", errno) }
    }

    /// True if a regular file exists at `path`.
    public static func isRegularFile(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
    }

    /// True if `path` is a directory.
    public static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// Names of the entries of `directory` (without `.` and `..`); empty if it cannot be listed.
    public static func entries(_ directory: String) -> [String] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Removes the file at `path` if it is a regular file; returns whether it did.
    @discardableResult
    public static func removeFile(_ path: String) -> Bool {
        isRegularFile(path) && unlink(path) == 0
    }
}
