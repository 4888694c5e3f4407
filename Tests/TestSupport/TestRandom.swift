/// SplitMix64: the tests' one seeded random source, fully deterministic and independent of the
/// engine's own generator (so a change there cannot move a test's data).
public struct TestRandom {
    private var state: UInt64

    /// A stream determined by `seed` alone.
    public init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 &+ 0x1234_5678 }

    /// SplitMix64's output function: a well-mixed 64-bit value of `x`, for data that must be a
    /// pure function of an index (a pixel of image `id`) rather than of how far a stream has run.
    public static func hash(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Self.hash(state &- 0x9E37_79B9_7F4A_7C15)
    }

    /// Uniform in [0, 1).
    public mutating func unit() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }

    /// Uniform in [lo, hi).
    public mutating func uniform(_ lo: Float, _ hi: Float) -> Float { lo + (hi - lo) * unit() }

    /// Uniform integer in `range`.
    public mutating func int(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.count))
    }

    /// A fair coin.
    public mutating func bool() -> Bool { next() & 1 == 1 }

    /// `count` values uniform in [lo, hi).
    public mutating func floats(_ count: Int, _ lo: Float = -1, _ hi: Float = 1) -> [Float] {
        (0..<count).map { _ in uniform(lo, hi) }
    }

    /// Fisher–Yates shuffle of `a` in place.
    public mutating func shuffle<T>(_ a: inout [T]) {
        guard a.count > 1 else { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) {
            a.swapAt(i, Int(next() % UInt64(i + 1)))
        }
    }
}
