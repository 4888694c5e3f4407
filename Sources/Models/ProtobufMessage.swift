/// A protocol-buffer message being encoded: the wire format (varints, fixed 32- and 64-bit
/// fields, length-delimited fields, packed repeated scalars) for the few messages ddptrain writes:
/// ONNX's (`ONNXGraph`) and TensorBoard's events (`TensorBoardLog`). Hand-written rather than
/// generated: those schemas are small and stable, the field numbers sit beside their use, and the
/// tests read every file back with the reference readers (onnx.checker, onnxruntime,
/// TensorBoard's event accumulator).
public struct ProtobufMessage: Sendable {
    /// The encoded fields so far.
    public private(set) var bytes: [UInt8] = []

    /// An empty message.
    public init() {}

    /// The wire types used here.
    private enum WireType: UInt64 {
        case varint = 0, fixed64 = 1, lengthDelimited = 2, fixed32 = 5
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
    public mutating func integer(_ field: Int, _ value: Int64) {
        tag(field, .varint)
        varint(UInt64(bitPattern: value))
    }

    /// A float field.
    public mutating func float(_ field: Int, _ value: Float) {
        tag(field, .fixed32)
        withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// A double field.
    public mutating func double(_ field: Int, _ value: Double) {
        tag(field, .fixed64)
        withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// A string field (UTF-8).
    public mutating func string(_ field: Int, _ value: String) { data(field, Array(value.utf8)) }

    /// A bytes field.
    public mutating func data(_ field: Int, _ value: [UInt8]) {
        tag(field, .lengthDelimited)
        varint(UInt64(value.count))
        bytes += value
    }

    /// An embedded message field.
    public mutating func message(_ field: Int, _ value: ProtobufMessage) { data(field, value.bytes) }

    /// A packed repeated int64 field.
    public mutating func packedIntegers(_ field: Int, _ values: [Int64]) {
        var packed = ProtobufMessage()
        for v in values { packed.varint(UInt64(bitPattern: v)) }
        data(field, packed.bytes)
    }
}
