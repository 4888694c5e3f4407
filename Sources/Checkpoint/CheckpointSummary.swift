/// What a checkpoint file says about itself, for `inspect`-style output, logs and tests:
/// the preamble's and header's fields, the sizes of its parts, and its tensor table.
public struct CheckpointSummary: Sendable, Equatable {
    // The memberwise initialisers are internal: a summary is read from a file, not built by callers.
    /// One row of the tensor table: where a tensor sits in the raw payload.
    public struct Tensor: Sendable, Equatable {
        /// The tensor's name.
        public var name: String
        /// Its dimensions, outermost first.
        public var shape: [Int]
        /// The caller's section (`parameters`, `buffers`, `optimizer`, …).
        public var section: String
        /// Offset of its first element in the raw payload, in float32 elements.
        public var offset: Int
        /// Its number of elements (the product of `shape`).
        public var count: Int
    }

    /// The file format version (the preamble's, equal to the header's `format`).
    public var formatVersion: UInt32
    /// The version of the software that wrote the file (the header's `software_version`).
    public var softwareVersion: String
    /// When the file was encoded: the header's ISO-8601 text, e.g. `2025-03-01T12:34:56Z`.
    public var created: String
    /// The zstd level the payload was compressed with.
    public var compressionLevel: Int32
    /// Whether the payload was byte-shuffled before compression.
    public var shuffled: Bool
    /// Bytes of the JSON header.
    public var headerBytes: Int
    /// Bytes of the zstd frame.
    public var compressedPayloadBytes: Int
    /// Bytes of the raw payload (4 per float).
    public var rawPayloadBytes: Int
    /// Bytes of the whole file: the 64-byte preamble, the header and the frame.
    public var fileBytes: Int
    /// The content checksum (DDPT-64 of the header and the raw payload), as stored and verified.
    public var contentChecksum: UInt64
    /// The tensor table, in payload order.
    public var tensors: [Tensor]

    /// Raw payload bytes per file byte (e.g. 1.08 for nearly incompressible weights).
    public var compressionRatio: Double {
        fileBytes == 0 ? 0 : Double(rawPayloadBytes) / Double(fileBytes)
    }
}
