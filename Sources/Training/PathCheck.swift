#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Checkpoint
import Foundation

/// Checks of the paths a run writes to, made before training starts: outputs never overwrite a
/// file that is not the run's own, never point into the data directory, and their directories
/// exist. Also creates run directories with messages that name the component that is in the way.
public enum PathCheck {
    /// `path` made absolute against the working directory, with symbolic links of its existing
    /// part resolved (a path that does not exist yet keeps its missing tail as written).
    static func canonical(_ path: String) -> String {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        var existing = absolute
        var tail: [String] = []
        while !existing.isEmpty && existing != "/" {
            if let resolved = realpath(existing, nil) {
                defer { free(resolved) }
                let head = String(cString: resolved)
                return ([head == "/" ? "" : head] + tail.reversed()).joined(separator: "/")
            }
            let parts = existing.split(separator: "/", omittingEmptySubsequences: true)
            tail.append(parts.last.map(String.init) ?? "")
            existing = "/" + parts.dropLast().joined(separator: "/")
        }
        return "/" + tail.reversed().joined(separator: "/")
    }

    /// Whether `path` is `directory` itself or lies inside it (after resolving links).
    static func isInside(_ path: String, _ directory: String) -> Bool {
        guard !directory.isEmpty else { return false }
        let p = canonical(path), d = canonical(directory)
        return p == d || p.hasPrefix(d.hasSuffix("/") ? d : d + "/")
    }

    /// Creates `path` and its missing parents; returns the directories it created, outermost
    /// first. A component that exists but is not a directory is named in the error.
    static func makeDirectories(_ path: String) throws(RunDirectoryError) -> [String] {
        let absolute = path.hasPrefix("/")
        var current = absolute ? "" : "."
        var created: [String] = []
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            current += "/" + component
            let shown = absolute ? current : String(current.dropFirst(2))
            var info = stat()
            if stat(current, &info) == 0 {
                guard (info.st_mode & S_IFMT) == S_IFDIR else {
                    throw .unusable(path: path, reason: "'\(shown)' exists and is not a directory")
                }
                continue
            }
            guard errno == ENOENT else { throw .unusable(path: path, reason: "'\(shown)': \(POSIXFile.message(errno))") }
            guard mkdir(current, 0o755) == 0 || errno == EEXIST else {
                let code = errno
                removeCreated(created, keeping: [])
                throw .unusable(path: path, reason: "creating '\(shown)' failed: \(POSIXFile.message(code))")
            }
            created.append(current)
        }
        return created
    }

    /// Removes `directories` (innermost first) if they hold nothing but files named in `keeping`.
    static func removeCreated(_ directories: [String], keeping: Set<String>) {
        for directory in directories.reversed() {
            let entries = POSIXFile.entries(directory)
            guard entries.allSatisfy(keeping.contains) else { return }
            for name in entries { POSIXFile.removeFile(POSIXFile.join(directory, name)) }
            rmdir(directory)
        }
    }

    /// Checks a file the run will create (`flag`, e.g. `--dump-state`): it names a file (not a
    /// directory), its directory exists, it is not inside the data or (as one of the run's own
    /// files) the run directory, and, unless `mayExist`, nothing is there yet. Returns its
    /// canonical path.
    @discardableResult
    public static func checkNewFile(_ path: String, flag: String, dataDirectory: String?, runDirectory: String?,
                                    mayExist: Bool = false) throws(RunDirectoryError) -> String {
        func refuse(_ reason: String) -> RunDirectoryError { .output(flag: flag, path: path, reason: reason) }
        guard !path.isEmpty, !path.hasSuffix("/"), let name = path.split(separator: "/").last, name != ".", name != ".." else {
            throw refuse("must name a file, not a directory")
        }
        let full = canonical(path)
        let parent = String(full[..<full.lastIndex(of: "/")!])
        guard POSIXFile.isDirectory(parent.isEmpty ? "/" : parent) else {
            throw refuse("its directory \(parent) does not exist; create it first")
        }
        if let dataDirectory, isInside(full, dataDirectory) { throw refuse("lies inside the data directory \(dataDirectory); outputs must not touch the data") }
        if let runDirectory, canonical(runDirectory) == parent,
           RunDirectory.isRunFile(String(name)) || name == RunDirectoryLock.fileName {
            throw refuse("is one of the run directory's own files")
        }
        var info = stat()
        if lstat(full, &info) == 0 {
            if (info.st_mode & S_IFMT) == S_IFDIR { throw refuse("is a directory; give a file name") }
            if !mayExist { throw refuse("already exists and this run did not create it; remove it or choose another name") }
            if (info.st_mode & S_IFMT) != S_IFREG { throw refuse("exists and is not a regular file") }
        }
        return full
    }
}
