// This file is compiled twice, like ThreeByThreeTiles.swift: as module KernelsAVX2 and, through
// the symbolic link in Sources/KernelsAVX512, as module KernelsAVX512. It reuses that file's
// accumulator blocks and pixel tiles. Only the standard library is used here.

/// Register tiles for a convolution given as a list of taps: output pixel `(oy, ox)` of output
/// channel `co` is `bias[co] + Σ_ci Σ_t w[co][ci][t] · planes[ci·channelStride + oy·rowStride +
/// ox + taps[t]]`.
///
/// The 3×3 stride-2 convolution runs on this: once its input is split into the four phase planes
/// of even and odd rows and columns, every tap is a stride-1 read at a fixed offset into one of
/// them (`Engine.StridedConvolution`), and each phase of its input gradient is a stride-1
/// correlation with 1, 2 or 4 of the taps. The tiles and their walk are those of
/// `ThreeByThreeTiles`: B output channels × 16 pixels (`channelBlock(outputChannels:)`, one row of
/// 16 above width 8, two rows of 8 up to it), B broadcast FMAs per tap and input vector; only the
/// taps come from a table (`TapTable`) instead of the unrolled 3×3 neighbourhood.
public enum TapListTiles {
    /// Output channels per register tile for `outputChannels` outputs, as in `ThreeByThreeTiles`:
    /// the weights must be packed as `[out / B][in][tap][B]`, a last partial block repeating its
    /// last channel.
    public static func channelBlock(outputChannels: Int) -> Int {
        ThreeByThreeTiles.channelBlock(outputChannels: outputChannels)
    }

    /// Floats read from the start of each input channel for an output of `outHeight × outWidth`,
    /// plus the largest tap offset: the tiles compute whole tiles (16 pixels of a row above width
    /// 8; two rows of 8 up to it), reading past the last row and column, and store only the
    /// pixels inside the output. The values read there only need to be readable.
    public static func readExtent(outHeight: Int, outWidth: Int, rowStride: Int) -> Int {
        if outWidth <= 8 {
            return ((outHeight + 1) / 2 * 2 - 1) * rowStride + 8
        }
        return (outHeight - 1) * rowStride + (outWidth + 15) / 16 * 16
    }

    /// Computes (`accumulate` false) or adds (true) the `outChannels` dense output planes of
    /// `outHeight × outWidth` described at the type.
    ///
    /// - Parameters:
    ///   - planes: `inChannels` input channels, `channelStride` floats apart, each readable at
    ///     `[0, readExtent(…) + max(taps))`.
    ///   - taps: `tapCount` offsets, each a tap's element relative to the output pixel's
    ///     `oy·rowStride + ox`.
    ///   - weights: packed as `[out / B][in][tap][B]` for `channelBlock(outputChannels:)`.
    public static func convolve(
        planes: UnsafePointer<Float>, channelStride: Int, rowStride: Int, taps: UnsafePointer<Int>, tapCount: Int,
        inChannels: Int, outChannels: Int, outHeight: Int, outWidth: Int,
        weights: UnsafePointer<Float>, bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
        accumulate: Bool
    ) {
        let l = TileLayout(inChannels: inChannels, outChannels: outChannels, height: outHeight, width: outWidth,
                           rowStride: rowStride, channelStride: channelStride)
        ThreeByThreeTiles.tiles(TapTable(offsets: taps, count: tapCount), l, planes, weights, bias, output, accumulate)
    }
}

/// Taps from a table: tap `t` at `offsets[t]`.
struct TapTable: TapPattern {
    var offsets: UnsafePointer<Int>
    var count: Int

    @inline(__always)
    func add<Block: AccumulatorBlock, Tile: PixelTile>(
        into a: inout Block, _: Tile.Type, _ p: UnsafePointer<Float>, rowStride: Int, _ w: UnsafePointer<Float>
    ) {
        var t = 0
        while t < count {
            a.add(Tile.load(p + offsets[t], rowStride: rowStride), w + t &* Block.channels)
            // Wrapping: `t < count ≤ 9` and `t · B ≤ 9 · 12`; the checks would sit in the
            // innermost loop.
            t &+= 1
        }
    }
}
