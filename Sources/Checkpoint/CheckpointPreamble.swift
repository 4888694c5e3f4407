/// The fixed 64-byte start of a checkpoint file, all integers little-endian:
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 8 | magic `DDPTCKPT` |
/// | 8 | 4 | format version (UInt32, 1) |
/// | 12 | 4 | flags (UInt32; bit 0: the payload is byte-shuffled) |
/// | 16 | 8 | header length in bytes (UInt64) |
/// | 24 | 8 | compressed payload length in bytes (UInt64) |
/// | 32 | 8 | raw payload length in bytes (UInt64) |
/// | 40 | 8 | content checksum (UInt64, DDPT-64 of header ‖ raw payload) |
/// | 48 | 16 | reserved, zero |
struct CheckpointPreamble: Equatable {
    var version: UInt32
    var flags: UInt32
    var headerBytes: UInt64
    var compressedBytes: UInt64
    var rawBytes: UInt64
    var checksum: UInt64

    /// The magic bytes, "DDPTCKPT".
    static let magic: [UInt8] = Array("DDPTCKPT".utf8)
    /// Bit 0 of `flags`.
    static let shuffleFlag: UInt32 = 1

    /// Stores the preamble into the first 64 bytes of `destination`, reserved bytes zeroed.
    func store(into destination: UnsafeMutableRawPointer) {
        for (k, byte) in CheckpointPreamble.magic.enumerated() {
            destination.storeBytes(of: byte, toByteOffset: k, as: UInt8.self)
        }
        destination.storeBytes(of: version.littleEndian, toByteOffset: 8, as: UInt32.self)
        destination.storeBytes(of: flags.littleEndian, toByteOffset: 12, as: UInt32.self)
        destination.storeBytes(of: headerBytes.littleEndian, toByteOffset: 16, as: UInt64.self)
        destination.storeBytes(of: compressedBytes.littleEndian, toByteOffset: 24, as: UInt64.self)
        destination.storeBytes(of: rawBytes.littleEndian, toByteOffset: 32, as: UInt64.self)
        destination.storeBytes(of: checksum.littleEndian, toByteOffset: 40, as: UInt64.self)
        (destination + 48).initializeMemory(as: UInt8.self, repeating: 0, count: CheckpointFile.preambleBytes - 48)
    }

    /// Reads the fields of a preamble from at least 64 bytes (the magic is checked elsewhere).
    init(loadingFrom source: UnsafeRawPointer) {
        version = UInt32(littleEndian: source.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
        flags = UInt32(littleEndian: source.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
        headerBytes = UInt64(littleEndian: source.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
        compressedBytes = UInt64(littleEndian: source.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
        rawBytes = UInt64(littleEndian: source.loadUnaligned(fromByteOffset: 32, as: UInt64.self))
        checksum = UInt64(littleEndian: source.loadUnaligned(fromByteOffset: 40, as: UInt64.self))
    }

    /// Creates a preamble from its fields.
    init(version: UInt32, flags: UInt32, headerBytes: UInt64, compressedBytes: UInt64, rawBytes: UInt64,
         checksum: UInt64) {
        self.version = version
        self.flags = flags
        self.headerBytes = headerBytes
        self.compressedBytes = compressedBytes
        self.rawBytes = rawBytes
        self.checksum = checksum
    }
}
