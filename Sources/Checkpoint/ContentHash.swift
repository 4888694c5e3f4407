import Foundation

/// DDPT-64, the 64-bit hash behind a checkpoint's content checksum and `valueHash`: XXH64's
/// round function applied to 8-byte words with a single accumulator, then SplitMix64's
/// finaliser over the length.
///
/// ```
/// h = 0x27D4EB2F165667C5                                          (XXH64's PRIME64_5)
/// for each 8-byte little-endian word w (a last partial word is zero-padded):
///     h = rotl64(h + w · 0xC2B2AE3D27D4EB4F, 31) · 0x9E3779B185EBCA87      (all mod 2⁶⁴)
/// h ^= byte count;  then SplitMix64's finaliser:
///     h ^= h >> 30; h *= 0xBF58476D1CE4E5B9; h ^= h >> 27; h *= 0x94D049BB133111EB; h ^= h >> 31
/// ```
///
/// Why not FNV-1a over words (h = (h ^ w) · p): the word enters the state unmixed, so a
/// difference the multiply leaves sparse (a flip of bit 63 stays bit 63) is cancelled by a
/// one-bit flip of the next word, and two-bit errors in neighbouring words go unseen. Here the
/// word is multiplied before it meets the state, so cancelling a difference needs a dense,
/// specific change of the next word. Every round is a bijection of `h` for a fixed word and of
/// the word for a fixed `h`, so any change confined to one word always changes the result.
/// zstd's XXH64 itself would do, but libzstd does not export it. The serial chain is one add,
/// one rotate and one multiply per 8 bytes, several GB/s: a 10 MB payload costs a few milliseconds.
///
/// Streaming: `update` may be called with pieces of any sizes; the result is that of the
/// concatenation.
public struct ContentHash: Sendable {
    /// The initial state (XXH64's PRIME64_5).
    static let seed: UInt64 = 0x27D4_EB2F_1656_67C5
    /// Multiplies each word before it is added (XXH64's PRIME64_2).
    static let wordMultiplier: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    /// Multiplies the rotated state (XXH64's PRIME64_1).
    static let stateMultiplier: UInt64 = 0x9E37_79B1_85EB_CA87

    private var state: UInt64 = ContentHash.seed
    private var length: UInt64 = 0
    /// Bytes of an incomplete word carried to the next `update`, in its low bytes.
    private var pending: UInt64 = 0
    private var pendingCount = 0

    /// A hash of no bytes yet.
    public init() {}

    @inline(__always)
    private static func step(_ h: UInt64, _ word: UInt64) -> UInt64 {
        // DDPT-64 is defined modulo 2⁶⁴ (see above), hence the wrapping operators.
        let a = h &+ word &* wordMultiplier
        return ((a << 31) | (a >> 33)) &* stateMultiplier
    }

    /// Adds `bytes` to the hashed stream.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        let n = bytes.count
        guard n > 0, let base = bytes.baseAddress else { return }
        length &+= UInt64(n)
        var i = 0
        // Complete a word left over from the previous piece.
        while pendingCount > 0 && pendingCount < 8 && i < n {
            pending |= UInt64(base.load(fromByteOffset: i, as: UInt8.self)) << (8 * UInt64(pendingCount))
            pendingCount += 1
            i += 1
        }
        var h = state
        if pendingCount == 8 {
            h = ContentHash.step(h, pending)
            pending = 0
            pendingCount = 0
        }
        let wordsEnd = i + (n - i) / 8 * 8
        while i < wordsEnd {
            h = ContentHash.step(h, UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i, as: UInt64.self)))
            i += 8
        }
        state = h
        while i < n {
            pending |= UInt64(base.load(fromByteOffset: i, as: UInt8.self)) << (8 * UInt64(pendingCount))
            pendingCount += 1
            i += 1
        }
    }

    /// Adds the bytes of `bytes` (any contiguous collection of `UInt8`, e.g. `Data`, `[UInt8]`).
    public mutating func update<Bytes: ContiguousBytes>(_ bytes: Bytes) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// The hash of everything added so far (the hasher may continue to be updated).
    public func finalize() -> UInt64 {
        var h = state
        if pendingCount > 0 { h = ContentHash.step(h, pending) }
        h ^= length
        h = (h ^ (h >> 30)) &* 0xBF58_476D_1CE4_E5B9
        h = (h ^ (h >> 27)) &* 0x94D0_49BB_1331_11EB
        return h ^ (h >> 31)
    }

    /// The hash of `bytes` alone.
    public static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var hasher = ContentHash()
        hasher.update(bytes)
        return hasher.finalize()
    }
}
