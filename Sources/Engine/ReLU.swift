/// The rectifier `y = max(0, x)`, propagating NaN as PyTorch does: a NaN input stays NaN, so
/// overflowing activations reach the loss and stop training instead of being silently zeroed.
/// (Swift's `max(0, x)` returns 0 for a NaN `x`; every rectifier in the engine writes
/// `max(x, 0)`, which returns the NaN.)
public enum ReLU {
    /// `y = max(0, x)` over `count` elements.
    public static func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { y[i] = max(x[i], 0) }
    }

    /// `dx += dy · [y > 0]` over `count` elements (the mask is taken from the output).
    public static func backward(output y: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>,
                                inputGradient dx: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count where y[i] > 0 { dx[i] += dy[i] }
    }
}
