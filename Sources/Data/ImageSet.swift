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
    /// the order of `CIFAR10.files(for:)`. All files must exist. Every file's size is checked
    /// (whole records, at most `CIFAR10.maxRecordsPerFile`) before anything is allocated or read,
    /// and every label as it is read, so a bad download or a wrong file fails here, with the file
    /// and record named, rather than as an abort or a strange loss curve later.
    ///
    /// Files are read `chunkRecords` records at a time through one small buffer, straight into
    /// the set's arrays: memory stays the set itself plus about 3 MB.
    public static func load(directory: String, split: DatasetSplit) throws -> ImageSet {
        try load(directory: directory, split: split, chunkRecords: chunkRecords)
    }

    /// Records read from a file at a time by `load`: 1,024 records are about 3 MB.
    static let chunkRecords = 1024

    /// `load(directory:split:)` reading `chunkRecords` records at a time (tests use small chunks
    /// to cross chunk boundaries with small files).
    static func load(directory: String, split: DatasetSplit, chunkRecords: Int) throws -> ImageSet {
        precondition(chunkRecords > 0, "chunkRecords must be positive")
        try checkIsDirectory(directory)
        let paths = CIFAR10.files(for: split).map { join(directory, $0) }

        // First pass: every file exists and its size holds a whole number of records, no more than
        // CIFAR-10 has, so nothing is allocated or read for an incomplete set or a wrong file.
        let recordCounts = try paths.map { try recordCount(bytes: fileSize($0, directory: directory), path: $0) }

        // Second pass: read each file in chunks and scatter the records into the arrays. The total
        // is at most 6 files × 10,000 records, so none of this arithmetic can overflow.
        let total = recordCounts.reduce(0, +)
        var labels = [UInt8](repeating: 0, count: total)
        var pixels = [UInt8](repeating: 0, count: total * CIFAR10.imageBytes)
        var chunk = [UInt8](repeating: 0, count: min(chunkRecords, recordCounts.max() ?? 0) * CIFAR10.recordBytes)
        try chunk.withUnsafeMutableBytes { chunk in
            try labels.withUnsafeMutableBufferPointer { labels in
                try pixels.withUnsafeMutableBufferPointer { pixels in
                    var first = 0
                    for (path, records) in zip(paths, recordCounts) {
                        try readRecords(path, records: records, through: chunk, labels: labels, pixels: pixels, at: first)
                        first += records
                    }
                }
            }
        }
        return ImageSet(pixels: pixels, labels: labels)
    }

    /// Decodes a whole CIFAR-10 binary file held in memory, with the checks and errors of `load`:
    /// `bytes` must be non-empty, a whole number of records, at most `CIFAR10.maxRecordsPerFile`
    /// of them, with labels 0–9. `path` only names the bytes in errors.
    ///
    /// The parser without the file system, so that a fuzzer can feed it any bytes: whatever they
    /// are, it returns a set or throws a `DataError`, and it allocates only after the size passed.
    public static func decodeRecords(_ bytes: UnsafeRawBufferPointer, path: String) throws -> ImageSet {
        let records = try recordCount(bytes: bytes.count, path: path)
        var labels = [UInt8](repeating: 0, count: records)
        var pixels = [UInt8](repeating: 0, count: records * CIFAR10.imageBytes)
        try labels.withUnsafeMutableBufferPointer { labels in
            try pixels.withUnsafeMutableBufferPointer { pixels in
                try scatter(bytes, path: path, firstRecord: 0, labels: labels, pixels: pixels, at: 0)
            }
        }
        return ImageSet(pixels: pixels, labels: labels)
    }

    /// The number of records in a file of `bytes` bytes, or the error that says why such a size
    /// cannot be a CIFAR-10 file: empty, larger than `CIFAR10.maxRecordsPerFile` records (checked
    /// first, so a huge file is named as the wrong file whatever its size), or not whole records.
    static func recordCount(bytes: Int, path: String) throws -> Int {
        guard bytes > 0 else { throw DataError.empty(path: path) }
        guard bytes <= CIFAR10.maxRecordsPerFile * CIFAR10.recordBytes else {
            throw DataError.tooManyRecords(path: path, bytes: bytes)
        }
        guard bytes % CIFAR10.recordBytes == 0 else { throw DataError.badSize(path: path, bytes: bytes) }
        return bytes / CIFAR10.recordBytes
    }

    /// Checks the label of each whole record in `source` and copies labels and pixels into
    /// `labels` and `pixels` from image `destination` on. `firstRecord` is the index, within the
    /// file, of the first record of `source`, so that a bad label is named by its place in the file.
    static func scatter(_ source: UnsafeRawBufferPointer, path: String, firstRecord: Int,
                        labels: UnsafeMutableBufferPointer<UInt8>, pixels: UnsafeMutableBufferPointer<UInt8>,
                        at destination: Int) throws {
        let records = source.count / CIFAR10.recordBytes
        precondition(source.count == records * CIFAR10.recordBytes && destination + records <= labels.count
                     && labels.count * CIFAR10.imageBytes == pixels.count, "scatter: buffers do not fit")
        guard records > 0, let input = source.baseAddress, let pixelOut = pixels.baseAddress else { return }
        for r in 0..<records {
            let record = input + r * CIFAR10.recordBytes
            let label = record.load(as: UInt8.self)
            guard Int(label) < CIFAR10.classes else {
                throw DataError.badLabel(path: path, record: firstRecord + r, label: label)
            }
            labels[destination + r] = label
            UnsafeMutableRawPointer(pixelOut + (destination + r) * CIFAR10.imageBytes)
                .copyMemory(from: record + 1, byteCount: CIFAR10.imageBytes)
        }
    }

    // MARK: - Files, through POSIX so that errors carry errno's explanation

    /// `directory/name`, without doubling a trailing slash.
    static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    /// Throws unless `path` is a directory: `missingDirectory` when there is nothing there (or it
    /// cannot be looked at), `notADirectory` when it is a file.
    static func checkIsDirectory(_ path: String) throws {
        var info = stat()
        guard stat(path, &info) == 0 else { throw DataError.missingDirectory(path: path) }
        guard (info.st_mode & S_IFMT) == S_IFDIR else { throw DataError.notADirectory(path: path) }
    }

    /// Whether anything is at `path`.
    static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }

    /// The error for the split's file `path` missing from `directory`: when the directory holds
    /// another version of the data, the error says which and how to get the binary version.
    static func missingFileError(_ path: String, directory: String) -> DataError {
        let pickleName = String(path.dropLast(".bin".count))
        if exists(pickleName) || exists(join(directory, "batches.meta")) {
            return .pythonVersion(path: path, directory: directory)
        }
        if exists(join(directory, "train.bin")) || exists(join(directory, "test.bin")) {
            return .cifar100(path: path, directory: directory)
        }
        return .missingFile(path: path, hint: DataError.obtainHint(directory: directory))
    }

    /// The size of the regular file at `path`, or the error that explains why it has none.
    static func fileSize(_ path: String, directory: String) throws -> Int {
        var info = stat()
        guard stat(path, &info) == 0 else {
            let code = errno
            if code == ENOENT { throw missingFileError(path, directory: directory) }
            throw DataError.unreadable(path: path, reason: systemMessage(code))
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            let kind = (info.st_mode & S_IFMT) == S_IFDIR ? "a directory" : "not a regular file"
            throw DataError.unreadable(path: path, reason: "it is \(kind)")
        }
        return Int(info.st_size)
    }

    /// Reads the `records` records of `path` (its size already checked) through `chunk`, as many
    /// records at a time as fit, and scatters them into `labels` and `pixels` from image `first` on.
    static func readRecords(_ path: String, records: Int, through chunk: UnsafeMutableRawBufferPointer,
                            labels: UnsafeMutableBufferPointer<UInt8>, pixels: UnsafeMutableBufferPointer<UInt8>,
                            at first: Int) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw DataError.unreadable(path: path, reason: systemMessage(errno)) }
        defer { close(fd) }
        let perChunk = chunk.count / CIFAR10.recordBytes
        var done = 0
        while done < records {
            let count = min(perChunk, records - done)
            let part = UnsafeMutableRawBufferPointer(rebasing: chunk[..<(count * CIFAR10.recordBytes)])
            try readExactly(fd, path, into: part, offset: done * CIFAR10.recordBytes, of: records * CIFAR10.recordBytes)
            try scatter(UnsafeRawBufferPointer(part), path: path, firstRecord: done,
                        labels: labels, pixels: pixels, at: first + done)
            done += count
        }
    }

    /// Fills `buffer` from `fd`, the file `path`, which is at byte `offset` of the `total` bytes
    /// expected (those two only for the error when the file turns out shorter).
    static func readExactly(_ fd: Int32, _ path: String, into buffer: UnsafeMutableRawBufferPointer,
                            offset: Int, of total: Int) throws {
        guard let base = buffer.baseAddress else { return }
        var done = 0
        while done < buffer.count {
            let n = read(fd, base + done, buffer.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw DataError.unreadable(path: path, reason: systemMessage(errno))
            }
            if n == 0 {
                throw DataError.unreadable(path: path, reason: "the file shrank to \(offset + done) bytes while it "
                                           + "was read (expected \(total)); is it still being written?")
            }
            done += n
        }
    }

    static func systemMessage(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}
