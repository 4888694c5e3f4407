// This file is compiled twice, like ThreeByThreeTiles.swift: as module KernelsAVX2 and, through
// the symbolic link in Sources/KernelsAVX512, as module KernelsAVX512. Only the standard library
// is used here.

/// The inner loops of the Winograd F(2×2, 3×3) convolution (3×3, stride 1, padding 1), on the
/// same zero-bordered, activated input planes as the direct tiles (`ThreeByThreeTiles`).
///
/// Each 2×2 output tile is `Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A` for the 4×4 input patch `d` at twice the
/// tile's position: 16 multiplications per input channel and output channel instead of the
/// direct kernel's 36, so at most 2.25× fewer FMAs, paid for with the two transforms.
///
/// The work is split into **blocks of 16 tiles**, one `SIMD16<Float>` lane per tile:
/// 16 consecutive tiles of one tile row (maps wider than 16), two rows of 8 tiles (widths 9–16)
/// or four rows of 4 (widths up to 8), so the 8×8 stage still fills a vector. Per block,
/// `transformInput` writes `V = Bᵀ d B` of every input channel as `[element][channel][16 tiles]`;
/// then `multiply` runs, per element, the product `M[e] = U[e] · V[e]` (output channels × input
/// channels times input channels × 16 tiles) with the direct kernel's accumulator blocks
/// (B output channels × 16 tiles in registers, one broadcast FMA per weight), and turns the 16
/// products of each channel into its 2×2 outputs. The 4×4 input patches are read with vector
/// loads of consecutive columns and split into even and odd columns (tile `x` starts at column
/// `2x`); lanes past the map's right or bottom edge read the zero border or later memory and are
/// never stored.
public enum WinogradTiles {
    /// Transformed elements per tile (4×4).
    public static let elements = 16

    /// How a map of `height × width` outputs is cut into blocks of 16 tiles.
    public struct Tiling {
        /// Tiles per tile row and tile rows (2×2 outputs each, the last ones possibly partial).
        public let tileColumns: Int, tileRows: Int
        /// Tiles of one tile row in a block (16, 8 or 4) and tile rows per block (16 / that).
        public let lanesPerRow: Int, rowsPerBlock: Int
        /// Blocks per group of `rowsPerBlock` tile rows.
        public let blocksPerRow: Int
        /// Floats per padded-plane row (`ThreeByThreeTiles.paddedWidth`).
        public let paddedWidth: Int
        let height: Int, width: Int

        /// The tiling of a `height × width` map.
        public init(height: Int, width: Int) {
            self.height = height
            self.width = width
            tileColumns = (width + 1) / 2
            tileRows = (height + 1) / 2
            lanesPerRow = tileColumns > 8 ? 16 : tileColumns > 4 ? 8 : 4
            rowsPerBlock = 16 / lanesPerRow
            blocksPerRow = (tileColumns + lanesPerRow - 1) / lanesPerRow
            paddedWidth = ThreeByThreeTiles.paddedWidth(forWidth: width)
        }

        /// Blocks of 16 tiles that cover the map.
        public var blockCount: Int { (tileRows + rowsPerBlock - 1) / rowsPerBlock * blocksPerRow }

        /// The first tile (row, column) of block `b`.
        func origin(_ b: Int) -> (row: Int, column: Int) {
            (b / blocksPerRow * rowsPerBlock, b % blocksPerRow * lanesPerRow)
        }

        /// Floats past the start of the last padded plane that the input transform reads (the
        /// lanes of tiles past the map's edges read past the plane): scratch after the planes
        /// must hold `max(0, readExtent − plane size)` more floats, which need not be zero.
        public var readExtent: Int {
            let last = origin(blockCount - 1)
            return (2 * last.row + 2 * rowsPerBlock + 1) * paddedWidth + 2 * last.column + 2 + 2 * lanesPerRow
        }
    }

    /// Writes block `block`'s transformed input `V = Bᵀ d B` for all `inChannels` planes into `v`
    /// as `[16 elements][inChannels][16 tiles]` (`16 · inChannels · 16` floats).
    ///
    /// - Parameters:
    ///   - planes: zero-bordered planes of `ThreeByThreeTiles.paddedHeight × paddedWidth` floats
    ///     (pixel `(y, x)` at row `y + 1`, column `x + 1`), followed by at least
    ///     `Tiling.readExtent` readable floats from the start of the last plane.
    public static func transformInput(planes: UnsafePointer<Float>, inChannels: Int, height: Int, width: Int,
                                      block: Int, into v: UnsafeMutablePointer<Float>) {
        transformInput(planes: planes, inChannels: inChannels, height: height, width: width, block: block, into: v,
                       channelStride: 16, elementStride: 16 * inChannels)
    }

    /// As `transformInput(planes:inChannels:height:width:block:into:)`, with channel `c`'s element
    /// `e` (16 tiles) at `v + e · elementStride + c · channelStride`: the weight gradient lays the
    /// blocks of many samples side by side (`WinogradWeightGradient`).
    public static func transformInput(planes: UnsafePointer<Float>, inChannels: Int, height: Int, width: Int,
                                      block: Int, into v: UnsafeMutablePointer<Float>, channelStride: Int,
                                      elementStride: Int) {
        let t = Tiling(height: height, width: width)
        let o = t.origin(block), padW = t.paddedWidth
        let planeStride = ThreeByThreeTiles.paddedHeight(forHeight: height) * padW
        let start = planes + 2 * o.row * padW + 2 * o.column
        let strides = (plane: planeStride, channel: channelStride, element: elementStride)
        switch t.lanesPerRow {
        case 16: transformInput(OneTileRow.self, start, inChannels, padW, strides, v)
        case 8: transformInput(TwoTileRows.self, start, inChannels, padW, strides, v)
        default: transformInput(FourTileRows.self, start, inChannels, padW, strides, v)
        }
    }

    @inline(__always)
    static func transformInput<Rows: TileRowGroup>(
        _: Rows.Type, _ start: UnsafePointer<Float>, _ cin: Int, _ padW: Int,
        _ strides: (plane: Int, channel: Int, element: Int), _ v: UnsafeMutablePointer<Float>
    ) {
        let groupStride = 2 * padW, elementStride = strides.element, planeStride = strides.plane
        var p = start, to = v
        for _ in 0..<cin {
            // Bᵀ d along the rows of each 4×4 patch (d0 − d2, d1 + d2, d2 − d1, d1 − d3), then
            // the same combination of the four rows.
            let r0 = rowTransform(Rows.self, p, groupStride)
            let r1 = rowTransform(Rows.self, p + padW, groupStride)
            let r2 = rowTransform(Rows.self, p + 2 * padW, groupStride)
            let r3 = rowTransform(Rows.self, p + 3 * padW, groupStride)
            columnTransform(r0.0, r1.0, r2.0, r3.0, to, elementStride)
            columnTransform(r0.1, r1.1, r2.1, r3.1, to + elementStride, elementStride)
            columnTransform(r0.2, r1.2, r2.2, r3.2, to + 2 * elementStride, elementStride)
            columnTransform(r0.3, r1.3, r2.3, r3.3, to + 3 * elementStride, elementStride)
            p += planeStride
            to += strides.channel
        }
    }

    /// The transform of one patch row for 16 tiles: `d · B` for `d` = columns 0–3 of every tile.
    @inline(__always)
    static func rowTransform<Rows: TileRowGroup>(_: Rows.Type, _ p: UnsafePointer<Float>, _ groupStride: Int)
        -> (SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>) {
        let low = Rows.load(p, groupStride), high = Rows.load(p + 2, groupStride)
        let d0 = low.evenLanes, d1 = low.oddLanes, d2 = high.evenLanes, d3 = high.oddLanes
        return (d0 - d2, d1 + d2, d2 - d1, d1 - d3)
    }

    /// `Bᵀ` applied down one transformed column: stores elements `(0, j)…(3, j)` of `V`, which
    /// are 4 element strides apart (element `e = 4 i + j`; `to` is element `j`).
    @inline(__always)
    static func columnTransform(_ r0: SIMD16<Float>, _ r1: SIMD16<Float>, _ r2: SIMD16<Float>, _ r3: SIMD16<Float>,
                                _ to: UnsafeMutablePointer<Float>, _ elementStride: Int) {
        let raw = UnsafeMutableRawPointer(to), step = 4 * elementStride * MemoryLayout<Float>.stride
        raw.storeBytes(of: r0 - r2, as: SIMD16<Float>.self)
        (raw + step).storeBytes(of: r1 + r2, as: SIMD16<Float>.self)
        (raw + 2 * step).storeBytes(of: r2 - r1, as: SIMD16<Float>.self)
        (raw + 3 * step).storeBytes(of: r1 - r3, as: SIMD16<Float>.self)
    }

    /// Computes (`accumulate` false) or adds (true) block `block`'s 2×2 output tiles of all
    /// `outChannels` channels from its transformed input `v` (`transformInput`, `inChannels`
    /// channels) and the transformed weights `u`, plus `bias`.
    ///
    /// - Parameters:
    ///   - u: `U = G g Gᵀ` packed as `[out / B][16 elements][in][B]` for the channel block B of
    ///     `ThreeByThreeTiles.channelBlock(outputChannels:)`; a last partial block repeats its
    ///     last channel.
    ///   - output: `outChannels` dense planes of `height × width`.
    ///   - products: `16 · 16 · B` floats of scratch for one channel block's element products.
    public static func multiply(
        transformed v: UnsafePointer<Float>, inChannels: Int, outChannels: Int, weights u: UnsafePointer<Float>,
        bias: UnsafePointer<Float>?, height: Int, width: Int, block: Int, output: UnsafeMutablePointer<Float>,
        accumulate: Bool, products: UnsafeMutablePointer<Float>
    ) {
        let t = Tiling(height: height, width: width)
        let a = Arguments(v: v, cin: inChannels, cout: outChannels, u: u, bias: bias, tiling: t, block: block,
                          output: output, accumulate: accumulate, products: products)
        switch ThreeByThreeTiles.channelBlock(outputChannels: outChannels) {
        case 12: multiply(Block12.self, a)
        case 8: multiply(Block8.self, a)
        default: multiply(Block6.self, a)
        }
    }

    /// `multiply`'s arguments, passed on through the specialisations.
    struct Arguments {
        var v: UnsafePointer<Float>, cin: Int, cout: Int, u: UnsafePointer<Float>, bias: UnsafePointer<Float>?
        var tiling: Tiling, block: Int, output: UnsafeMutablePointer<Float>, accumulate: Bool
        var products: UnsafeMutablePointer<Float>
    }

    @inline(__always)
    static func multiply<Block: AccumulatorBlock>(_: Block.Type, _ a: Arguments) {
        switch a.tiling.lanesPerRow {
        case 16: multiply(Block.self, OneTileRow.self, a)
        case 8: multiply(Block.self, TwoTileRows.self, a)
        default: multiply(Block.self, FourTileRows.self, a)
        }
    }

    /// Per channel block: the 16 element products into `products` as `[16 elements][B][16 tiles]`,
    /// then each channel's output transform.
    @inline(__always)
    static func multiply<Block: AccumulatorBlock, Rows: TileRowGroup>(_: Block.Type, _: Rows.Type, _ a: Arguments) {
        let b = Block.channels, cin = a.cin
        let o = a.tiling.origin(a.block)
        let plane = a.tiling.height * a.tiling.width
        let m = UnsafeMutableRawPointer(a.products), vector = MemoryLayout<SIMD16<Float>>.stride
        var co = 0
        while co < a.cout {
            let blockWeights = a.u + co * 16 * cin  // this block's [16][in][B]
            for e in 0..<16 {
                var acc = Block(bias: nil, first: 0, last: 0)
                var vp = UnsafeRawPointer(a.v + e * 16 * cin), up = blockWeights + e * cin * b
                for _ in 0..<cin {
                    acc.add(vp.loadUnaligned(as: SIMD16<Float>.self), up)
                    vp += vector
                    up += b
                }
                for j in 0..<b { (m + (e * b + j) * vector).storeBytes(of: acc[j], as: SIMD16<Float>.self) }
            }
            for j in 0..<min(b, a.cout - co) {
                let to = a.output + (co + j) * plane + 2 * o.row * a.tiling.width + 2 * o.column
                outputTransform(Rows.self, UnsafeRawPointer(m + j * vector), stride: b * vector, bias: a.bias?[co + j] ?? 0,
                                to: to, origin: o, tiling: a.tiling, accumulate: a.accumulate)
            }
            co += b
        }
    }

    /// `Aᵀ M A` of one channel's 16 element products (`stride` bytes apart) for the block's 16 tiles, plus `bias`,
    /// stored (or added) as the tiles' 2×2 outputs inside the map.
    @inline(__always)
    static func outputTransform<Rows: TileRowGroup>(
        _: Rows.Type, _ m: UnsafeRawPointer, stride: Int, bias: Float, to: UnsafeMutablePointer<Float>,
        origin o: (row: Int, column: Int), tiling t: Tiling, accumulate: Bool
    ) {
        @inline(__always) func element(_ e: Int) -> SIMD16<Float> {
            m.loadUnaligned(fromByteOffset: e * stride, as: SIMD16<Float>.self)
        }
        // Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]] down the columns, then along the rows.
        var s0 = (SIMD16<Float>.zero, SIMD16<Float>.zero, SIMD16<Float>.zero, SIMD16<Float>.zero), s1 = s0
        s0.0 = element(0) + element(4) + element(8); s1.0 = element(4) - element(8) - element(12)
        s0.1 = element(1) + element(5) + element(9); s1.1 = element(5) - element(9) - element(13)
        s0.2 = element(2) + element(6) + element(10); s1.2 = element(6) - element(10) - element(14)
        s0.3 = element(3) + element(7) + element(11); s1.3 = element(7) - element(11) - element(15)
        let b = SIMD16<Float>(repeating: bias)
        let row0 = interleave(s0.0 + s0.1 + s0.2 + b, s0.1 - s0.2 - s0.3 + b)
        let row1 = interleave(s1.0 + s1.1 + s1.2 + b, s1.1 - s1.2 - s1.3 + b)
        let columns = min(2 * Rows.lanesPerRow, t.width - 2 * o.column)
        for g in 0..<Rows.groups {
            let y = 2 * (o.row + g)
            if y >= t.height { break }
            let target = to + 2 * g * t.width
            Rows.store(row0, group: g, to: target, columns: columns, accumulate: accumulate)
            if y + 1 < t.height {
                Rows.store(row1, group: g, to: target + t.width, columns: columns, accumulate: accumulate)
            }
        }
    }
}

extension WinogradTiles {
    /// `(a[0], b[0], a[1], b[1], …)`: the even and odd output columns of 16 tiles as 32
    /// consecutive pixels.
    ///
    /// Two spellings of one shuffle, chosen per build (`InstructionSet.interleavesBySplitting`)
    /// by what LLVM makes of them in the output transform. The `evenHalf`/`oddHalf` setters are
    /// fastest with AVX2, but for AVX-512 LLVM rebuilds the transform from scalar loads as gathers
    /// (`vgatherdps`, slow on Zen 4: 138 against 170 GFLOP/s for the 12 → 168 input gradient at
    /// 32×32). Splitting 32 lanes into even and odd halves rotates each lane's 5-bit index right
    /// by one, so four splits rotate it left by one, which interleaves the halves; written with
    /// the getters, that stays two permutes.
    @inline(__always)
    static func interleave(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD32<Float> {
        if InstructionSet.interleavesBySplitting {
            var z = SIMD32(lowHalf: a, highHalf: b)
            for _ in 0..<4 { z = SIMD32(lowHalf: z.evenHalf, highHalf: z.oddHalf) }
            return z
        } else {
            var z = SIMD32<Float>()
            z.evenHalf = a
            z.oddHalf = b
            return z
        }
    }
}

extension SIMD32 where Scalar == Float {
    /// Lanes 0, 2, …, 30: the standard library's `evenHalf`, spelled out so that it is always
    /// inlined. In the AVX2 build the library's getter stayed an out-of-line call (48 calls in
    /// `transformInput`, 4.5 % of resnet-20's step with `DDPTRAIN_KERNELS=avx2`); inlined, LLVM
    /// turns the lane copies into a few shuffles.
    @inline(__always)
    var evenLanes: SIMD16<Float> {
        var r = SIMD16<Float>()
        for i in 0..<16 { r[i] = self[2 &* i] }
        return r
    }

    /// Lanes 1, 3, …, 31: `oddHalf`, always inlined (see `evenLanes`).
    @inline(__always)
    var oddLanes: SIMD16<Float> {
        var r = SIMD16<Float>()
        for i in 0..<16 { r[i] = self[2 &* i &+ 1] }
        return r
    }
}
