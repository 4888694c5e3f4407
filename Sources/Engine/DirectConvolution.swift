/// Direct 3×3 convolution with stride 1 and padding 1, in NCHW, without an im2col panel.
///
/// im2col writes `9 · Cin · H · W` floats per sample and `sgemm` reads them back; for DenseNet's
/// and SparseNet's layers, whose output is only the growth rate (12–24 channels) wide, that
/// traffic costs more than the arithmetic. Here every input channel is activated once (the fused
/// BN-ReLU, exactly as `Convolution.im2col` applies it) into a zero-bordered plane, and the
/// output is accumulated in registers:
///
/// - a tile is 4 output channels × 16 output pixels of one row: eight 8-lane accumulators;
/// - for each input channel and each of the 9 taps, two shifted row loads serve all 4 output
///   channels, and each broadcast weight serves both halves of the row (8 FMAs per 2 loads and
///   4 broadcasts);
/// - rows narrower than 16 (the 8-wide last stage) use a 4 × 8 tile, other widths and output
///   channels beyond a multiple of 4 a scalar tail.
///
/// The sum over input channels and taps runs in a different order than `sgemm`'s, so results
/// equal the im2col path up to float rounding.
public enum DirectConvolution {
    /// Output channels of a register tile.
    static let channelBlock = 4

    /// Whether the direct kernel computes `g` (3×3, stride 1, padding 1).
    public static func supports(_ g: ConvolutionGeometry) -> Bool {
        g.kernel == 3 && g.stride == 1 && g.padding == 1
    }

    /// Floats of scratch `forward` needs: one zero-bordered plane per input channel.
    public static func scratchCount(_ g: ConvolutionGeometry) -> Int {
        g.inChannels * (g.inHeight + 2) * (g.inWidth + 2)
    }

    /// Computes `out[n] = conv3×3(act(x[n])) (+ bias)` for sample `n`; `scratch` holds at least
    /// `scratchCount(g)` floats.
    public static func forward(
        sample n: Int, input: [TensorView], geometry g: ConvolutionGeometry,
        activation: InputActivation?, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        output: TensorView, scratch: UnsafeMutablePointer<Float>
    ) {
        precondition(supports(g), "DirectConvolution computes 3×3 stride-1 padding-1 convolutions only")
        padActivated(sample: n, input: input, geometry: g, activation: activation, into: scratch)
        let y = output.sample(n)
        var oc = 0
        while oc + channelBlock <= g.outChannels {
            tile4(oc, geometry: g, padded: scratch, weight: weight, output: y)
            oc += channelBlock
        }
        while oc < g.outChannels {
            single(oc, geometry: g, padded: scratch, weight: weight, output: y)
            oc += 1
        }
        if let bias {
            for c in 0..<g.outChannels {
                let b = Float8(repeating: bias[c]), p = y + c * g.outPlane
                var i = 0
                while i + 8 <= g.outPlane { p.store8(p.load8(i) + b, i); i += 8 }
                while i < g.outPlane { p[i] += bias[c]; i += 1 }
            }
        }
    }

    /// Writes every input channel of sample `n`, activated, into its zero-bordered
    /// `(H + 2) × (W + 2)` plane of `padded`.
    static func padActivated(sample n: Int, input: [TensorView], geometry g: ConvolutionGeometry,
                             activation: InputActivation?, into padded: UnsafeMutablePointer<Float>) {
        let w = g.inWidth, h = g.inHeight, pw = w + 2, planeSize = pw * (h + 2)
        var channel = 0
        for segment in input {
            for c in 0..<segment.shape.channels {
                let src = segment.plane(n, c), plane = padded + channel * planeSize
                plane.update(repeating: 0, count: pw)
                (plane + (h + 1) * pw).update(repeating: 0, count: pw)
                for row in 0..<h {
                    let from = src + row * w, to = plane + (row + 1) * pw
                    to[0] = 0
                    to[w + 1] = 0
                    if let activation {
                        let a = activation.scale[channel], b = activation.shift[channel]
                        let a8 = Float8(repeating: a), b8 = Float8(repeating: b)
                        var x = 0
                        while x + 8 <= w { (to + 1).store8(rectify(from.load8(x) * a8 + b8), x); x += 8 }
                        while x < w { to[1 + x] = max(from[x] * a + b, 0); x += 1 }
                    } else {
                        (to + 1).update(from: from, count: w)
                    }
                }
                channel += 1
            }
        }
    }

    /// Output channels `oc ..< oc + 4`, every row: 4 × 16 tiles, then 4 × 8, then scalars.
    @inline(__always)
    static func tile4(_ oc: Int, geometry g: ConvolutionGeometry, padded: UnsafePointer<Float>,
                      weight: UnsafePointer<Float>, output y: UnsafeMutablePointer<Float>) {
        let w = g.inWidth, h = g.inHeight, pw = w + 2, planeSize = pw * (h + 2), cin = g.inChannels
        let filter = 9 * cin
        let w0 = weight + oc * filter, w1 = w0 + filter, w2 = w1 + filter, w3 = w2 + filter
        let y0 = y + oc * g.outPlane, y1 = y0 + g.outPlane, y2 = y1 + g.outPlane, y3 = y2 + g.outPlane
        for row in 0..<h {
            var x = 0
            while x + 16 <= w {
                var a0 = Float8(), a1 = Float8(), a2 = Float8(), a3 = Float8()
                var b0 = Float8(), b1 = Float8(), b2 = Float8(), b3 = Float8()
                for c in 0..<cin {
                    let p = padded + c * planeSize + row * pw + x
                    let k = c * 9
                    for ky in 0..<3 {
                        for kx in 0..<3 {
                            let s = p + ky * pw + kx, t = k + ky * 3 + kx
                            let u = s.load8(0), v = s.load8(8)
                            let c0 = Float8(repeating: w0[t]), c1 = Float8(repeating: w1[t])
                            let c2 = Float8(repeating: w2[t]), c3 = Float8(repeating: w3[t])
                            a0 = a0.addingProduct(c0, u); b0 = b0.addingProduct(c0, v)
                            a1 = a1.addingProduct(c1, u); b1 = b1.addingProduct(c1, v)
                            a2 = a2.addingProduct(c2, u); b2 = b2.addingProduct(c2, v)
                            a3 = a3.addingProduct(c3, u); b3 = b3.addingProduct(c3, v)
                        }
                    }
                }
                let o = row * w + x
                y0.store8(a0, o); y0.store8(b0, o + 8)
                y1.store8(a1, o); y1.store8(b1, o + 8)
                y2.store8(a2, o); y2.store8(b2, o + 8)
                y3.store8(a3, o); y3.store8(b3, o + 8)
                x += 16
            }
            while x + 8 <= w {
                var a0 = Float8(), a1 = Float8(), a2 = Float8(), a3 = Float8()
                for c in 0..<cin {
                    let p = padded + c * planeSize + row * pw + x
                    let k = c * 9
                    for ky in 0..<3 {
                        for kx in 0..<3 {
                            let u = (p + ky * pw + kx).load8(0), t = k + ky * 3 + kx
                            a0 = a0.addingProduct(Float8(repeating: w0[t]), u)
                            a1 = a1.addingProduct(Float8(repeating: w1[t]), u)
                            a2 = a2.addingProduct(Float8(repeating: w2[t]), u)
                            a3 = a3.addingProduct(Float8(repeating: w3[t]), u)
                        }
                    }
                }
                let o = row * w + x
                y0.store8(a0, o); y1.store8(a1, o); y2.store8(a2, o); y3.store8(a3, o)
                x += 8
            }
            while x < w {
                for j in 0..<4 { y[(oc + j) * g.outPlane + row * w + x] = point(oc + j, row, x, g, padded, weight) }
                x += 1
            }
        }
    }

    /// One output channel, every pixel, eight at a time and then scalars.
    static func single(_ oc: Int, geometry g: ConvolutionGeometry, padded: UnsafePointer<Float>,
                       weight: UnsafePointer<Float>, output y: UnsafeMutablePointer<Float>) {
        let w = g.inWidth, h = g.inHeight, pw = w + 2, planeSize = pw * (h + 2), cin = g.inChannels
        let filter = weight + oc * 9 * cin, out = y + oc * g.outPlane
        for row in 0..<h {
            var x = 0
            while x + 8 <= w {
                var a = Float8()
                for c in 0..<cin {
                    let p = padded + c * planeSize + row * pw + x
                    for ky in 0..<3 {
                        for kx in 0..<3 {
                            a = a.addingProduct(Float8(repeating: filter[c * 9 + ky * 3 + kx]), (p + ky * pw + kx).load8(0))
                        }
                    }
                }
                out.store8(a, row * w + x)
                x += 8
            }
            while x < w {
                out[row * w + x] = point(oc, row, x, g, padded, weight)
                x += 1
            }
        }
    }

    /// Output channel `oc` at (`row`, `x`), one product at a time (tails).
    static func point(_ oc: Int, _ row: Int, _ x: Int, _ g: ConvolutionGeometry, _ padded: UnsafePointer<Float>,
                      _ weight: UnsafePointer<Float>) -> Float {
        let pw = g.inWidth + 2, planeSize = pw * (g.inHeight + 2), cin = g.inChannels
        let filter = weight + oc * 9 * cin
        var sum: Float = 0
        for c in 0..<cin {
            let p = padded + c * planeSize + row * pw + x
            for ky in 0..<3 {
                for kx in 0..<3 { sum += filter[c * 9 + ky * 3 + kx] * p[ky * pw + kx] }
            }
        }
        return sum
    }
}
