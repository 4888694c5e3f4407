/// A ResNet block's last batch norm fused with the block's residual sum:
/// `y = relu?(scale · x + shift + shortcut(s))`, with the shortcut of `Residual` (identity or
/// option A).
///
/// Separately, the batch norm writes its output and the sum reads it back, and in the backward
/// pass the sum writes the masked gradient for the batch norm to read twice. These tensors are
/// larger than the caches, so each pass runs at memory speed; fused, the forward pass writes
/// one tensor fewer and reads one fewer, and the backward pass reads the masked gradient back
/// from the identity shortcut's gradient (which holds the same values) instead of writing a
/// copy. The arithmetic is the unfused layers' own, operation for operation, so the results
/// are bitwise the same (`NormalizedResidualTests`).
public enum NormalizedResidual {
    /// Computes sample `n` of `y = relu?(scale · x + shift + shortcut(s))`, with `scale`/`shift`
    /// the batch norm's fused transform (`BatchNorm.finalizeTraining` or `inferenceTransform`).
    public static func forward(x: TensorView, scale: UnsafePointer<Float>, shift: UnsafePointer<Float>,
                               shortcut s: TensorView, relu: Bool, output y: TensorView, sample n: Int) {
        let shape = y.shape, plane = shape.planeSize
        let stride = s.shape.height / shape.height
        let pad = (shape.channels - s.shape.channels) / 2
        for c in 0..<shape.channels {
            let a = scale[c], b = shift[c], a8 = Float8(repeating: a), b8 = Float8(repeating: b)
            let xp = x.plane(n, c), yp = y.plane(n, c), sc = c - pad
            guard sc >= 0 && sc < s.shape.channels else {
                // A zero-padded channel of an option-A shortcut: the normalised branch alone.
                var i = 0
                while i + 8 <= plane { let v = xp.load8(i) * a8 + b8; yp.store8(relu ? rectify(v) : v, i); i += 8 }
                while i < plane { let v = xp[i] * a + b; yp[i] = relu ? max(v, 0) : v; i += 1 }
                continue
            }
            let sp = s.plane(n, sc)
            if stride == 1 {
                var i = 0
                while i + 8 <= plane {
                    let v = (xp.load8(i) * a8 + b8) + sp.load8(i)
                    yp.store8(relu ? rectify(v) : v, i)
                    i += 8
                }
                while i < plane { let v = (xp[i] * a + b) + sp[i]; yp[i] = relu ? max(v, 0) : v; i += 1 }
                continue
            }
            for oy in 0..<shape.height {
                for ox in 0..<shape.width {
                    let i = oy * shape.width + ox
                    let v = (xp[i] * a + b) + sp[(oy * stride) * s.shape.width + ox * stride]
                    yp[i] = relu ? max(v, 0) : v
                }
            }
        }
    }

    /// The first backward pass, over channels: with `g = dy · [y > 0]` (or `dy` without `relu`),
    /// writes Σg to `sums[2c]` and Σg·x̂ to `sums[2c + 1]` (as `BatchNorm.gradientSums` does for
    /// the batch norm's output gradient `g`), and writes (or, with `accumulateShortcut`, adds)
    /// the shortcut's gradient to `ds`: `g` itself for an identity shortcut, else `g` on every
    /// `stride`-th pixel of the channels the option-A shortcut fed and zero elsewhere.
    public static func gradientSums(
        x: TensorView, output y: TensorView, outputGradient dy: TensorView, relu: Bool, batch: Int,
        mean: UnsafePointer<Float>, invStd: UnsafePointer<Float>,
        shortcutGradient ds: TensorView?, accumulateShortcut: Bool,
        into sums: UnsafeMutablePointer<Double>, pool: ComputePool
    ) {
        let shape = y.shape, plane = shape.planeSize
        let identity = ds.map { $0.shape == shape } ?? false
        pool.chunks(shape.channels) { range, _ in
            for c in range {
                let mu = mean[c], mu8 = Float8(repeating: mu), zero = Float8()
                var s1 = 0.0, s2 = 0.0
                for n in 0..<batch {
                    let xp = x.plane(n, c), d = dy.plane(n, c), yp = y.plane(n, c)
                    let target = identity ? ds?.plane(n, c) : nil
                    var g1 = Float8(), g2 = Float8()
                    var i = 0
                    while i + 8 <= plane {
                        var g = d.load8(i)
                        if relu { g.replace(with: zero, where: yp.load8(i) .<= zero) }
                        if let target { target.store8(accumulateShortcut ? target.load8(i) + g : g, i) }
                        g1 += g
                        g2 += g * (xp.load8(i) - mu8)
                        i += 8
                    }
                    var f1 = g1.sum(), f2 = g2.sum()
                    while i < plane {
                        let g = (!relu || yp[i] > 0) ? d[i] : 0
                        if let target { target[i] = accumulateShortcut ? target[i] + g : g }
                        f1 += g
                        f2 += g * (xp[i] - mu)
                        i += 1
                    }
                    s1 += Double(f1); s2 += Double(f2) * Double(invStd[c])
                    if let ds, !identity {
                        Residual.optionAShortcutGradient(sample: n, channel: c, output: y, outputGradient: dy, relu: relu,
                                                         into: ds, accumulate: accumulateShortcut)
                    }
                }
                sums[2 * c] = s1
                sums[2 * c + 1] = s2
            }
        }
    }

    /// The second backward pass, over channels: writes (or, with `accumulate`, adds) the batch
    /// norm's input gradient `dx = scale·g + c1·x + c0` (`BatchNorm.inputGradientCoefficients`,
    /// from the sums of `gradientSums` over `count` values, added across ranks when synchronised).
    ///
    /// - Parameter masked: a tensor of `y`'s shape that already holds `g` (the identity
    ///   shortcut's gradient that `gradientSums` wrote), read instead of recomputing `g` from
    ///   `dy` and `y`; nil to recompute.
    public static func inputGradient(
        x: TensorView, output y: TensorView, outputGradient dy: TensorView, relu: Bool, masked: TensorView?,
        into dx: TensorView, accumulate: Bool, batch: Int, count: Int, sums: UnsafePointer<Double>,
        mean: UnsafePointer<Float>, invStd: UnsafePointer<Float>, scale: UnsafePointer<Float>, pool: ComputePool
    ) {
        let plane = y.shape.planeSize
        pool.chunks(y.shape.channels) { range, _ in
            for c in range {
                let a = scale[c]
                let (c1, c0) = BatchNorm.inputGradientCoefficients(c, count: count, sums: sums, mean: mean,
                                                                   invStd: invStd, scale: scale)
                let a8 = Float8(repeating: a), c18 = Float8(repeating: c1), c08 = Float8(repeating: c0)
                let zero = Float8()
                for n in 0..<batch {
                    let xp = x.plane(n, c), d = dy.plane(n, c), yp = y.plane(n, c), to = dx.plane(n, c)
                    let m = masked?.plane(n, c)
                    var i = 0
                    while i + 8 <= plane {
                        var g: Float8
                        if let m {
                            g = m.load8(i)
                        } else {
                            g = d.load8(i)
                            if relu { g.replace(with: zero, where: yp.load8(i) .<= zero) }
                        }
                        let v = a8 * g + c18 * xp.load8(i) + c08
                        to.store8(accumulate ? to.load8(i) + v : v, i)
                        i += 8
                    }
                    while i < plane {
                        let g = m?[i] ?? ((!relu || yp[i] > 0) ? d[i] : 0)
                        let v = a * g + c1 * xp[i] + c0
                        to[i] = accumulate ? to[i] + v : v
                        i += 1
                    }
                }
            }
        }
    }
}
