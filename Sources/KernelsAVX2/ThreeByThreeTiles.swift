// This file is compiled twice: as module KernelsAVX2 (`-target-cpu haswell`, where a
// SIMD16<Float> is two ymm registers) and, through the symbolic link in Sources/KernelsAVX512,
// as module KernelsAVX512 (`-target-cpu skylake-avx512`, one zmm register). Swift has no
// per-function target attribute, so one source compiled per instruction set is how the same
// micro-kernel runs at each vector width from one binary; Engine's `KernelSet` picks the module
// at start-up from CPUID. Only the standard library is used here.

/// The register-tiled inner loops of the direct 3×3, stride-1, padding-1 convolution, on
/// zero-bordered input planes that `Engine.DirectConvolution` prepares (activation applied).
///
/// A tile is **B output channels × 16 output pixels**: B `SIMD16<Float>` accumulators. For each
/// input channel and each of the 9 taps the tile loads one shifted 16-pixel input vector and does
/// B broadcast FMAs into it. B is the channel block (`channelBlock(outputChannels:)`): 6 with
/// AVX2, where a `SIMD16<Float>` is two of the 16 ymm registers; 12 or 8 with AVX-512's 32 zmm
/// registers, so that DenseNet's 12 (and ResNet's 16, 32, 64) output channels are one pass over
/// the input, or whole blocks. The 16 pixels are 16 consecutive pixels of one row (`RowTile`,
/// widths above 8; wider maps take ⌈W/16⌉ tiles per row) or two consecutive 8-wide rows
/// (`TwoRowTile`, widths up to 8, so the 8×8 stage still fills 16 lanes). Lanes past the right
/// edge or below the bottom row are computed from the zero border and not stored.
public enum ThreeByThreeTiles {
    /// Output channels per register tile for a convolution with `outputChannels` outputs: the
    /// weights must be packed as `[out / B][in][tap][B]`, a last partial block repeating its last
    /// channel. Of this build's block sizes (`InstructionSet.channelBlocks`), the one that pads
    /// the channels least, the larger on a tie.
    public static func channelBlock(outputChannels: Int) -> Int {
        var best = InstructionSet.channelBlocks[0]
        for b in InstructionSet.channelBlocks where padded(outputChannels, b) < padded(outputChannels, best) {
            best = b
        }
        return best
    }

    /// The largest block of any build, for sizing scratch that either build may use.
    public static let largestChannelBlock = 12

    /// `channels` rounded up to a multiple of `block`.
    static func padded(_ channels: Int, _ block: Int) -> Int { (channels + block - 1) / block * block }

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
        let padW = paddedWidth(forWidth: outWidth)
        let layout = TileLayout(inChannels: inChannels, outChannels: outChannels, height: outHeight, width: outWidth,
                                rowStride: padW, channelStride: paddedHeight(forHeight: outHeight) * padW)
        tiles(Neighbourhood(), layout, planes, weights, bias, output, accumulate)
    }

    /// Picks the channel block for the output channels and the pixel tile for the width, and runs
    /// the tiles with the taps of `pattern`: the one tile walk of both 3×3 tile kinds.
    @inline(__always)
    static func tiles<Taps: TapPattern>(
        _ pattern: Taps, _ l: TileLayout, _ planes: UnsafePointer<Float>, _ weight: UnsafePointer<Float>,
        _ bias: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>, _ accumulate: Bool
    ) {
        switch channelBlock(outputChannels: l.outChannels) {
        case 12: tiles(Block12.self, pattern, l, planes, weight, bias, y, accumulate)
        case 8: tiles(Block8.self, pattern, l, planes, weight, bias, y, accumulate)
        default: tiles(Block6.self, pattern, l, planes, weight, bias, y, accumulate)
        }
    }

    @inline(__always)
    static func tiles<Block: AccumulatorBlock, Taps: TapPattern>(
        _: Block.Type, _ pattern: Taps, _ l: TileLayout, _ planes: UnsafePointer<Float>,
        _ weight: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>,
        _ accumulate: Bool
    ) {
        if l.width <= 8 {
            tiles(Block.self, TwoRowTile.self, pattern, l, planes, weight, bias, y, accumulate)
        } else {
            tiles(Block.self, RowTile.self, pattern, l, planes, weight, bias, y, accumulate)
        }
    }

    /// Runs the register tiles over all output channel blocks, rows and row tiles. The block loop
    /// is outermost so that one block's weights (B·taps·Cin floats) stay near while the input
    /// streams from L2.
    @inline(__always)
    static func tiles<Block: AccumulatorBlock, Tile: PixelTile, Taps: TapPattern>(
        _: Block.Type, _: Tile.Type, _ pattern: Taps, _ l: TileLayout, _ planes: UnsafePointer<Float>,
        _ weight: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>,
        _ accumulate: Bool
    ) {
        let outW = l.width, outH = l.height, outPlane = outW * outH
        let rowStride = l.rowStride, channelStride = l.channelStride
        let cout = l.outChannels, cin = l.inChannels, b = Block.channels
        let weightsPerChannel = pattern.count * b
        var co = 0
        while co < cout {
            let w = weight + co * pattern.count * cin  // this block's packed weights, [in][tap][B]
            let channels = min(b, cout - co)
            var oy = 0
            while oy < outH {
                var ox = 0
                while ox < outW {
                    var a = Block(bias: bias, first: co, last: cout - 1)
                    var p = planes + oy * rowStride + ox
                    var wp = w
                    for _ in 0..<cin {
                        pattern.add(into: &a, Tile.self, p, rowStride: rowStride, wp)
                        p += channelStride
                        wp += weightsPerChannel
                    }
                    let base = y + co * outPlane + oy * outW + ox
                    let at = (x: ox, y: oy, width: outW, height: outH, accumulate: accumulate)
                    for j in 0..<channels { Tile.store(a[j], base + j * outPlane, at) }
                    ox += Tile.columns
                }
                oy += Tile.rows
            }
            co += b
        }
    }
}

/// The sizes and strides one tile call works on: `outChannels` dense output planes of
/// `height × width`, from `inChannels` input channels `channelStride` floats apart whose rows are
/// `rowStride` floats apart.
struct TileLayout {
    var inChannels: Int, outChannels: Int, height: Int, width: Int
    var rowStride: Int, channelStride: Int
}

/// Where a tile finds its input vectors in one input channel, and how many taps (B-vectors of
/// packed weights per input channel) that takes. Used as a generic parameter only.
protocol TapPattern {
    /// Taps per input channel.
    var count: Int { get }
    /// Adds every tap of one input channel to `a`: tap `t`'s 16 inputs from the channel's element
    /// `p` (the tile's first pixel) plus the tap's offset, times the weights at `w + t·B`.
    func add<Block: AccumulatorBlock, Tile: PixelTile>(
        into a: inout Block, _: Tile.Type, _ p: UnsafePointer<Float>, rowStride: Int, _ w: UnsafePointer<Float>)
}

/// The nine taps of a 3×3 stride-1 kernel on a zero-bordered plane, `(ky, kx)` at
/// `ky·rowStride + kx`, unrolled.
struct Neighbourhood: TapPattern {
    var count: Int { 9 }

    @inline(__always)
    func add<Block: AccumulatorBlock, Tile: PixelTile>(
        into a: inout Block, _: Tile.Type, _ p: UnsafePointer<Float>, rowStride: Int, _ w: UnsafePointer<Float>
    ) {
        let b = Block.channels
        for ky in 0..<3 {
            let row = p + ky * rowStride, wr = w + ky * 3 * b
            a.add(Tile.load(row, rowStride: rowStride), wr)
            a.add(Tile.load(row + 1, rowStride: rowStride), wr + b)
            a.add(Tile.load(row + 2, rowStride: rowStride), wr + 2 * b)
        }
    }
}

/// The accumulators of one tile: `channels` vectors of 16 pixels, one per output channel. Used as
/// a generic parameter only, so the vectors live in registers.
protocol AccumulatorBlock {
    /// Output channels per tile.
    static var channels: Int { get }
    /// Accumulators starting at `bias[first + j]` (channel indices clamped to `last`), or zero.
    init(bias: UnsafePointer<Float>?, first: Int, last: Int)
    /// `acc[j] += v · w[j]` for every channel `j`.
    mutating func add(_ v: SIMD16<Float>, _ w: UnsafePointer<Float>)
    /// Channel `j`'s accumulator.
    subscript(_ j: Int) -> SIMD16<Float> { get }
}

/// Two channels, the unit the larger blocks are built from.
struct Block2: AccumulatorBlock {
    static var channels: Int { 2 }
    var a0, a1: SIMD16<Float>

    @inline(__always)
    init(bias: UnsafePointer<Float>?, first: Int, last: Int) {
        a0 = SIMD16(repeating: bias.map { $0[min(first, last)] } ?? 0)
        a1 = SIMD16(repeating: bias.map { $0[min(first + 1, last)] } ?? 0)
    }

    @inline(__always)
    mutating func add(_ v: SIMD16<Float>, _ w: UnsafePointer<Float>) {
        a0 = a0.addingProduct(v, SIMD16(repeating: w[0]))
        a1 = a1.addingProduct(v, SIMD16(repeating: w[1]))
    }

    subscript(_ j: Int) -> SIMD16<Float> { @inline(__always) get { j == 0 ? a0 : a1 } }
}

/// Two blocks side by side: `Low`'s channels, then `High`'s, sharing each input vector.
struct BlockPair<Low: AccumulatorBlock, High: AccumulatorBlock>: AccumulatorBlock {
    static var channels: Int { Low.channels + High.channels }
    var low: Low, high: High

    @inline(__always)
    init(bias: UnsafePointer<Float>?, first: Int, last: Int) {
        low = Low(bias: bias, first: first, last: last)
        high = High(bias: bias, first: first + Low.channels, last: last)
    }

    @inline(__always)
    mutating func add(_ v: SIMD16<Float>, _ w: UnsafePointer<Float>) {
        low.add(v, w)
        high.add(v, w + Low.channels)
    }

    subscript(_ j: Int) -> SIMD16<Float> {
        @inline(__always) get { j < Low.channels ? low[j] : high[j - Low.channels] }
    }
}

/// Four channels.
typealias Block4 = BlockPair<Block2, Block2>
/// Six channels: twelve ymm accumulators with AVX2.
typealias Block6 = BlockPair<Block4, Block2>
/// Eight channels: eight zmm accumulators with AVX-512.
typealias Block8 = BlockPair<Block4, Block4>
/// Twelve channels: twelve zmm accumulators with AVX-512.
typealias Block12 = BlockPair<Block6, Block6>

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
