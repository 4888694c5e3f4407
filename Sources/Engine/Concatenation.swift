/// Channel concatenation of NCHW segments into one tensor, and its adjoint.
///
/// Layers normally read their concatenated inputs in place as a segment list; this kernel
/// materialises the concatenation where a dense tensor is needed.
public enum Concatenation {
    /// Copies sample `n` of every segment, in order, into sample `n` of `output`.
    public static func forward(_ segments: [TensorView], into output: TensorView, sample n: Int) {
        var dst = output.sample(n)
        for s in segments {
            dst.update(from: s.sample(n), count: s.shape.elementCount)
            dst += s.shape.elementCount
        }
    }

    /// Adds sample `n` of `outputGradient`, split by channel, onto every segment's gradient.
    public static func backward(_ outputGradient: TensorView, into segments: [TensorView], sample n: Int) {
        var src = outputGradient.sample(n)
        for s in segments {
            let dst = s.sample(n)
            for i in 0..<s.shape.elementCount { dst[i] += src[i] }
            src += s.shape.elementCount
        }
    }
}
