/// bfloat16, the upper half of a float32 (sign, 8 exponent bits, 7 mantissa bits), as the
/// reduced-precision gradient exchange (`--allreduce-dtype bf16`) sends it: the same range as
/// float32, so gradients neither overflow nor underflow earlier than in float32, at half the bytes.
///
/// Values are kept as their 16-bit patterns (`UInt16`); nothing here depends on a platform's
/// own half-precision types, so every rank, whatever its CPU, converts and adds bit for bit alike.
public enum BFloat16 {
    /// The pattern of the bfloat16 nearest to `value`, ties to the even pattern (IEEE 754's
    /// default rounding): adding 0x7FFF plus the lowest kept bit to the float32 pattern carries
    /// into the kept half exactly when the dropped half is above one half, or equal to it with an
    /// odd kept half. That also rounds subnormals correctly and sends values beyond bfloat16's
    /// largest finite one to infinity. A NaN stays a NaN of the same sign (made quiet, since
    /// dropping the low half could otherwise leave the pattern of an infinity).
    @inline(__always)
    public static func bits(rounding value: Float) -> UInt16 {
        let pattern = value.bitPattern
        if value.isNaN { return UInt16(truncatingIfNeeded: pattern >> 16) | 0x0040 }
        let rounded = pattern &+ 0x7FFF &+ ((pattern >> 16) & 1)
        return UInt16(truncatingIfNeeded: rounded >> 16)
    }

    /// The float32 equal to the bfloat16 with pattern `bits` (exact: every bfloat16 is a float32).
    @inline(__always)
    public static func float(_ bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    /// `a + b` computed in float32 and rounded back to bfloat16: the reduction of the exchange.
    /// It is commutative bit for bit (float addition is), so ranks that add the same pair in either
    /// order hold the same result.
    @inline(__always)
    public static func sum(_ a: UInt16, _ b: UInt16) -> UInt16 {
        bits(rounding: float(a) + float(b))
    }

    /// Writes the bfloat16 patterns of `count` floats from `values` to `patterns`.
    public static func round(_ values: UnsafePointer<Float>, into patterns: UnsafeMutablePointer<UInt16>, count: Int) {
        for i in 0..<count { patterns[i] = bits(rounding: values[i]) }
    }

    /// Writes the float32 values of `count` bfloat16 patterns to `values`.
    public static func expand(_ patterns: UnsafePointer<UInt16>, into values: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { values[i] = float(patterns[i]) }
    }

    /// Replaces each of `count` patterns in `accumulator` by its `sum` with the one in `input`:
    /// the body of the MPI reduction (`MPI_User_function` computes inout = in ∘ inout).
    public static func accumulate(_ input: UnsafePointer<UInt16>, into accumulator: UnsafeMutablePointer<UInt16>, count: Int) {
        for i in 0..<count { accumulator[i] = sum(input[i], accumulator[i]) }
    }
}
