import Checkpoint

/// NumPy's `.npy` format (version 1.0) for a float32 matrix: what `eval --logits` writes, so that
/// `numpy.load` reads the logits without a reader of ours.
public enum NumpyFile {
    /// The bytes of a `.npy` file holding `values` as a little-endian float32 array of `shape`.
    public static func float32(_ values: [Float], shape: [Int]) -> [UInt8] {
        precondition(shape.reduce(1, *) == values.count, "a .npy array of shape \(shape) needs \(shape.reduce(1, *)) values")
        let dimensions = shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? "," : "")
        var header = Array("{'descr': '<f4', 'fortran_order': False, 'shape': (\(dimensions)), }".utf8)
        // Magic (6) + version (2) + header length (2) + header, padded with spaces and a newline
        // to a multiple of 64 bytes, as the format asks.
        while (10 + header.count + 1) % 64 != 0 { header.append(UInt8(ascii: " ")) }
        header.append(UInt8(ascii: "\n"))
        var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.count & 0xff), UInt8(header.count >> 8)] + header
        bytes.reserveCapacity(bytes.count + 4 * values.count)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        return bytes
    }

    /// Writes `values` as the new file `path` (never replacing one).
    public static func write(_ values: [Float], shape: [Int], to path: String) throws {
        try POSIXFile.createNewFile(path, float32(values, shape: shape))
    }
}
