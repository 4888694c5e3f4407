/// The Blosc-style byte shuffle of float32 data: with `n` floats, output byte `k·n + i` is byte
/// `k` (little-endian) of float `i`, for k = 0…3.
///
/// Trained weights share their exponent bytes and differ mostly in the low mantissa bytes;
/// grouping the bytes of each significance together gives zstd long runs of similar bytes, where
/// interleaved floats look like noise. The transform is a permutation, so it loses nothing.
enum ByteShuffle {
    /// Shuffles `source` (a whole number of 4-byte floats) into `destination` of the same size.
    static func shuffle(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer) {
        precondition(source.count % 4 == 0 && destination.count == source.count,
                     "byte shuffle of \(source.count) bytes into \(destination.count)")
        let n = source.count / 4
        guard n > 0 else { return }
        let src = source.baseAddress!
        let out = destination.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let b0 = out, b1 = out + n, b2 = out + 2 * n, b3 = out + 3 * n
        for i in 0..<n {
            let word = UInt32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))
            b0[i] = UInt8(truncatingIfNeeded: word)
            b1[i] = UInt8(truncatingIfNeeded: word >> 8)
            b2[i] = UInt8(truncatingIfNeeded: word >> 16)
            b3[i] = UInt8(truncatingIfNeeded: word >> 24)
        }
    }

    /// The inverse of `shuffle`: gathers byte `k` of float `i` from `k·n + i`.
    static func unshuffle(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer) {
        precondition(source.count % 4 == 0 && destination.count == source.count,
                     "byte unshuffle of \(source.count) bytes into \(destination.count)")
        let n = source.count / 4
        guard n > 0 else { return }
        let src = source.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let b0 = src, b1 = src + n, b2 = src + 2 * n, b3 = src + 3 * n
        let out = destination.baseAddress!
        for i in 0..<n {
            let word = UInt32(b0[i]) | UInt32(b1[i]) << 8 | UInt32(b2[i]) << 16 | UInt32(b3[i]) << 24
            out.storeBytes(of: word.littleEndian, toByteOffset: 4 * i, as: UInt32.self)
        }
    }
}
