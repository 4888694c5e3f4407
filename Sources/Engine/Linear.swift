import CBLAS

/// A fully connected layer `y = x · Wᵀ + b` with PyTorch's weight layout `[out × in]`.
public enum Linear {
    /// `y[batch × out] = x[batch × in] · Wᵀ + b`.
    public static func forward(x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                               y: UnsafeMutablePointer<Float>, batch: Int, inFeatures: Int, outFeatures: Int) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(batch), Int32(outFeatures), Int32(inFeatures),
                    1, x, Int32(inFeatures), weight, Int32(inFeatures), 0, y, Int32(outFeatures))
        if let bias {
            for n in 0..<batch {
                for o in 0..<outFeatures { y[n * outFeatures + o] += bias[o] }
            }
        }
    }

    /// Adds `dW = dyᵀ · x` and `db = Σ dy` to the parameter gradients and, when `dx` is given,
    /// `dy · W` to the input gradient.
    public static func backward(x: UnsafePointer<Float>, weight: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                                weightGradient: UnsafeMutablePointer<Float>, biasGradient: UnsafeMutablePointer<Float>?,
                                dx: UnsafeMutablePointer<Float>?, batch: Int, inFeatures: Int, outFeatures: Int) {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(outFeatures), Int32(inFeatures), Int32(batch),
                    1, dy, Int32(outFeatures), x, Int32(inFeatures), 1, weightGradient, Int32(inFeatures))
        if let biasGradient {
            for n in 0..<batch {
                for o in 0..<outFeatures { biasGradient[o] += dy[n * outFeatures + o] }
            }
        }
        if let dx {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(batch), Int32(inFeatures), Int32(outFeatures),
                        1, dy, Int32(outFeatures), weight, Int32(inFeatures), 1, dx, Int32(inFeatures))
        }
    }
}
