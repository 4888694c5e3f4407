/// Average pooling: 2×2 windows with stride 2, and global average pooling.
public enum Pooling {
    /// 2×2/2 average pooling of one plane (`h`, `w` even) into a plane of `h/2 × w/2`.
    public static func average2x2Forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                                         height h: Int, width w: Int) {
        let ow = w / 2
        for oy in 0..<(h / 2) {
            let r0 = x + 2 * oy * w, r1 = r0 + w, out = y + oy * ow
            for ox in 0..<ow {
                out[ox] = 0.25 * (r0[2 * ox] + r0[2 * ox + 1] + r1[2 * ox] + r1[2 * ox + 1])
            }
        }
    }

    /// Adds a quarter of each output gradient to its four inputs.
    public static func average2x2Backward(_ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                                          height h: Int, width w: Int) {
        let ow = w / 2
        for oy in 0..<(h / 2) {
            let r0 = dx + 2 * oy * w, r1 = r0 + w, g = dy + oy * ow
            for ox in 0..<ow {
                let v = 0.25 * g[ox]
                r0[2 * ox] += v; r0[2 * ox + 1] += v; r1[2 * ox] += v; r1[2 * ox + 1] += v
            }
        }
    }

    /// The mean of one plane of `count` elements.
    public static func globalAverageForward(_ x: UnsafePointer<Float>, count: Int) -> Float {
        var s: Float = 0
        for i in 0..<count { s += x[i] }
        return s / Float(count)
    }

    /// Adds `dy / count` to every element of the plane.
    public static func globalAverageBackward(_ dy: Float, _ dx: UnsafeMutablePointer<Float>, count: Int) {
        let v = dy / Float(count)
        for i in 0..<count { dx[i] += v }
    }
}
