/// The rectifier `y = max(0, x)`.
public enum ReLU {
    /// `y = max(0, x)` over `count` elements.
    public static func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { y[i] = max(0, x[i]) }
    }

    /// `dx += dy · [y > 0]` over `count` elements (the mask is taken from the output).
    public static func backward(output y: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>,
                                inputGradient dx: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count where y[i] > 0 { dx[i] += dy[i] }
    }
}
