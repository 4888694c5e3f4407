/// Counter-based random numbers: every value is a pure function of (seed, index), so any
/// element of any stream can be drawn in any order on any thread and replays exactly.
public enum RandomStream {
    /// SplitMix64's finaliser: a bijective mix of 64 bits.
    @inline(__always)
    public static func mix(_ z0: UInt64) -> UInt64 {
        // Arithmetic modulo 2⁶⁴ is the definition of the mix, hence the wrapping operators.
        var z = z0 &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Combines a seed with further keys (layer, step, epoch, …) into a new seed.
    public static func derive(_ seed: UInt64, _ keys: UInt64...) -> UInt64 {
        var h = mix(seed)
        for k in keys { h = mix(h ^ mix(k)) }
        return h
    }

    /// 64 random bits for `index` of stream `seed`.
    @inline(__always)
    public static func bits(seed: UInt64, index: UInt64) -> UInt64 {
        mix(seed ^ mix(index))
    }

    /// A uniform float in [0, 1) with 24 random bits.
    @inline(__always)
    public static func uniform(seed: UInt64, index: UInt64) -> Float {
        Float(bits(seed: seed, index: index) >> 40) * (1.0 / 16_777_216.0)
    }

    /// A standard normal value by Box–Muller from two draws of the stream.
    public static func normal(seed: UInt64, index: UInt64) -> Float {
        let u1 = (Double(bits(seed: seed, index: 2 * index) >> 11) + 0.5) * (1.0 / 9_007_199_254_740_992.0)
        let u2 = Double(bits(seed: seed, index: 2 * index + 1) >> 11) * (1.0 / 9_007_199_254_740_992.0)
        return Float((-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2))
    }
}

#if canImport(Glibc)
import Glibc
@inline(__always) private func _log(_ x: Double) -> Double { Glibc.log(x) }
@inline(__always) private func _cos(_ x: Double) -> Double { Glibc.cos(x) }
#else
import Darwin
@inline(__always) private func _log(_ x: Double) -> Double { Darwin.log(x) }
@inline(__always) private func _cos(_ x: Double) -> Double { Darwin.cos(x) }
#endif
