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

    /// Adds sample `n`'s gradient through the (masked) sum to both `dx` and the shortcut's `ds`.
    public static func backward(output y: TensorView, outputGradient dy: TensorView, relu: Bool,
                                inputGradient dx: TensorView, shortcutGradient ds: TensorView?, sample n: Int) {
        let shape = y.shape
        for c in 0..<shape.channels {
            let yp = y.plane(n, c), g = dy.plane(n, c), xp = dx.plane(n, c)
            var i = 0
            let zero = Float8()
            while i + 8 <= shape.planeSize {
                var v = g.load8(i)
                if relu { v.replace(with: zero, where: yp.load8(i) .<= zero) }
                xp.store8(xp.load8(i) + v, i)
                i += 8
            }
            while i < shape.planeSize { xp[i] += (!relu || yp[i] > 0) ? g[i] : 0; i += 1 }
        }
        guard let ds else { return }
        let stride = ds.shape.height / shape.height
        if stride == 1 && ds.shape.channels == shape.channels {
            // Identity shortcut: the masked gradient just computed for x is the shortcut's too.
            for c in 0..<shape.channels {
                let yp = y.plane(n, c), g = dy.plane(n, c), sp = ds.plane(n, c)
                var i = 0
                let zero = Float8()
                while i + 8 <= shape.planeSize {
                    var v = g.load8(i)
                    if relu { v.replace(with: zero, where: yp.load8(i) .<= zero) }
                    sp.store8(sp.load8(i) + v, i)
                    i += 8
                }
                while i < shape.planeSize { sp[i] += (!relu || yp[i] > 0) ? g[i] : 0; i += 1 }
            }
            return
        }
        let pad = (shape.channels - ds.shape.channels) / 2
        for sc in 0..<ds.shape.channels {
            let c = sc + pad
            let yp = y.plane(n, c), g = dy.plane(n, c), sp = ds.plane(n, sc)
            for oy in 0..<shape.height {
                for ox in 0..<shape.width {
                    let i = oy * shape.width + ox
                    sp[(oy * stride) * ds.shape.width + ox * stride] += (!relu || yp[i] > 0) ? g[i] : 0
                }
            }
        }
    }
}
