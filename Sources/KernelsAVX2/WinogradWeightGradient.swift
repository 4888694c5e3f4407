// This file is compiled twice, like ThreeByThreeTiles.swift: as module KernelsAVX2 and, through
// the symbolic link in Sources/KernelsAVX512, as module KernelsAVX512. What differs per
// instruction set (`GradientLanes`, `winogradGradientInputChannels`) is in each module's own
// GradientLanes.swift. Only the standard library is used here.

/// The inner loops of the weight gradient of the Winograd F(2×2, 3×3) convolution.
///
/// The forward pass computes each 2×2 output tile as `Aᵀ [U ⊙ V] A` with `U = G g Gᵀ` and
/// `V = Bᵀ d B`. Its adjoint gives the gradient of the 16 elements of `U`, summed over all tiles
/// of all samples, `∂U[e][co][ci] = Σ_tiles Ĝ[e][co] · V[e][ci]` with `Ĝ = A dY Aᵀ` (the tile's
/// 2×2 output gradient spread to 4×4), and the weight gradient is `Gᵀ ∂U G`. Per element that is
/// an output-channels × input-channels product over the tiles: 16 multiplications per tile
/// (4 outputs) where the direct weight gradient does 36.
///
/// `transformGradient` writes `Ĝ` per block of 16 tiles (the blocks of `WinogradTiles`, one lane
/// per tile, tiles outside the map zero), `WinogradTiles.transformInput` writes `V` the same way,
/// both with the tiles of many blocks and samples side by side; `products` then runs the per
/// element dot products over all tiles with register tiles of 4 output × 4 (AVX-512) or 2 (AVX2)
/// input channels, reduced horizontally once at the end.
public enum WinogradWeightGradient {
    /// Floats per vector of `products`: the tile count it runs over must be a multiple of it.
    public static let lanes = GradientLanes.scalarCount

    /// Writes block `block`'s `Ĝ = A dY Aᵀ` of every one of `channels` output-gradient planes,
    /// channel `c`'s element `e` (16 tiles) at `into + e · elementStride + c · channelStride`.
    /// Lanes of tiles outside the `height × width` map are zero, whatever the planes hold there.
    ///
    /// - Parameters:
    ///   - planes: zero-bordered planes as `ThreeByThreeTiles` reads them (pixel `(y, x)` at row
    ///     `y + 1`, column `x + 1`), followed by at least `Tiling.readExtent` readable floats from
    ///     the start of the last plane.
    public static func transformGradient(planes: UnsafePointer<Float>, channels: Int, height: Int, width: Int,
                                         block: Int, into: UnsafeMutablePointer<Float>, channelStride: Int,
                                         elementStride: Int) {
        let t = WinogradTiles.Tiling(height: height, width: width)
        let o = t.origin(block), padW = t.paddedWidth
        let planeStride = ThreeByThreeTiles.paddedHeight(forHeight: height) * padW
        let start = planes + (2 * o.row + 1) * padW + 2 * o.column + 1
        // The lanes of tiles outside the map, which read the border, later rows or later planes.
        var outside = SIMDMask<SIMD16<Int32>>()
        for lane in 0..<16 {
            let row = o.row + lane / t.lanesPerRow, column = o.column + lane % t.lanesPerRow
            outside[lane] = row >= t.tileRows || column >= t.tileColumns
        }
        let strides = (plane: planeStride, channel: channelStride, element: elementStride)
        switch t.lanesPerRow {
        case 16: transformGradient(OneTileRow.self, start, channels, padW, strides, outside, into)
        case 8: transformGradient(TwoTileRows.self, start, channels, padW, strides, outside, into)
        default: transformGradient(FourTileRows.self, start, channels, padW, strides, outside, into)
        }
    }

    @inline(__always)
    static func transformGradient<Rows: TileRowGroup>(
        _: Rows.Type, _ start: UnsafePointer<Float>, _ channels: Int, _ padW: Int,
        _ strides: (plane: Int, channel: Int, element: Int), _ outside: SIMDMask<SIMD16<Int32>>,
        _ into: UnsafeMutablePointer<Float>
    ) {
        let groupStride = 2 * padW, step = strides.element * MemoryLayout<Float>.stride
        var p = start, to = UnsafeMutableRawPointer(into)
        for _ in 0..<channels {
            // The tile's two gradient rows, even and odd columns: y[a][b].
            let top = Rows.load(p, groupStride), bottom = Rows.load(p + padW, groupStride)
            let y00 = top.evenHalf.replacing(with: 0, where: outside)
            let y01 = top.oddHalf.replacing(with: 0, where: outside)
            let y10 = bottom.evenHalf.replacing(with: 0, where: outside)
            let y11 = bottom.oddHalf.replacing(with: 0, where: outside)
            // Along each row, A = [[1, 0], [1, 1], [1, −1], [0, −1]]: (a, a + b, a − b, −b); then
            // the same down the columns, element e = 4 i + j.
            let r0 = (y00, y00 + y01, y00 - y01, -y01), r1 = (y10, y10 + y11, y10 - y11, -y11)
            @inline(__always) func column(_ j: Int, _ a: SIMD16<Float>, _ b: SIMD16<Float>) {
                to.storeBytes(of: a, toByteOffset: j * step, as: SIMD16<Float>.self)
                to.storeBytes(of: a + b, toByteOffset: (4 + j) * step, as: SIMD16<Float>.self)
                to.storeBytes(of: a - b, toByteOffset: (8 + j) * step, as: SIMD16<Float>.self)
                to.storeBytes(of: -b, toByteOffset: (12 + j) * step, as: SIMD16<Float>.self)
            }
            column(0, r0.0, r1.0)
            column(1, r0.1, r1.1)
            column(2, r0.2, r1.2)
            column(3, r0.3, r1.3)
            p += strides.plane
            to += strides.channel * MemoryLayout<Float>.stride
        }
    }

    /// Computes (`accumulate` false) or adds (true) `m[e][co][ci] = Σ_{t < tiles}
    /// gradient[e][co][t] · input[e][ci][t]` for the 16 elements `e`, all `outChannels × inChannels`.
    ///
    /// - Parameters:
    ///   - gradient: `Ĝ`, element `e` of channel `co` at `(e · outChannels + co) · tiles`.
    ///   - input: `V`, element `e` of channel `ci` at `(e · inChannels + ci) · tiles`.
    ///   - tiles: a multiple of `lanes`.
    ///   - m: `[16][outChannels][inChannels]`.
    public static func products(gradient: UnsafePointer<Float>, outChannels: Int, input: UnsafePointer<Float>,
                                inChannels: Int, tiles: Int, into m: UnsafeMutablePointer<Float>, accumulate: Bool) {
        precondition(tiles % lanes == 0, "the Winograd weight gradient's tile count must be a multiple of \(lanes)")
        let cout = outChannels, cin = inChannels, columns = winogradGradientInputChannels
        for e in 0..<16 {
            let ge = gradient + e * cout * tiles, ve = input + e * cin * tiles, me = m + e * cout * cin
            var co = 0
            while co < cout {
                // A last partial tile repeats its last channel; only the real ones are stored.
                let g = (ge + min(co, cout - 1) * tiles, ge + min(co + 1, cout - 1) * tiles,
                         ge + min(co + 2, cout - 1) * tiles, ge + min(co + 3, cout - 1) * tiles)
                var ci = 0
                while ci < cin {
                    let sums: (SIMD4<Float>, SIMD4<Float>, SIMD4<Float>, SIMD4<Float>)
                    if columns == 4 {
                        sums = fourByFour(g, (ve + min(ci, cin - 1) * tiles, ve + min(ci + 1, cin - 1) * tiles,
                                              ve + min(ci + 2, cin - 1) * tiles, ve + min(ci + 3, cin - 1) * tiles),
                                          tiles)
                    } else {
                        sums = fourByTwo(g, (ve + min(ci, cin - 1) * tiles, ve + min(ci + 1, cin - 1) * tiles), tiles)
                    }
                    // Column c of the sums: input channel ci + c, lane r output channel co + r.
                    for c in 0..<min(columns, cin - ci) {
                        let s = c == 0 ? sums.0 : c == 1 ? sums.1 : c == 2 ? sums.2 : sums.3
                        for r in 0..<min(4, cout - co) {
                            let to = me + (co + r) * cin + ci + c
                            to.pointee = accumulate ? to.pointee + s[r] : s[r]
                        }
                    }
                    ci += columns
                }
                co += 4
            }
        }
    }

    typealias Rows4 = (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>)

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> GradientLanes {
        UnsafeRawPointer(p).loadUnaligned(as: GradientLanes.self)
    }

    /// 4 output × 4 input channels: 16 accumulators; the sums per input channel, over the
    /// output channels.
    @inline(__always)
    static func fourByFour(_ g: Rows4, _ v: Rows4, _ tiles: Int)
        -> (SIMD4<Float>, SIMD4<Float>, SIMD4<Float>, SIMD4<Float>) {
        var a = FourChannelColumn(), b = FourChannelColumn(), c = FourChannelColumn(), d = FourChannelColumn()
        var t = 0
        while t < tiles {
            let g0 = load(g.0 + t), g1 = load(g.1 + t), g2 = load(g.2 + t), g3 = load(g.3 + t)
            a.add(load(v.0 + t), g0, g1, g2, g3)
            b.add(load(v.1 + t), g0, g1, g2, g3)
            c.add(load(v.2 + t), g0, g1, g2, g3)
            d.add(load(v.3 + t), g0, g1, g2, g3)
            // Wrapping: `t < tiles`, an index into the scratch, cannot overflow; the check would
            // sit in the innermost loop.
            t &+= lanes
        }
        return (a.sums, b.sums, c.sums, d.sums)
    }

    /// 4 output × 2 input channels: 8 accumulators (the last two results are zero).
    @inline(__always)
    static func fourByTwo(_ g: Rows4, _ v: (UnsafePointer<Float>, UnsafePointer<Float>), _ tiles: Int)
        -> (SIMD4<Float>, SIMD4<Float>, SIMD4<Float>, SIMD4<Float>) {
        var a = FourChannelColumn(), b = FourChannelColumn()
        var t = 0
        while t < tiles {
            let g0 = load(g.0 + t), g1 = load(g.1 + t), g2 = load(g.2 + t), g3 = load(g.3 + t)
            a.add(load(v.0 + t), g0, g1, g2, g3)
            b.add(load(v.1 + t), g0, g1, g2, g3)
            t &+= lanes  // Wrapping: as in `fourByFour`.
        }
        return (a.sums, b.sums, .zero, .zero)
    }
}

/// The accumulators of one input channel against 4 output channels.
struct FourChannelColumn {
    var k0 = GradientLanes(), k1 = GradientLanes(), k2 = GradientLanes(), k3 = GradientLanes()

    @inline(__always)
    mutating func add(_ v: GradientLanes, _ g0: GradientLanes, _ g1: GradientLanes, _ g2: GradientLanes,
                      _ g3: GradientLanes) {
        k0 = k0.addingProduct(v, g0)
        k1 = k1.addingProduct(v, g1)
        k2 = k2.addingProduct(v, g2)
        k3 = k3.addingProduct(v, g3)
    }

    /// The four horizontal sums.
    var sums: SIMD4<Float> {
        @inline(__always) get { ThreeByThreeWeightGradient.sums(k0, k1, k2, k3) }
    }
}
