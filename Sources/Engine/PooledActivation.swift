/// The fused batch norm + ReLU + 2×2/2 average pooling in front of a pooled 1×1 convolution
/// (`PooledConvolutionLayer`), one sample at a time, and its adjoint.
///
/// A 1×1 convolution acts on each pixel alone and average pooling is linear over pixels, so
/// pooling before the convolution gives the same output as pooling after it for a quarter of
/// the multiply-accumulates. The ReLU does not commute with pooling, so the activation is applied
/// at full resolution and pooled afterwards: `p = ¼ Σ₂ₓ₂ max(0, scale·x + shift)`.
public enum PooledActivation {
    /// Writes sample `n`'s activated and pooled input into `pooled`, channel after channel
    /// (`channels × height/2 × width/2`, the layout a pointwise convolution reads), where the
    /// input segments are `height × width` (both even) and their channels concatenate in order.
    public static func pack(sample n: Int, input: [TensorView], activation: InputActivation,
                            into pooled: UnsafeMutablePointer<Float>) {
        var channel = 0
        for segment in input {
            let h = segment.shape.height, w = segment.shape.width, ow = w / 2
            for c in 0..<segment.shape.channels {
                let a = activation.scale[channel], b = activation.shift[channel]
                let a16 = SIMD16<Float>(repeating: a), b16 = SIMD16<Float>(repeating: b)
                let src = UnsafePointer(segment.plane(n, c)), dst = pooled + channel * (h / 2) * ow
                for oy in 0..<(h / 2) {
                    let r0 = src + 2 * oy * w, r1 = r0 + w, out = dst + oy * ow
                    var ox = 0
                    while ox + 8 <= ow {
                        let v = rectify(r0.load16(2 * ox) * a16 + b16) + rectify(r1.load16(2 * ox) * a16 + b16)
                        out.store8(0.25 * (v.evenHalf + v.oddHalf), ox)
                        ox += 8
                    }
                    while ox < ow {
                        let x = 2 * ox
                        out[ox] = 0.25 * (max(r0[x] * a + b, 0) + max(r0[x + 1] * a + b, 0)
                                          + max(r1[x] * a + b, 0) + max(r1[x + 1] * a + b, 0))
                        ox += 1
                    }
                }
                channel += 1
            }
        }
    }

    /// The adjoint of the pooling in `pack`: writes a quarter of each element of the pooled
    /// gradient `pooledGradient` (`channels × height/2 × width/2`) to the four full-resolution
    /// positions of its window in sample `n` of `gradient` (`channels × height × width`), which is
    /// overwritten. The ReLU and batch norm are left to `NormalizationState.backward`.
    public static func spread(_ pooledGradient: UnsafePointer<Float>, sample n: Int, into gradient: TensorView) {
        let h = gradient.shape.height, w = gradient.shape.width, ow = w / 2
        for c in 0..<gradient.shape.channels {
            let src = pooledGradient + c * (h / 2) * ow, dst = gradient.plane(n, c)
            for oy in 0..<(h / 2) {
                let g = src + oy * ow, r0 = dst + 2 * oy * w, r1 = r0 + w
                var ox = 0
                while ox + 8 <= ow {
                    let q = 0.25 * g.load8(ox)
                    var pairs = SIMD16<Float>()
                    pairs.evenHalf = q
                    pairs.oddHalf = q
                    r0.store16(pairs, 2 * ox)
                    r1.store16(pairs, 2 * ox)
                    ox += 8
                }
                while ox < ow {
                    let q = 0.25 * g[ox]
                    r0[2 * ox] = q; r0[2 * ox + 1] = q; r1[2 * ox] = q; r1[2 * ox + 1] = q
                    ox += 1
                }
            }
        }
    }
}

/// Sixteen-lane loads and stores for the 2×2 windows: one vector covers eight windows of a row.
private extension UnsafePointer where Pointee == Float {
    @inline(__always)
    func load16(_ offset: Int) -> SIMD16<Float> {
        UnsafeRawPointer(self + offset).loadUnaligned(as: SIMD16<Float>.self)
    }
}

private extension UnsafeMutablePointer where Pointee == Float {
    @inline(__always)
    func store16(_ v: SIMD16<Float>, _ offset: Int) {
        UnsafeMutableRawPointer(self + offset).storeBytes(of: v, as: SIMD16<Float>.self)
    }
}

/// `max(0, v)` lane by lane.
@inline(__always)
private func rectify(_ v: SIMD16<Float>) -> SIMD16<Float> {
    v.replacing(with: 0, where: v .< 0)
}
