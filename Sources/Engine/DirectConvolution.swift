/// A direct 3×3, stride-1, padding-1 convolution forward pass in NCHW, without an im2col buffer.
///
/// Per sample, every input channel (across all segments, with the fused BN-ReLU applied exactly
/// as `Convolution.im2col` applies it) is first written once into a zero-bordered padded plane
/// in `scratch`, so the inner loop needs no bounds tests. That copy is `Cin·(H+3)·(W'+2)` floats,
/// about a ninth of the im2col matrix.
///
/// The output is then computed in register tiles of **6 output channels × 16 output pixels**:
/// twelve 8-lane accumulators (`SIMD16<Float>` is two `ymm` registers on the AVX2 target), which
/// with one input vector and one broadcast weight fill the 16 `ymm` registers. For each input
/// channel and each of the 9 taps the tile loads one shifted 16-pixel input vector and does
/// 6 broadcast FMAs into it, so 2 vector loads and 6 broadcasts feed 12 FMAs. The 16 pixels are
/// half of a 32-wide row or a whole 16-wide row (`RowTile`), or two consecutive 8-wide rows
/// (`TwoRowTile`, for widths ≤ 8, so the 8×8 stage still fills 16 lanes). Wider maps take
/// ⌈W/16⌉ tiles per row; lanes past the right edge (or below the bottom row) are computed from
/// the zero border and not stored. An output-channel count that is not a multiple of 6 reuses
/// the last channel's weights for the missing lanes of the final block and stores only the
/// real channels.
///
/// The weights are repacked once per layer call and worker (`packWeights`) as
/// `[out / 6][in][tap][6]`, so the 6 broadcasts of a tap come from one pointer at fixed offsets
/// and the inner loop needs few general registers. The tile loops run over output channel
/// blocks, then rows, then row tiles, so one block's weights (6·9·Cin floats) stay in L1 while
/// the padded input streams from L2.
public enum DirectConvolution {
    /// Output channels per register tile.
    static let channelBlock = 6

    /// Whether this kernel computes geometry `g` (3×3, stride 1, padding 1).
    public static func supports(_ g: ConvolutionGeometry) -> Bool {
        g.kernel == 3 && g.stride == 1 && g.padding == 1
    }

    /// Padded row length: the tiles read 16 (or, for widths ≤ 8, 8) floats from each of the three
    /// tap columns, so the row holds the rounded-up width plus the two border columns.
    static func paddedWidth(_ g: ConvolutionGeometry) -> Int {
        (g.inWidth <= 8 ? 8 : (g.inWidth + 15) / 16 * 16) + 2
    }

    /// Padded rows: one border row on top, one below, and one more that the two-row tile reads
    /// for an odd last row.
    static func paddedHeight(_ g: ConvolutionGeometry) -> Int { g.inHeight + 3 }

    /// Floats of the padded planes of one sample, at the start of the scratch.
    static func planesCount(_ g: ConvolutionGeometry) -> Int {
        g.inChannels * paddedHeight(g) * paddedWidth(g)
    }

    /// Floats of the packed weights (`packWeights`), after the planes in the scratch.
    static func packedWeightCount(_ g: ConvolutionGeometry) -> Int {
        (g.outChannels + channelBlock - 1) / channelBlock * channelBlock * g.patchSize
    }

    /// Floats of scratch that `packWeights` and `forward` need for geometry `g`: the padded
    /// planes, then the packed weights.
    public static func scratchCount(_ g: ConvolutionGeometry) -> Int {
        planesCount(g) + packedWeightCount(g)
    }

    /// Repacks `weight` (`[out][in][3][3]`) into `scratch`'s weight area as
    /// `[out / 6][in][tap][6]`, so that a tile's 6 weights of one tap are adjacent and the inner
    /// loop broadcasts them from one pointer. A last block with fewer than 6 channels repeats the
    /// last channel. Call once per weight update and scratch, before `forward`.
    public static func packWeights(_ weight: UnsafePointer<Float>, geometry g: ConvolutionGeometry,
                                   scratch: UnsafeMutablePointer<Float>) {
        let packed = scratch + planesCount(g)
        let patch = g.patchSize, cout = g.outChannels, b = channelBlock
        for block in 0..<(cout + b - 1) / b {
            let to = packed + block * b * patch
            for j in 0..<b {
                let from = weight + min(block * b + j, cout - 1) * patch
                for i in 0..<patch { to[i * b + j] = from[i] }
            }
        }
    }

    /// Computes `out[n] = conv3x3(act(x[n])) (+ bias)` for sample `n`.
    ///
    /// - Parameters:
    ///   - scratch: at least `scratchCount(g)` floats, holding the weights that `packWeights`
    ///     wrote; the planes before them are overwritten.
    public static func forward(
        sample n: Int, input: [TensorView], geometry g: ConvolutionGeometry,
        activation: InputActivation?, bias: UnsafePointer<Float>?,
        output: TensorView, scratch: UnsafeMutablePointer<Float>
    ) {
        let weight = UnsafePointer(scratch + planesCount(g))
        precondition(supports(g), "direct convolution needs a 3×3 kernel, stride 1, padding 1")
        let inW = g.inWidth, inH = g.inHeight
        let padW = paddedWidth(g), planeStride = paddedHeight(g) * padW
        // 1. Activate every input channel once into its zero-bordered plane.
        var channel = 0
        for segment in input {
            for c in 0..<segment.shape.channels {
                pad(plane: scratch + channel * planeStride, from: UnsafePointer(segment.plane(n, c)),
                    width: inW, height: inH, paddedWidth: padW,
                    activation: activation.map { ($0.scale[channel], $0.shift[channel]) })
                channel += 1
            }
        }
        precondition(channel == g.inChannels, "input segments do not add up to the geometry's channels")
        // 2. Register tiles.
        if inW <= 8 {
            tiles(TwoRowTile.self, scratch: UnsafePointer(scratch), geometry: g, weight: weight, bias: bias,
                  output: output.sample(n))
        } else {
            tiles(RowTile.self, scratch: UnsafePointer(scratch), geometry: g, weight: weight, bias: bias,
                  output: output.sample(n))
        }
    }

    /// Writes one channel into `plane` (`(height + 3) × paddedWidth`): a zero row on top, the
    /// (activated) rows with a zero column on the left and zeros up to `paddedWidth` on the right,
    /// then two zero rows. The activation is the same expression as in `Convolution.im2col`.
    @inline(__always)
    static func pad(plane: UnsafeMutablePointer<Float>, from src: UnsafePointer<Float>, width inW: Int,
                    height inH: Int, paddedWidth padW: Int, activation: (Float, Float)?) {
        plane.update(repeating: 0, count: padW)
        for y in 0..<inH {
            let row = plane + (y + 1) * padW
            row[0] = 0
            let from = src + y * inW, to = row + 1
            if let (a, b) = activation {
                let a8 = Float8(repeating: a), b8 = Float8(repeating: b)
                var x = 0
                while x + 8 <= inW { to.store8(rectify(from.load8(x) * a8 + b8), x); x += 8 }
                while x < inW { to[x] = max(from[x] * a + b, 0); x += 1 }
            } else {
                to.update(from: from, count: inW)
            }
            (to + inW).update(repeating: 0, count: padW - 1 - inW)
        }
        (plane + (inH + 1) * padW).update(repeating: 0, count: 2 * padW)
    }

    /// Runs the register tiles of one sample over all output channel blocks, rows and row tiles.
    @inline(__always)
    static func tiles<Tile: DirectTile>(
        _: Tile.Type, scratch: UnsafePointer<Float>, geometry g: ConvolutionGeometry,
        weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, output y: UnsafeMutablePointer<Float>
    ) {
        let outW = g.outWidth, outH = g.outHeight, outPlane = g.outPlane
        let padW = paddedWidth(g), planeStride = paddedHeight(g) * padW
        let patch = g.patchSize, cout = g.outChannels, cin = g.inChannels, twoRows = 2 * padW
        var co = 0
        while co < cout {
            let w = weight + co * patch  // this block's packed weights, [in][tap][6]
            var b = (Float(0), Float(0), Float(0), Float(0), Float(0), Float(0))
            if let bias {
                b = (bias[min(co + 0, cout - 1)], bias[min(co + 1, cout - 1)], bias[min(co + 2, cout - 1)],
                     bias[min(co + 3, cout - 1)], bias[min(co + 4, cout - 1)], bias[min(co + 5, cout - 1)])
            }
            let channels = min(channelBlock, cout - co)
            var oy = 0
            while oy < outH {
                var ox = 0
                while ox < outW {
                    var a0 = SIMD16<Float>(repeating: b.0), a1 = SIMD16<Float>(repeating: b.1)
                    var a2 = SIMD16<Float>(repeating: b.2), a3 = SIMD16<Float>(repeating: b.3)
                    var a4 = SIMD16<Float>(repeating: b.4), a5 = SIMD16<Float>(repeating: b.5)
                    var p = scratch + oy * padW + ox
                    var wp = w
                    for _ in 0..<cin {
                        taps(Tile.self, p, wp, rowStride: padW, &a0, &a1, &a2, &a3, &a4, &a5)
                        taps(Tile.self, p + padW, wp + 18, rowStride: padW, &a0, &a1, &a2, &a3, &a4, &a5)
                        taps(Tile.self, p + twoRows, wp + 36, rowStride: padW, &a0, &a1, &a2, &a3, &a4, &a5)
                        p += planeStride
                        wp += 54
                    }
                    let base = y + co * outPlane + oy * outW + ox
                    Tile.store(a0, base, x: ox, y: oy, width: outW, height: outH)
                    if channels > 1 { Tile.store(a1, base + outPlane, x: ox, y: oy, width: outW, height: outH) }
                    if channels > 2 { Tile.store(a2, base + 2 * outPlane, x: ox, y: oy, width: outW, height: outH) }
                    if channels > 3 { Tile.store(a3, base + 3 * outPlane, x: ox, y: oy, width: outW, height: outH) }
                    if channels > 4 { Tile.store(a4, base + 4 * outPlane, x: ox, y: oy, width: outW, height: outH) }
                    if channels > 5 { Tile.store(a5, base + 5 * outPlane, x: ox, y: oy, width: outW, height: outH) }
                    ox += Tile.columns
                }
                oy += Tile.rows
            }
            co += channelBlock
        }
    }
}

extension DirectConvolution {
    /// One kernel row: the three taps `kx = 0, 1, 2` from padded-plane row `row` (shifted by `kx`),
    /// with the packed weights `w[kx · 6 + j]` of the tile's 6 channels.
    @inline(__always)
    static func taps<Tile: DirectTile>(
        _: Tile.Type, _ row: UnsafePointer<Float>, _ w: UnsafePointer<Float>, rowStride: Int,
        _ a0: inout SIMD16<Float>, _ a1: inout SIMD16<Float>, _ a2: inout SIMD16<Float>,
        _ a3: inout SIMD16<Float>, _ a4: inout SIMD16<Float>, _ a5: inout SIMD16<Float>
    ) {
        for kx in 0..<3 {
            let v = Tile.load(row + kx, rowStride: rowStride)
            let k = w + 6 * kx
            a0 = a0.addingProduct(v, SIMD16(repeating: k[0]))
            a1 = a1.addingProduct(v, SIMD16(repeating: k[1]))
            a2 = a2.addingProduct(v, SIMD16(repeating: k[2]))
            a3 = a3.addingProduct(v, SIMD16(repeating: k[3]))
            a4 = a4.addingProduct(v, SIMD16(repeating: k[4]))
            a5 = a5.addingProduct(v, SIMD16(repeating: k[5]))
        }
    }
}

/// The 16 output pixels of one register tile: how they are loaded from a padded plane and stored
/// into an output plane. Used as a generic parameter only (specialised, never an existential).
protocol DirectTile {
    /// Output columns and rows covered (columns × rows = 16).
    static var columns: Int { get }
    static var rows: Int { get }
    /// The 16 input values under one tap, from the tap's top-left padded-plane element `p`.
    static func load(_ p: UnsafePointer<Float>, rowStride: Int) -> SIMD16<Float>
    /// Stores the lanes of `v` that fall inside the `width × height` output, the tile's first
    /// pixel being `(x, y)` at `to`.
    static func store(_ v: SIMD16<Float>, _ to: UnsafeMutablePointer<Float>, x: Int, y: Int, width: Int, height: Int)
}

/// 16 consecutive pixels of one row (widths above 8).
enum RowTile: DirectTile {
    static var columns: Int { 16 }
    static var rows: Int { 1 }

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>, rowStride: Int) -> SIMD16<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
    }

    @inline(__always)
    static func store(_ v: SIMD16<Float>, _ to: UnsafeMutablePointer<Float>, x: Int, y: Int, width: Int, height: Int) {
        if x + 16 <= width {
            UnsafeMutableRawPointer(to).storeBytes(of: v, as: SIMD16<Float>.self)
        } else {
            for i in 0..<(width - x) { to[i] = v[i] }
        }
    }
}

/// Two rows of 8 pixels (widths up to 8): lanes 0–7 are row `y`, lanes 8–15 row `y + 1`.
enum TwoRowTile: DirectTile {
    static var columns: Int { 8 }
    static var rows: Int { 2 }

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>, rowStride: Int) -> SIMD16<Float> {
        SIMD16(lowHalf: p.load8(0), highHalf: (p + rowStride).load8(0))
    }

    @inline(__always)
    static func store(_ v: SIMD16<Float>, _ to: UnsafeMutablePointer<Float>, x: Int, y: Int, width: Int, height: Int) {
        let secondRow = y + 1 < height
        if width == 8 {
            to.store8(v.lowHalf, 0)
            if secondRow { to.store8(v.highHalf, width) }
        } else {
            for i in 0..<width { to[i] = v[i] }
            if secondRow { for i in 0..<width { to[width + i] = v[8 + i] } }
        }
    }
}
