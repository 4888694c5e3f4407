/// The 64-bit FNV-1a hash: a stable key for names, configurations and parameter checksums that,
/// unlike Swift's `Hasher`, is the same in every process and on every rank.
public enum FNV1a {
    /// The offset basis, the hash of nothing.
    public static let basis: UInt64 = 0xcbf2_9ce4_8422_2325

    /// Folds one value (a byte, or a wider word for checksums) into hash `h`.
    @inline(__always)
    public static func mix(_ h: UInt64, _ value: UInt64) -> UInt64 {
        // FNV-1a multiplies modulo 2⁶⁴ by definition, hence the wrapping operator.
        (h ^ value) &* 0x100_0000_01b3
    }

    /// The hash of a byte sequence.
    public static func hash<Bytes: Sequence>(_ bytes: Bytes) -> UInt64 where Bytes.Element == UInt8 {
        bytes.reduce(basis) { mix($0, UInt64($1)) }
    }
}
