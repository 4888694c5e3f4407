import Foundation

/// Squeeze-and-excitation (J. Hu, L. Shen and G. Sun, "Squeeze-and-Excitation Networks", 2017):
/// `y[c] = x[c] · g[c]` with the gate `g = σ(W₂ · relu(W₁ · s + b₁) + b₂)` and `s[c]` the mean of
/// plane `c` of `x`. The weights use PyTorch's `Linear` layout (`W₁` is hidden × channels, `W₂`
/// channels × hidden).
///
/// The pieces (global pooling to a vector, the two small dense products, the sigmoid, the
/// per-channel scaling) are separate functions on one sample's contiguous planes and vectors, each
/// with its backward beside it; `forward` and `backward` chain them for one sample, so a layer
/// runs a whole sample — pooling, both products and the scaling — while its planes are in cache.
/// The products are batch × channels × hidden, a few thousand multiply-accumulates per sample,
/// far too small for `sgemm` to pay: plain loops over contiguous rows, vectorised 8 wide.
public enum SqueezeExcitation {
    /// The sizes of one unit.
    public struct Shape: Hashable, Sendable {
        /// Channels C of the input and output.
        public var channels: Int
        /// Width of the hidden layer, `max(1, ⌊C / r⌋)` for reduction ratio `r`.
        public var hidden: Int
        /// Pixels per plane (H · W).
        public var planeSize: Int

        /// Creates the shape.
        public init(channels: Int, hidden: Int, planeSize: Int) {
            self.channels = channels
            self.hidden = hidden
            self.planeSize = planeSize
        }

        /// Trainable parameters: `W₁`, `b₁`, `W₂`, `b₂`.
        public var parameterCount: Int { 2 * channels * hidden + hidden + channels }
        /// Multiply-accumulates of one sample's two dense products (pooling and scaling not counted).
        public var macs: Int { 2 * channels * hidden }
    }

    /// The hidden width of a unit over `channels` with reduction ratio `ratio`: `max(1, ⌊C / r⌋)`.
    public static func hiddenWidth(channels: Int, ratio: Int) -> Int { max(1, channels / ratio) }

    // MARK: Global average pooling to a vector

    /// `s[c]` = the mean of plane `c` of `x` (`channels` planes of `planeSize`, contiguous).
    @inline(__always)
    public static func poolForward(_ x: UnsafePointer<Float>, channels: Int, planeSize: Int,
                                   means s: UnsafeMutablePointer<Float>) {
        let scale = 1 / Float(planeSize)
        for c in 0..<channels { s[c] = sum(x + c * planeSize, count: planeSize) * scale }
    }

    // The pooling's backward, `dx[c, i] += ds[c] / planeSize`, is folded into `scaleBackward`,
    // which writes every element of `dx` once.

    // MARK: Small dense products

    /// `y = W · x + b` for one sample: `W` is `outFeatures × inFeatures`, row-major.
    @inline(__always)
    public static func denseForward(_ x: UnsafePointer<Float>, weight w: UnsafePointer<Float>, bias b: UnsafePointer<Float>,
                                    _ y: UnsafeMutablePointer<Float>, inFeatures: Int, outFeatures: Int) {
        for o in 0..<outFeatures { y[o] = b[o] + dot(w + o * inFeatures, x, count: inFeatures) }
    }

    /// `dx = Wᵀ · dy` for one sample (written, not added).
    @inline(__always)
    public static func denseInputGradient(_ dy: UnsafePointer<Float>, weight w: UnsafePointer<Float>,
                                          _ dx: UnsafeMutablePointer<Float>, inFeatures: Int, outFeatures: Int) {
        dx.update(repeating: 0, count: inFeatures)
        for o in 0..<outFeatures { axpy(dy[o], w + o * inFeatures, dx, count: inFeatures) }
    }

    /// Adds `dW[o, :] += Σ_n dy[n, o] · x[n, :]` and `db[o] += Σ_n dy[n, o]` for the rows `rows`
    /// of `dW` over `batch` samples (`x[n]` starts at `x + n · inputStride`, `dy` is
    /// `batch × outFeatures`). A worker owns whole rows, so the batch is summed in one fixed order
    /// whatever the number of threads, and no partial gradients need joining.
    @inline(__always)
    public static func denseParameterGradient(_ x: UnsafePointer<Float>, inputStride: Int, _ dy: UnsafePointer<Float>,
                                              rows: Range<Int>, batch: Int, inFeatures: Int, outFeatures: Int,
                                              weightGradient dw: UnsafeMutablePointer<Float>,
                                              biasGradient db: UnsafeMutablePointer<Float>) {
        for o in rows {
            var bias: Float = 0
            for n in 0..<batch {
                let d = dy[n * outFeatures + o]
                bias += d
                axpy(d, x + n * inputStride, dw + o * inFeatures, count: inFeatures)
            }
            db[o] += bias
        }
    }

    // MARK: ReLU and sigmoid on a vector

    /// `z = max(0, a)` in place over `count` elements.
    @inline(__always)
    public static func reluForward(_ a: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { a[i] = max(a[i], 0) }
    }

    /// `da = dz · [z > 0]` in place, given the ReLU's output `z`.
    @inline(__always)
    public static func reluBackward(_ dz: UnsafeMutablePointer<Float>, output z: UnsafePointer<Float>, count: Int) {
        for i in 0..<count where !(z[i] > 0) { dz[i] = 0 }
    }

    /// `g = 1 / (1 + e^(−u))` in place over `count` elements (saturates to exactly 0 or 1).
    @inline(__always)
    public static func sigmoidForward(_ u: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { u[i] = 1 / (1 + expf(-u[i])) }
    }

    /// `du = dg · g · (1 − g)` in place, given the sigmoid's output `g`.
    @inline(__always)
    public static func sigmoidBackward(_ dg: UnsafeMutablePointer<Float>, output g: UnsafePointer<Float>, count: Int) {
        for i in 0..<count { dg[i] *= g[i] * (1 - g[i]) }
    }

    // MARK: Per-channel scaling

    /// `y[c, :] = x[c, :] · g[c]`.
    @inline(__always)
    public static func scaleForward(_ x: UnsafePointer<Float>, gate g: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                                    channels: Int, planeSize: Int) {
        for c in 0..<channels {
            let xp = x + c * planeSize, yp = y + c * planeSize, v = Float8(repeating: g[c])
            var i = 0
            while i + 8 <= planeSize { yp.store8(xp.load8(i) * v, i); i += 8 }
            while i < planeSize { yp[i] = xp[i] * g[c]; i += 1 }
        }
    }

    /// The gate's gradient `dg[c] = Σ_i dy[c, i] · x[c, i]`.
    @inline(__always)
    public static func gateGradient(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ dg: UnsafeMutablePointer<Float>,
                                    channels: Int, planeSize: Int) {
        for c in 0..<channels { dg[c] = wideDot(dy + c * planeSize, x + c * planeSize, count: planeSize) }
    }

    /// `dx[c, :] = dy[c, :] · g[c] + ds[c] / planeSize`: the scaling's input gradient plus the
    /// pooling's (`ds`, the gradient of the means), written, or added with `accumulate`.
    @inline(__always)
    public static func scaleBackward(_ dy: UnsafePointer<Float>, gate g: UnsafePointer<Float>, meanGradient ds: UnsafePointer<Float>,
                                     _ dx: UnsafeMutablePointer<Float>, accumulate: Bool, channels: Int, planeSize: Int) {
        let perPixel = 1 / Float(planeSize)
        for c in 0..<channels {
            let gp = dy + c * planeSize, xp = dx + c * planeSize
            let gv = Float8(repeating: g[c]), spread = Float8(repeating: ds[c] * perPixel)
            var i = 0
            if accumulate {
                while i + 8 <= planeSize { xp.store8(xp.load8(i) + gp.load8(i) * gv + spread, i); i += 8 }
                while i < planeSize { xp[i] += gp[i] * g[c] + ds[c] * perPixel; i += 1 }
            } else {
                while i + 8 <= planeSize { xp.store8(gp.load8(i) * gv + spread, i); i += 8 }
                while i < planeSize { xp[i] = gp[i] * g[c] + ds[c] * perPixel; i += 1 }
            }
        }
    }

    // MARK: The fused unit, one sample

    /// One sample's forward pass: pools `x` into `s`, computes the hidden activations `z` and the
    /// gate `g` (all three kept for `backward`), and writes `y = x · g`.
    @inline(__always)
    public static func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, shape: Shape,
                               fc1Weight w1: UnsafePointer<Float>, fc1Bias b1: UnsafePointer<Float>,
                               fc2Weight w2: UnsafePointer<Float>, fc2Bias b2: UnsafePointer<Float>,
                               means s: UnsafeMutablePointer<Float>, hidden z: UnsafeMutablePointer<Float>,
                               gate g: UnsafeMutablePointer<Float>) {
        let c = shape.channels, h = shape.hidden
        poolForward(x, channels: c, planeSize: shape.planeSize, means: s)
        denseForward(s, weight: w1, bias: b1, z, inFeatures: c, outFeatures: h)
        reluForward(z, count: h)
        denseForward(z, weight: w2, bias: b2, g, inFeatures: h, outFeatures: c)
        sigmoidForward(g, count: c)
        scaleForward(x, gate: g, y, channels: c, planeSize: shape.planeSize)
    }

    /// One sample's backward pass up to the parameters: leaves the gradients of the second
    /// product's output (`du`, C) and of the first's (`da`, h) for `denseParameterGradient`, and
    /// writes (or with `accumulate` adds) the input gradient `dx = dy · g + (W₁ᵀ da) / HW`.
    /// `ds` is C floats of scratch.
    @inline(__always)
    public static func backward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                                accumulate: Bool, shape: Shape,
                                fc1Weight w1: UnsafePointer<Float>, fc2Weight w2: UnsafePointer<Float>,
                                hidden z: UnsafePointer<Float>, gate g: UnsafePointer<Float>,
                                gateInputGradient du: UnsafeMutablePointer<Float>,
                                hiddenInputGradient da: UnsafeMutablePointer<Float>,
                                meanGradient ds: UnsafeMutablePointer<Float>) {
        let c = shape.channels, h = shape.hidden
        gateGradient(dy, x, du, channels: c, planeSize: shape.planeSize)
        sigmoidBackward(du, output: g, count: c)
        denseInputGradient(du, weight: w2, da, inFeatures: h, outFeatures: c)
        reluBackward(da, output: z, count: h)
        denseInputGradient(da, weight: w1, ds, inFeatures: c, outFeatures: h)
        scaleBackward(dy, gate: g, meanGradient: ds, dx, accumulate: accumulate, channels: c, planeSize: shape.planeSize)
    }

    // MARK: Vector helpers

    /// `Σ a[i]` over `count` floats: 8-lane Float sums of 64 elements at a time, added in Double
    /// (a plane holds up to a thousand values whose sum may cancel; converting every vector to
    /// Double instead made the pass as slow as a convolution).
    @inline(__always)
    static func sum(_ a: UnsafePointer<Float>, count: Int) -> Float {
        var total = 0.0, i = 0
        while i + 64 <= count {
            var acc = a.load8(i)
            for k in stride(from: 8, to: 64, by: 8) { acc += a.load8(i + k) }
            total += Double(acc.sum())
            i += 64
        }
        var acc = Float8()
        while i + 8 <= count { acc += a.load8(i); i += 8 }
        total += Double(acc.sum())
        while i < count { total += Double(a[i]); i += 1 }
        return Float(total)
    }

    /// `Σ a[i] · b[i]` over `count` floats, blocked and added in Double as `sum` (the gate's
    /// gradient sums a plane of products of both signs).
    @inline(__always)
    static func wideDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        var total = 0.0, i = 0
        while i + 64 <= count {
            var acc = a.load8(i) * b.load8(i)
            for k in stride(from: 8, to: 64, by: 8) { acc = acc.addingProduct(a.load8(i + k), b.load8(i + k)) }
            total += Double(acc.sum())
            i += 64
        }
        var acc = Float8()
        while i + 8 <= count { acc = acc.addingProduct(a.load8(i), b.load8(i)); i += 8 }
        total += Double(acc.sum())
        while i < count { total += Double(a[i]) * Double(b[i]); i += 1 }
        return Float(total)
    }

    /// `Σ a[i] · b[i]` over `count` floats (the dense products' rows: tens of elements).
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        var acc = Float8(), i = 0
        while i + 8 <= count { acc = acc.addingProduct(a.load8(i), b.load8(i)); i += 8 }
        var s = acc.sum()
        while i < count { s += a[i] * b[i]; i += 1 }
        return s
    }

    /// `y += alpha · x` over `count` floats.
    @inline(__always)
    static func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        let a = Float8(repeating: alpha)
        var i = 0
        while i + 8 <= count { y.store8(y.load8(i).addingProduct(a, x.load8(i)), i); i += 8 }
        while i < count { y[i] += alpha * x[i]; i += 1 }
    }
}
