#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A set of CIFAR-10 or CIFAR-100 images held in memory, loaded once and then only read (by any number of
/// threads: it is an immutable value).
///
/// Pixels stay as the file's bytes, CHW per image, so the whole training set takes 150 MB rather
/// than 600 MB of floats; the augmenter turns them into normalised floats as each batch is built.
public struct ImageSet: Sendable {
    /// `count × CIFARImage.imageBytes` bytes: image `i` starts at `i * imageBytes`, R, G, B planes.
    public let pixels: [UInt8]
    /// `count` labels, each in `0..<classes` of the data set they were read as.
    public let labels: [UInt8]

    /// The number of images.
    public var count: Int { labels.count }

    /// Wraps images already in memory; `pixels` must hold exactly `imageBytes` per label.
    public init(pixels: [UInt8], labels: [UInt8]) {
        precondition(pixels.count == labels.count * CIFARImage.imageBytes,
                     "ImageSet has \(pixels.count) pixel bytes for \(labels.count) labels; "
                     + "expected \(labels.count * CIFARImage.imageBytes)")
        self.pixels = pixels
        self.labels = labels
    }

    /// Loads and validates every file of `split` of `dataset` from `directory`, concatenating
    /// their records in the order of `Dataset.files(for:)`. All files must exist. Every file's
    /// size is checked (whole records, at most `Dataset.maxRecordsPerFile`) before anything is
    /// allocated or read, and every label as it is read (`LabelReader`), so a bad download or a
    /// wrong file fails here, with the file and record named, rather than as an abort or a
    /// strange loss curve later. The labels kept are the ones `dataset` learns (CIFAR-100's fine
    /// or coarse).
    ///
    /// Files are read `chunkRecords` records at a time through one small buffer, straight into
    /// the set's arrays: memory stays the set itself plus about 3 MB.
    public static func load(directory: String, split: DatasetSplit, dataset: Dataset) throws -> ImageSet {
        try load(directory: directory, split: split, dataset: dataset, chunkRecords: chunkRecords)
    }

    /// Records read from a file at a time by `load`: 1,024 records are about 3 MB.
    static let chunkRecords = 1024

    /// `load(directory:split:dataset:)` reading `chunkRecords` records at a time (tests use
    /// small chunks to cross chunk boundaries with small files).
    static func load(directory: String, split: DatasetSplit, dataset: Dataset, chunkRecords: Int) throws -> ImageSet {
        precondition(chunkRecords > 0, "chunkRecords must be positive")
        try checkIsDirectory(directory, dataset: dataset)
        let paths = dataset.files(for: split).map { join(directory, $0) }

        // First pass: every file exists and its size holds a whole number of records, no more than
        // the data set's files have, so nothing is allocated or read for an incomplete set or a
        // wrong file.
        let recordCounts = try paths.map {
            try recordCount(bytes: fileSize($0, directory: directory, dataset: dataset), path: $0, dataset: dataset)
        }

        // Second pass: read each file in chunks and scatter the records into the arrays. The total
        // is at most 6 files × 50,000 records, so none of this arithmetic can overflow.
        let total = recordCounts.reduce(0, +)
        var labels = [UInt8](repeating: 0, count: total)
        var pixels = [UInt8](repeating: 0, count: total * CIFARImage.imageBytes)
        var chunk = [UInt8](repeating: 0, count: min(chunkRecords, recordCounts.max() ?? 0) * dataset.recordBytes)
        var reader = LabelReader(dataset: dataset)
        try chunk.withUnsafeMutableBytes { chunk in
            try labels.withUnsafeMutableBufferPointer { labels in
                try pixels.withUnsafeMutableBufferPointer { pixels in
                    var first = 0
                    for (path, records) in zip(paths, recordCounts) {
                        try readRecords(path, records: records, through: chunk, reader: &reader,
                                        labels: labels, pixels: pixels, at: first)
                        first += records
                    }
                }
            }
        }
        return ImageSet(pixels: pixels, labels: labels)
    }

    /// Decodes a whole binary file of `dataset` held in memory, with the checks and errors of
    /// `load`: `bytes` must be non-empty, a whole number of records, at most
    /// `Dataset.maxRecordsPerFile` of them, with valid labels. `path` only names the bytes in errors.
    ///
    /// The parser without the file system, so that a fuzzer can feed it any bytes: whatever they
    /// are, it returns a set or throws a `DataError`, and it allocates only after the size passed.
    public static func decodeRecords(_ bytes: UnsafeRawBufferPointer, path: String, dataset: Dataset) throws -> ImageSet {
        let records = try recordCount(bytes: bytes.count, path: path, dataset: dataset)
        var labels = [UInt8](repeating: 0, count: records)
        var pixels = [UInt8](repeating: 0, count: records * CIFARImage.imageBytes)
        var reader = LabelReader(dataset: dataset)
        try labels.withUnsafeMutableBufferPointer { labels in
            try pixels.withUnsafeMutableBufferPointer { pixels in
                try scatter(bytes, path: path, firstRecord: 0, reader: &reader, labels: labels, pixels: pixels, at: 0)
            }
        }
        return ImageSet(pixels: pixels, labels: labels)
    }

    /// The number of records in a file of `bytes` bytes, or the error that says why such a size
    /// cannot be a file of `dataset`: empty, larger than `Dataset.maxRecordsPerFile` records
    /// (checked first, so a huge file is named as the wrong file whatever its size), or not
    /// whole records.
    static func recordCount(bytes: Int, path: String, dataset: Dataset) throws -> Int {
        guard bytes > 0 else { throw DataError.empty(path: path, dataset: dataset) }
        guard bytes <= dataset.maxRecordsPerFile * dataset.recordBytes else {
            throw DataError.tooManyRecords(path: path, bytes: bytes, dataset: dataset)
        }
        guard bytes % dataset.recordBytes == 0 else { throw DataError.badSize(path: path, bytes: bytes, dataset: dataset) }
        return bytes / dataset.recordBytes
    }

    /// Checks the labels of each whole record in `source` through `reader` and copies the label
    /// the run learns and the pixels into `labels` and `pixels` from image `destination` on.
    /// `firstRecord` is the index, within the file, of the first record of `source`, so that a
    /// bad label is named by its place in the file.
    static func scatter(_ source: UnsafeRawBufferPointer, path: String, firstRecord: Int, reader: inout LabelReader,
                        labels: UnsafeMutableBufferPointer<UInt8>, pixels: UnsafeMutableBufferPointer<UInt8>,
                        at destination: Int) throws {
        let recordBytes = reader.dataset.recordBytes, labelBytes = reader.dataset.labelBytes
        let records = source.count / recordBytes
        precondition(source.count == records * recordBytes && destination + records <= labels.count
                     && labels.count * CIFARImage.imageBytes == pixels.count, "scatter: buffers do not fit")
        guard records > 0, let input = source.baseAddress, let pixelOut = pixels.baseAddress else { return }
        for r in 0..<records {
            let record = input + r * recordBytes
            labels[destination + r] = try reader.label(of: record, path: path, record: firstRecord + r)
            UnsafeMutableRawPointer(pixelOut + (destination + r) * CIFARImage.imageBytes)
                .copyMemory(from: record + labelBytes, byteCount: CIFARImage.imageBytes)
        }
    }

    // MARK: - Files, through POSIX so that errors carry errno's explanation

    /// `directory/name`, without doubling a trailing slash.
    static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    /// Throws unless `path` is a directory: `missingDirectory` when there is nothing there (or it
    /// cannot be looked at), `notADirectory` when it is a file.
    static func checkIsDirectory(_ path: String, dataset: Dataset) throws {
        var info = stat()
        guard stat(path, &info) == 0 else { throw DataError.missingDirectory(path: path, dataset: dataset) }
        guard (info.st_mode & S_IFMT) == S_IFDIR else { throw DataError.notADirectory(path: path, dataset: dataset) }
    }

    /// Whether anything is at `path`.
    static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }

    /// The error for the split's file `path` of `dataset` missing from `directory`: when the
    /// directory holds another version of the data or the other data set, the error says which
    /// and what reads it.
    static func missingFileError(_ path: String, directory: String, dataset: Dataset) -> DataError {
        let pickleName = String(path.dropLast(".bin".count))
        let pickleMeta = dataset.name == .cifar10 ? "batches.meta" : "meta"
        if exists(pickleName) || exists(join(directory, pickleMeta)) {
            return .pythonVersion(path: path, directory: directory, dataset: dataset)
        }
        let other: Dataset = dataset.name == .cifar10 ? .cifar100() : .cifar10
        if other.allFiles.contains(where: { exists(join(directory, $0)) }) {
            return dataset.name == .cifar10 ? .cifar100(path: path, directory: directory) : .cifar10(path: path, directory: directory)
        }
        return .missingFile(path: path, hint: DataError.obtainHint(directory: directory, dataset: dataset), dataset: dataset)
    }

    /// The size of the regular file at `path`, or the error that explains why it has none.
    static func fileSize(_ path: String, directory: String, dataset: Dataset) throws -> Int {
        var info = stat()
        guard stat(path, &info) == 0 else {
            let code = errno
            if code == ENOENT { throw missingFileError(path, directory: directory, dataset: dataset) }
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
                            reader: inout LabelReader,
                            labels: UnsafeMutableBufferPointer<UInt8>, pixels: UnsafeMutableBufferPointer<UInt8>,
                            at first: Int) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw DataError.unreadable(path: path, reason: systemMessage(errno)) }
        defer { close(fd) }
        let recordBytes = reader.dataset.recordBytes
        let perChunk = chunk.count / recordBytes
        var done = 0
        while done < records {
            let count = min(perChunk, records - done)
            let part = UnsafeMutableRawBufferPointer(rebasing: chunk[..<(count * recordBytes)])
            try readExactly(fd, path, into: part, offset: done * recordBytes, of: records * recordBytes)
            try scatter(UnsafeRawBufferPointer(part), path: path, firstRecord: done, reader: &reader,
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
