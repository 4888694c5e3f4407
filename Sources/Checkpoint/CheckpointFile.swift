import Foundation

/// The checkpoint file format: a 64-byte preamble, a JSON header, and one zstd frame holding
/// every tensor's float32 values (see Docs/checkpoint-format.md for the byte-level layout).
///
/// The file describes itself (names, shapes, sections, the caller's metadata, the software that
/// wrote it) and checks itself three ways: lengths in the preamble catch truncation, zstd's frame
/// checksum catches a damaged frame, and the content checksum (DDPT-64 over the header and the
/// raw payload) catches anything else, the header included. `decode` accepts a file only if all
/// of them agree, so a resumed run never starts from silently damaged weights.
public enum CheckpointFile {
    /// The first bytes of every checkpoint file, "DDPTCKPT": how a reader tells one from other files.
    public static var magic: [UInt8] { CheckpointPreamble.magic }

    /// The format version this build writes and reads.
    public static let formatVersion: UInt32 = 1
    /// The size of the fixed preamble.
    public static let preambleBytes = 64
    /// The zstd level used when the caller has no preference.
    public static let defaultLevel: Int32 = 3

    /// The complete file bytes.
    ///
    /// - Parameters:
    ///   - metadata: a UTF-8 JSON object (training configuration, progress, …), embedded in the
    ///     header byte for byte and handed back unchanged by `decode`.
    ///   - tensors: stored in this order; names must be unique and non-empty, sections non-empty,
    ///     and each tensor's values must match its shape.
    ///   - softwareVersion: recorded in the header (`software_version`).
    ///   - level: the zstd level (1–19 are the usual range; 3 is zstd's default).
    ///   - shuffle: byte-shuffle the payload before compressing it (helps trained weights).
    /// - Throws: `CheckpointError.malformedHeader` or `.corruptPayload` with path
    ///   `CheckpointError.encodingPath` if the metadata or a tensor cannot be stored as given.
    public static func encode(metadata: Data, tensors: [NamedTensor], softwareVersion: String, level: Int32,
                              shuffle: Bool) throws -> Data {
        try encode(metadata: metadata, tensors: tensors, softwareVersion: softwareVersion, level: level,
                   shuffle: shuffle, created: Date())
    }

    /// `encode` with a given creation time (tests use it to make files reproducible).
    static func encode(metadata: Data, tensors: [NamedTensor], softwareVersion: String, level: Int32,
                       shuffle: Bool, created: Date) throws -> Data {
        try checkMetadata(metadata)
        let table = try layout(tensors)
        let header = CheckpointHeader.render(
            format: formatVersion, softwareVersion: softwareVersion, created: iso8601(created), level: level,
            shuffle: shuffle, tensors: table, metadata: metadata)
        let raw = rawPayload(tensors)

        var hasher = ContentHash()
        hasher.update(header)
        hasher.update(raw)
        let checksum = hasher.finalize()

        let payload = shuffle ? shuffled(raw) : raw
        let frameStart = preambleBytes + header.count
        var file = Data(count: frameStart + Zstd.bound(payload.count))
        let frameBytes: Int
        do {
            frameBytes = try file.withUnsafeMutableBytes { out in
                try payload.withUnsafeBytes { source in
                    try Zstd.compress(source, into: UnsafeMutableRawBufferPointer(rebasing: out[frameStart...]),
                                      level: level)
                }
            }
        } catch let failure as Zstd.Failure {
            throw CheckpointError.corruptPayload(path: CheckpointError.encodingPath, reason: failure.reason)
        }
        file.count = frameStart + frameBytes
        let preamble = CheckpointPreamble(
            version: formatVersion, flags: shuffle ? CheckpointPreamble.shuffleFlag : 0,
            headerBytes: UInt64(header.count), compressedBytes: UInt64(frameBytes), rawBytes: UInt64(raw.count),
            checksum: checksum)
        file.withUnsafeMutableBytes { out in
            preamble.store(into: out.baseAddress!)
            header.withUnsafeBytes { (out.baseAddress! + preambleBytes).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        }
        return file
    }

    /// Parses and fully verifies (magic, version, lengths/truncation, zstd decode, checksum, tensor
    /// table consistency); `path` is only for messages.
    ///
    /// - Returns: the metadata exactly as it was given to `encode`, the tensors in file order,
    ///   and the file's summary.
    /// - Throws: `CheckpointError`, naming `path` and what is wrong.
    public static func decode(_ bytes: Data, path: String) throws
        -> (metadata: Data, tensors: [NamedTensor], summary: CheckpointSummary) {
        try bytes.withUnsafeBytes { try decode(file: $0, path: path) }
    }

    /// Reads and verifies the checkpoint at `path` (see `decode`).
    ///
    /// - Throws: `CheckpointError.notFound` if there is no such file, `.io` if it cannot be read,
    ///   and whatever `decode` finds wrong with its contents.
    public static func read(path: String) throws -> (metadata: Data, tensors: [NamedTensor], summary: CheckpointSummary) {
        try decode(POSIXFile.readAll(path), path: path)
    }

    /// A hash of all tensor values (DDPT-64 of their concatenated little-endian float32 bytes,
    /// i.e. of the raw payload a file of these tensors holds): equal ⇔ bitwise-equal weights, up to
    /// 64-bit collisions. Names and shapes do not enter it, only the values and their order.
    public static func valueHash(_ tensors: [NamedTensor]) -> UInt64 {
        var hasher = ContentHash()
        for tensor in tensors {
            withLittleEndianBytes(tensor.values) { hasher.update($0) }
        }
        return hasher.finalize()
    }

    // MARK: - Decoding

    private static func decode(file: UnsafeRawBufferPointer, path: String) throws
        -> (metadata: Data, tensors: [NamedTensor], summary: CheckpointSummary) {
        let size = file.count
        let magic = CheckpointPreamble.magic
        for k in 0..<min(size, magic.count) where file[k] != magic[k] {
            throw CheckpointError.badMagic(path: path)
        }
        guard size >= preambleBytes else {
            throw CheckpointError.truncated(path: path, expected: preambleBytes, actual: size)
        }
        let preamble = CheckpointPreamble(loadingFrom: file.baseAddress!)
        guard preamble.version == formatVersion else {
            throw CheckpointError.unsupportedVersion(path: path, found: preamble.version, supported: formatVersion)
        }
        func malformed(_ reason: String) -> CheckpointError { .malformedHeader(path: path, reason: reason) }
        guard preamble.flags & ~CheckpointPreamble.shuffleFlag == 0 else {
            throw malformed("its preamble sets flags \(CheckpointError.hex(UInt64(preamble.flags))), but format "
                            + "\(formatVersion) defines only bit 0 (byte shuffle)")
        }
        guard (48..<preambleBytes).allSatisfy({ file[$0] == 0 }) else {
            throw malformed("the reserved preamble bytes 48–63 are not zero")
        }

        // Lengths: preamble + header + frame must be exactly the file.
        let lengths = "header \(preamble.headerBytes), compressed payload \(preamble.compressedBytes), "
            + "raw payload \(preamble.rawBytes) bytes"
        guard preamble.headerBytes < UInt64(Int.max / 4), preamble.compressedBytes < UInt64(Int.max / 4),
              preamble.rawBytes < UInt64(Int.max / 4) else {
            throw malformed("its preamble's lengths are impossible (\(lengths))")
        }
        let headerBytes = Int(preamble.headerBytes), frameBytes = Int(preamble.compressedBytes)
        let rawBytes = Int(preamble.rawBytes)
        let expected = preambleBytes + headerBytes + frameBytes
        guard expected <= size else { throw CheckpointError.truncated(path: path, expected: expected, actual: size) }
        guard expected == size else {
            throw CheckpointError.corruptPayload(
                path: path, reason: "the file has \(size - expected) bytes after the end of its payload at byte "
                    + "\(expected) (\(lengths))")
        }
        guard rawBytes % 4 == 0 else {
            throw malformed("its raw payload length \(rawBytes) is not a whole number of float32 values")
        }
        let headerRange = preambleBytes..<(preambleBytes + headerBytes)
        let header = UnsafeRawBufferPointer(rebasing: file[headerRange])
        let frame = UnsafeRawBufferPointer(rebasing: file[headerRange.upperBound..<expected])

        // The payload, then the checksum over the header and the raw payload.
        let decoded: [UInt8]
        do {
            decoded = try Zstd.decompress(frame, expectedBytes: rawBytes)
        } catch {
            throw CheckpointError.corruptPayload(path: path, reason: error.reason)
        }
        let shuffled = preamble.flags & CheckpointPreamble.shuffleFlag != 0
        let raw = shuffled ? unshuffled(decoded) : decoded
        var hasher = ContentHash()
        hasher.update(header)
        hasher.update(raw)
        let actual = hasher.finalize()
        guard actual == preamble.checksum else {
            throw CheckpointError.checksumMismatch(path: path, expected: preamble.checksum, actual: actual)
        }

        // The header, and its agreement with the preamble and the payload.
        let parsed: CheckpointHeader
        do {
            parsed = try CheckpointHeader.parse(header)
        } catch {
            throw malformed(error.reason)
        }
        let table = parsed.table
        guard table.format == Int(formatVersion) else {
            throw malformed("its \"format\" is \(table.format) but the preamble says \(formatVersion)")
        }
        guard table.compression.codec == "zstd" else {
            throw malformed("its codec is \"\(table.compression.codec)\"; format \(formatVersion) uses \"zstd\"")
        }
        guard table.compression.shuffle == shuffled else {
            throw malformed("its \"shuffle\" is \(table.compression.shuffle) but the preamble's flag says \(shuffled)")
        }
        let entries = try checkTable(table.tensors, rawBytes: rawBytes, path: path)

        let tensors = entries.map { entry in
            NamedTensor(name: entry.name, shape: entry.shape, section: entry.section,
                        values: floats(raw, offset: entry.offset, count: entry.count))
        }
        let metadata = Data(UnsafeRawBufferPointer(rebasing: header[parsed.metadata]))
        let summary = CheckpointSummary(
            formatVersion: preamble.version, softwareVersion: table.softwareVersion, created: table.created,
            compressionLevel: table.compression.level, shuffled: shuffled, headerBytes: headerBytes,
            compressedPayloadBytes: frameBytes, rawPayloadBytes: rawBytes, fileBytes: size,
            contentChecksum: preamble.checksum, tensors: entries)
        return (metadata, tensors, summary)
    }

    /// Checks that the tensor table tiles the raw payload: unique non-empty names, non-empty
    /// sections, counts that match the shapes, offsets contiguous in table order.
    private static func checkTable(_ tensors: [CheckpointHeader.Table.Entry], rawBytes: Int,
                                   path: String) throws -> [CheckpointSummary.Tensor] {
        func malformed(_ reason: String) -> CheckpointError { .malformedHeader(path: path, reason: reason) }
        var names = Set<String>()
        var next = 0
        var rows: [CheckpointSummary.Tensor] = []
        for (k, entry) in tensors.enumerated() {
            let label = "tensor \(k) ('\(entry.name)')"
            guard !entry.name.isEmpty else { throw malformed("tensor \(k) has an empty name") }
            guard names.insert(entry.name).inserted else { throw malformed("two tensors are named '\(entry.name)'") }
            guard !entry.section.isEmpty else { throw malformed("\(label) has an empty section") }
            let count = NamedTensor(name: entry.name, shape: entry.shape, section: entry.section, values: []).elementCount
            guard let count, count == entry.count else {
                throw malformed("\(label) has shape \(entry.shape) but count \(entry.count)")
            }
            guard entry.offset == next else {
                throw malformed("\(label) starts at element \(entry.offset), expected \(next) (tensors are stored "
                                + "contiguously in table order)")
            }
            guard count <= rawBytes / 4 - next else {
                throw malformed("\(label) ends at element \(next + count), beyond the payload's \(rawBytes / 4) values")
            }
            rows.append(CheckpointSummary.Tensor(name: entry.name, shape: entry.shape, section: entry.section,
                                                 offset: entry.offset, count: count))
            next += count
        }
        guard next * 4 == rawBytes else {
            throw malformed("the tensors hold \(next) values but the payload has \(rawBytes / 4)")
        }
        return rows
    }
}
