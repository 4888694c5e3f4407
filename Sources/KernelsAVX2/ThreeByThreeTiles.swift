// This file is compiled twice: as module KernelsAVX2 (`-target-cpu haswell`, where a
// SIMD16<Float> is two ymm registers) and, through the symbolic link in Sources/KernelsAVX512,
// as module KernelsAVX512 (`-target-cpu skylake-avx512`, one zmm register). Swift has no
// per-function target attribute, so one source compiled per instruction set is how the same
// micro-kernel runs at each vector width from one binary; Engine's `KernelSet` picks the module
// at start-up from CPUID. Only the standard library is used here.

/// The register-tiled inner loops of the direct 3×3, stride-1, padding-1 convolution, on
/// zero-bordered input planes that `Engine.DirectConvolution` prepares (activation applied).
///
/// A tile is **6 output channels × 16 output pixels**: six `SIMD16<Float>` accumulators. For each
/// input channel and each of the 9 taps the tile loads one shifted 16-pixel input vector and does
/// 6 broadcast FMAs into it. The 16 pixels are 16 consecutive pixels of one row (`RowTile`,
/// widths above 8; wider maps take ⌈W/16⌉ tiles per row) or two consecutive 8-wide rows
/// (`TwoRowTile`, widths up to 8, so the 8×8 stage still fills 16 lanes). Lanes past the right
/// edge or below the bottom row are computed from the zero border and not stored.
public enum ThreeByThreeTiles {
    /// Output channels per register tile: the weights must be packed as
    /// `[out / channelBlock][in][tap][channelBlock]`, a last partial block repeating its last
    /// channel.
    public static let channelBlock = 6

    /// Floats per padded-plane row for an input of width `width`: the rounded-up width the tiles
    /// read plus the two border columns.
    public static func paddedWidth(forWidth width: Int) -> Int {
        (width <= 8 ? 8 : (width + 15) / 16 * 16) + 2
    }

    /// Rows per padded plane for an input of height `height`: a border row on top, one below, and
    /// one more that the two-row tile reads for an odd last row.
    public static func paddedHeight(forHeight height: Int) -> Int { height + 3 }

    /// Computes (`accumulate` false) or adds (true) `output[co][oy][ox] = bias[co] +
    /// Σ_ci Σ_tap w · plane[ci]`, for all `outChannels` output planes of `outHeight × outWidth`
    /// (equal to the input size).
    ///
    /// - Parameters:
    ///   - planes: `inChannels` zero-bordered planes of `paddedHeight × paddedWidth` floats, the
    ///     input pixel `(y, x)` at row `y + 1`, column `x + 1`.
    ///   - weights: packed as described at `channelBlock`.
    public static func convolve(
        planes: UnsafePointer<Float>, inChannels: Int, outChannels: Int, outHeight: Int, outWidth: Int,
        weights: UnsafePointer<Float>, bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
        accumulate: Bool
    ) {
        let layout = Layout(inChannels: inChannels, outChannels: outChannels, height: outHeight, width: outWidth)
        if outWidth <= 8 {
            tiles(TwoRowTile.self, planes, layout, weights, bias, output, accumulate)
        } else {
            tiles(RowTile.self, planes, layout, weights, bias, output, accumulate)
        }
    }

    /// The sizes one call works on.
    struct Layout {
        var inChannels: Int, outChannels: Int, height: Int, width: Int
        var paddedWidth: Int { ThreeByThreeTiles.paddedWidth(forWidth: width) }
        var planeStride: Int { ThreeByThreeTiles.paddedHeight(forHeight: height) * paddedWidth }
    }

    /// Runs the register tiles over all output channel blocks, rows and row tiles. The block loop
    /// is outermost so that one block's weights (6·9·Cin floats) stay in L1 while the padded input
    /// streams from L2.
    @inline(__always)
    static func tiles<Tile: PixelTile>(
        _: Tile.Type, _ planes: UnsafePointer<Float>, _ l: Layout, _ weight: UnsafePointer<Float>,
        _ bias: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>, _ accumulate: Bool
    ) {
        let outW = l.width, outH = l.height, outPlane = outW * outH
        let padW = l.paddedWidth, planeStride = l.planeStride
        let patch = 9 * l.inChannels, cout = l.outChannels, cin = l.inChannels, twoRows = 2 * padW
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
                    var p = planes + oy * padW + ox
                    var wp = w
                    for _ in 0..<cin {
                        taps(Tile.self, p, wp, rowStride: padW, &a0, &a1, &a2, &a3, &a4, &a5)
                        taps(Tile.self, p + padW, wp + 18, rowStride: padW, &a0, &a1, &a2, &a3, &a4, &a5)
                        taps(Tile.self, p + twoRows, wp + 36, rowStride: padW, &a0, &a1, &a2, &a3, &a4, &a5)
                        p += planeStride
                        wp += 54
                    }
                    let base = y + co * outPlane + oy * outW + ox
                    let at = (x: ox, y: oy, width: outW, height: outH, accumulate: accumulate)
                    Tile.store(a0, base, at)
                    if channels > 1 { Tile.store(a1, base + outPlane, at) }
                    if channels > 2 { Tile.store(a2, base + 2 * outPlane, at) }
                    if channels > 3 { Tile.store(a3, base + 3 * outPlane, at) }
                    if channels > 4 { Tile.store(a4, base + 4 * outPlane, at) }
                    if channels > 5 { Tile.store(a5, base + 5 * outPlane, at) }
                    ox += Tile.columns
                }
                oy += Tile.rows
            }
            co += channelBlock
        }
    }

    /// One kernel row: the three taps `kx = 0, 1, 2` from padded-plane row `row` (shifted by `kx`),
    /// with the packed weights `w[kx · 6 + j]` of the tile's 6 channels.
    @inline(__always)
    static func taps<Tile: PixelTile>(
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

/// Where a tile's 16 lanes go in the output: the first pixel `(x, y)`, the plane's size, and
/// whether to add to what is there.
typealias TileTarget = (x: Int, y: Int, width: Int, height: Int, accumulate: Bool)

/// The 16 output pixels of one register tile: how they are loaded from a padded plane and stored
/// into an output plane. Used as a generic parameter only (specialised, never an existential).
protocol PixelTile {
    /// Output columns and rows covered (columns × rows = 16).
    static var columns: Int { get }
    static var rows: Int { get }
    /// The 16 input values under one tap, from the tap's top-left padded-plane element `p`.
    static func load(_ p: UnsafePointer<Float>, rowStride: Int) -> SIMD16<Float>
    /// Stores (or adds) the lanes of `v` that fall inside the output plane at `to`.
    static func store(_ v: SIMD16<Float>, _ to: UnsafeMutablePointer<Float>, _ at: TileTarget)
}

/// 16 consecutive pixels of one row (widths above 8).
enum RowTile: PixelTile {
    static var columns: Int { 16 }
    static var rows: Int { 1 }

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>, rowStride: Int) -> SIMD16<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
    }

    @inline(__always)
    static func store(_ v: SIMD16<Float>, _ to: UnsafeMutablePointer<Float>, _ at: TileTarget) {
        if at.x + 16 <= at.width {
            let old = at.accumulate ? UnsafeRawPointer(to).loadUnaligned(as: SIMD16<Float>.self) : .zero
            UnsafeMutableRawPointer(to).storeBytes(of: old + v, as: SIMD16<Float>.self)
        } else {
            for i in 0..<(at.width - at.x) { to[i] = at.accumulate ? to[i] + v[i] : v[i] }
        }
    }
}

/// Two rows of 8 pixels (widths up to 8): lanes 0–7 are row `y`, lanes 8–15 row `y + 1`.
enum TwoRowTile: PixelTile {
    static var columns: Int { 8 }
    static var rows: Int { 2 }

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>, rowStride: Int) -> SIMD16<Float> {
        SIMD16(lowHalf: UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self),
               highHalf: UnsafeRawPointer(p + rowStride).loadUnaligned(as: SIMD8<Float>.self))
    }

    @inline(__always)
    static func store(_ v: SIMD16<Float>, _ to: UnsafeMutablePointer<Float>, _ at: TileTarget) {
        let rows = at.y + 1 < at.height ? 2 : 1
        for r in 0..<rows {
            let half = r == 0 ? v.lowHalf : v.highHalf, row = to + r * at.width
            if at.width == 8 {
                let old = at.accumulate ? UnsafeRawPointer(row).loadUnaligned(as: SIMD8<Float>.self) : .zero
                UnsafeMutableRawPointer(row).storeBytes(of: old + half, as: SIMD8<Float>.self)
            } else {
                for i in 0..<at.width { row[i] = at.accumulate ? row[i] + half[i] : half[i] }
            }
        }
    }
}
