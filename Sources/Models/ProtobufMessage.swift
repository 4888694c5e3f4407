/// A protocol-buffer message being encoded: the wire format (varints, length-delimited fields,
/// packed repeated scalars) for the few ONNX messages `ONNXGraph` writes. Hand-written rather
/// than generated: the schema is small and stable, the field numbers are `ONNXGraph`'s, and
/// `onnx.checker` plus onnxruntime read every exported file in the tests.
struct ProtobufMessage {
    /// The encoded fields so far.
    private(set) var bytes: [UInt8] = []

    /// The wire types used here.
    private enum WireType: UInt64 {
        case varint = 0, fixed32 = 5, lengthDelimited = 2
    }

    private mutating func tag(_ field: Int, _ type: WireType) { varint(UInt64(field) << 3 | type.rawValue) }

    private mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7f) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    /// An int64, int32 or enum field (negative values as ten-byte two's complement, as protobuf does).
    mutating func integer(_ field: Int, _ value: Int64) {
        tag(field, .varint)
        varint(UInt64(bitPattern: value))
    }

    /// A float field.
    mutating func float(_ field: Int, _ value: Float) {
        tag(field, .fixed32)
        withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// A string field (UTF-8).
    mutating func string(_ field: Int, _ value: String) { data(field, Array(value.utf8)) }

    /// A bytes field.
    mutating func data(_ field: Int, _ value: [UInt8]) {
        tag(field, .lengthDelimited)
        varint(UInt64(value.count))
        bytes += value
    }

    /// An embedded message field.
    mutating func message(_ field: Int, _ value: ProtobufMessage) { data(field, value.bytes) }

    /// A packed repeated int64 field.
    mutating func packedIntegers(_ field: Int, _ values: [Int64]) {
        var packed = ProtobufMessage()
        for v in values { packed.varint(UInt64(bitPattern: v)) }
        data(field, packed.bytes)
    }
}
