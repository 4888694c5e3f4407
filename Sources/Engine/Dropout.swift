/// Inverted dropout: each element is kept with probability `1 − rate` and scaled by `1/(1 − rate)`.
///
/// The mask is a pure function of (seed, element index), so a step replays exactly whatever the
/// thread count.
public enum Dropout {
    /// Fills `mask` with `0` or `1/(1 − rate)` for elements `range` of the stream `seed`.
    public static func makeMask(seed: UInt64, rate: Float, range: Range<Int>, mask: UnsafeMutablePointer<Float>) {
        let keep = 1 / (1 - rate)
        for i in range {
            let u = RandomStream.uniform(seed: seed, index: UInt64(i))
            mask[i] = u < rate ? 0 : keep
        }
    }

    /// `y = x · mask`.
    public static func forward(_ x: UnsafePointer<Float>, mask: UnsafePointer<Float>,
                               _ y: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { y[i] = x[i] * mask[i] }
    }

    /// `dx += dy · mask`.
    public static func backward(_ dy: UnsafePointer<Float>, mask: UnsafePointer<Float>,
                                _ dx: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { dx[i] += dy[i] * mask[i] }
    }
}
