// This file is compiled twice, like ThreeByThreeTiles.swift: as module KernelsAVX2 and, through
// the symbolic link in Sources/KernelsAVX512, as module KernelsAVX512. What differs per
// instruction set (`GradientLanes`) is in each module's own GradientLanes.swift. Only the standard library is used here.

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
/// element dot products over all tiles (`ChannelProducts`).
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
            let y00 = top.evenLanes.replacing(with: 0, where: outside)
            let y01 = top.oddLanes.replacing(with: 0, where: outside)
            let y10 = bottom.evenLanes.replacing(with: 0, where: outside)
            let y11 = bottom.oddLanes.replacing(with: 0, where: outside)
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
        for e in 0..<16 {
            ChannelProducts.products(gradient: gradient + e * outChannels * tiles, gradientStride: tiles,
                                     outChannels: outChannels, input: input + e * inChannels * tiles,
                                     inputStride: tiles, inChannels: inChannels, length: tiles,
                                     into: m + e * outChannels * inChannels, accumulate: accumulate)
        }
    }
}
