#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A set of CIFAR images held in memory, loaded once and then only read (by any number of
/// threads: it is an immutable value).
///
/// Pixels stay as the file's bytes, CHW per image, so the whole training set takes 150 MB rather
/// than 600 MB of floats; the augmenter turns them into normalised floats as each batch is built.
public struct ImageSet: Sendable {
    /// `count × CIFAR10.imageBytes` bytes: image `i` starts at `i * imageBytes`, R, G, B planes.
    public let pixels: [UInt8]
    /// `count` labels, each in `0..<CIFAR10.classes`.
    public let labels: [UInt8]

    /// The number of images.
    public var count: Int { labels.count }

    /// Wraps images already in memory; `pixels` must hold exactly `imageBytes` per label.
    public init(pixels: [UInt8], labels: [UInt8]) {
        precondition(pixels.count == labels.count * CIFAR10.imageBytes,
                     "ImageSet has \(pixels.count) pixel bytes for \(labels.count) labels; "
                     + "expected \(labels.count * CIFAR10.imageBytes)")
        self.pixels = pixels
        self.labels = labels
    }

    /// Loads and validates every file of `split` from `directory`, concatenating their records in
    /// the order of `CIFAR10.files(for:)`. All files must exist. Every file's size and every label
    /// is checked before the set is returned, so a bad download fails here, with the file and
    /// record named, rather than as a strange loss curve later.
    public static func load(directory: String, split: DatasetSplit) throws -> ImageSet {
        guard isDirectory(directory) else { throw DataError.missingDirectory(path: directory) }
        let paths = CIFAR10.files(for: split).map { join(directory, $0) }

        // First pass: every file exists and has a whole number of records, so nothing is read
        // when the set is incomplete.
        var recordCounts: [Int] = []
        for path in paths {
            let bytes = try fileSize(path, directory: directory)
            guard bytes > 0 else { throw DataError.empty(path: path) }
            guard bytes % CIFAR10.recordBytes == 0 else { throw DataError.badSize(path: path, bytes: bytes) }
            recordCounts.append(bytes / CIFAR10.recordBytes)
        }

        // Second pass: read each file and scatter its records into the label and pixel arrays.
        let total = recordCounts.reduce(0, +)
        var labels = [UInt8](repeating: 0, count: total)
        var pixels = [UInt8](repeating: 0, count: total * CIFAR10.imageBytes)
        var first = 0
        var fileBuffer = [UInt8]()
        for (path, records) in zip(paths, recordCounts) {
            let bytes = records * CIFAR10.recordBytes
            if fileBuffer.count < bytes { fileBuffer = [UInt8](repeating: 0, count: bytes) }
            try fileBuffer.withUnsafeMutableBufferPointer { buffer in
                try readFile(path, into: buffer.baseAddress!, count: bytes)
            }
            try fileBuffer.withUnsafeBufferPointer { file in
                try labels.withUnsafeMutableBufferPointer { labelOut in
                    try pixels.withUnsafeMutableBufferPointer { pixelOut in
                        for r in 0..<records {
                            let record = file.baseAddress! + r * CIFAR10.recordBytes
                            let label = record[0]
                            guard Int(label) < CIFAR10.classes else {
                                throw DataError.badLabel(path: path, record: r, label: label)
                            }
                            labelOut[first + r] = label
                            (pixelOut.baseAddress! + (first + r) * CIFAR10.imageBytes)
                                .update(from: record + 1, count: CIFAR10.imageBytes)
                        }
                    }
                }
            }
            first += records
        }
        return ImageSet(pixels: pixels, labels: labels)
    }

    // MARK: - Files, through POSIX so that errors carry errno's explanation

    /// `directory/name`, without doubling a trailing slash.
    static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// The size of the regular file at `path`, or the error that explains why it has none.
    static func fileSize(_ path: String, directory: String) throws -> Int {
        var info = stat()
        guard stat(path, &info) == 0 else {
            let code = errno
            if code == ENOENT {
                throw DataError.missingFile(path: path, hint: DataError.obtainHint(directory: directory))
            }
            throw DataError.unreadable(path: path, reason: systemMessage(code))
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            let kind = (info.st_mode & S_IFMT) == S_IFDIR ? "a directory" : "not a regular file"
            throw DataError.unreadable(path: path, reason: "it is \(kind)")
        }
        return Int(info.st_size)
    }

    /// Reads exactly `count` bytes of `path` into `destination`.
    static func readFile(_ path: String, into destination: UnsafeMutablePointer<UInt8>, count: Int) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw DataError.unreadable(path: path, reason: systemMessage(errno)) }
        defer { close(fd) }
        var done = 0
        while done < count {
            let n = read(fd, destination + done, count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw DataError.unreadable(path: path, reason: systemMessage(errno))
            }
            if n == 0 {
                throw DataError.unreadable(path: path, reason: "the file shrank to \(done) bytes while it was read "
                                           + "(expected \(count)); is it still being written?")
            }
            done += n
        }
    }

    static func systemMessage(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}
