/// The residual sum `y = relu?(x + shortcut(s))` of a ResNet block.
///
/// When the shortcut's shape differs from the block's, it is He et al.'s parameter-free
/// option A: subsample by the stride and zero-pad the new channels, half before and half after
/// the existing ones (as the widely used PyTorch CIFAR ResNet does).
public enum Residual {
    /// Computes sample `n` of `y`.
    public static func forward(x: TensorView, shortcut s: TensorView, relu: Bool, output y: TensorView, sample n: Int) {
        let shape = y.shape
        let stride = s.shape.height / shape.height
        let pad = (shape.channels - s.shape.channels) / 2
        for c in 0..<shape.channels {
            let xp = x.plane(n, c), yp = y.plane(n, c)
            let sc = c - pad
            if sc < 0 || sc >= s.shape.channels {
                for i in 0..<shape.planeSize { yp[i] = relu ? max(xp[i], 0) : xp[i] }
                continue
            }
            let sp = s.plane(n, sc)
            if stride == 1 {
                var i = 0
                while i + 8 <= shape.planeSize {
                    let v = xp.load8(i) + sp.load8(i)
                    yp.store8(relu ? rectify(v) : v, i)
                    i += 8
                }
                while i < shape.planeSize { let v = xp[i] + sp[i]; yp[i] = relu ? max(v, 0) : v; i += 1 }
                continue
            }
            for oy in 0..<shape.height {
                for ox in 0..<shape.width {
                    let v = xp[oy * shape.width + ox] + sp[(oy * stride) * s.shape.width + ox * stride]
                    yp[oy * shape.width + ox] = relu ? max(v, 0) : v
                }
            }
        }
    }

    /// Writes or adds (`accumulateInput`, `accumulateShortcut`) sample `n`'s gradient through the
    /// (masked) sum to `dx` and, when given, to the shortcut's `ds`.
    public static func backward(output y: TensorView, outputGradient dy: TensorView, relu: Bool,
                                inputGradient dx: TensorView, accumulateInput: Bool,
                                shortcutGradient ds: TensorView?, accumulateShortcut: Bool, sample n: Int) {
        let shape = y.shape
        let identity = ds.map { $0.shape == shape } ?? false
        for c in 0..<shape.channels {
            let shortcut = identity ? ds!.plane(n, c) : nil
            maskedGradient(dy.plane(n, c), y.plane(n, c), relu: relu, count: shape.planeSize,
                           into: dx.plane(n, c), accumulate: accumulateInput, shortcut, accumulateShortcut)
        }
        guard let ds, !identity else { return }
        for c in 0..<shape.channels {
            optionAShortcutGradient(sample: n, channel: c, output: y, outputGradient: dy, relu: relu, into: ds,
                                    accumulate: accumulateShortcut)
        }
    }

    /// Option A's shortcut gradient for output channel `c` of sample `n`: the gradient of the
    /// subsampled, zero-padded shortcut (`dy`, masked by `y > 0` with `relu`) lands on every
    /// `stride`-th pixel of the shortcut channel `c` came from, and the rest of that channel gets
    /// nothing (zero unless `accumulate`); nothing happens for a zero-padded channel.
    static func optionAShortcutGradient(sample n: Int, channel c: Int, output y: TensorView,
                                        outputGradient dy: TensorView, relu: Bool, into ds: TensorView,
                                        accumulate: Bool) {
        let shape = y.shape, sc = c - (shape.channels - ds.shape.channels) / 2
        guard sc >= 0 && sc < ds.shape.channels else { return }
        let stride = ds.shape.height / shape.height
        let yp = y.plane(n, c), g = dy.plane(n, c), sp = ds.plane(n, sc)
        if !accumulate { sp.update(repeating: 0, count: ds.shape.planeSize) }
        for oy in 0..<shape.height {
            for ox in 0..<shape.width {
                let i = oy * shape.width + ox
                sp[(oy * stride) * ds.shape.width + ox * stride] += (!relu || yp[i] > 0) ? g[i] : 0
            }
        }
    }

    /// `g = dy · [y > 0]` (or `dy` without `relu`) over `count` floats, written or added to `dx`
    /// and, when given, to `ds` as well (the identity shortcut's gradient is the same).
    @inline(__always)
    static func maskedGradient(_ dy: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>, relu: Bool,
                               count: Int, into dx: UnsafeMutablePointer<Float>, accumulate: Bool,
                               _ ds: UnsafeMutablePointer<Float>?, _ accumulateShortcut: Bool) {
        let zero = Float8()
        var i = 0
        while i + 8 <= count {
            var v = dy.load8(i)
            if relu { v.replace(with: zero, where: y.load8(i) .<= zero) }
            dx.store8(accumulate ? dx.load8(i) + v : v, i)
            if let ds { ds.store8(accumulateShortcut ? ds.load8(i) + v : v, i) }
            i += 8
        }
        while i < count {
            let v = (!relu || y[i] > 0) ? dy[i] : 0
            dx[i] = accumulate ? dx[i] + v : v
            if let ds { ds[i] = accumulateShortcut ? ds[i] + v : v }
            i += 1
        }
    }
}
