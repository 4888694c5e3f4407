// Compiled twice, like ThreeByThreeTiles.swift: here as module KernelsAVX2 and, through the
// symbolic link in Sources/KernelsAVX512, as module KernelsAVX512.

/// The register-tiled loop of the 1×1, stride-1 convolution: `ThreeByThreeTiles`'s accumulator
/// blocks and pixel tiles with a single tap, over input planes read as flat rows of pixels.
///
/// A tile is B output channels × 16 consecutive pixels of the flattened plane (the block as
/// `ThreeByThreeTiles.channelBlock(outputChannels:)` picks it); for each input channel it loads
/// one 16-pixel vector and does B broadcast FMAs into it.
public enum PointwiseTiles {
    /// Computes (`accumulate` false) or adds (true) `output[co][i] = bias[co] + Σ_ci w[co][ci] ·
    /// plane[ci][i]` for the `pixels` pixels of every output plane.
    ///
    /// - Parameters:
    ///   - planes: `inChannels` planes, `planeStride` floats apart; the 16 floats from the last
    ///     full multiple of 16 below `pixels` must be readable in each (the lanes past `pixels`
    ///     are computed and not stored).
    ///   - weights: `[out / B][in][B]`, a last partial block repeating its last channel.
    public static func convolve(
        planes: UnsafePointer<Float>, planeStride: Int, inChannels: Int, outChannels: Int, pixels: Int,
        weights: UnsafePointer<Float>, bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
        accumulate: Bool
    ) {
        switch ThreeByThreeTiles.channelBlock(outputChannels: outChannels) {
        case 12: tiles(Block12.self, planes, planeStride, inChannels, outChannels, pixels, weights, bias, output, accumulate)
        case 8: tiles(Block8.self, planes, planeStride, inChannels, outChannels, pixels, weights, bias, output, accumulate)
        default: tiles(Block6.self, planes, planeStride, inChannels, outChannels, pixels, weights, bias, output, accumulate)
        }
    }

    /// Output channel blocks outermost (one block's B·Cin weights stay in L1), then 16-pixel tiles.
    @inline(__always)
    static func tiles<Block: AccumulatorBlock>(
        _: Block.Type, _ planes: UnsafePointer<Float>, _ planeStride: Int, _ cin: Int, _ cout: Int, _ pixels: Int,
        _ weight: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>,
        _ accumulate: Bool
    ) {
        let b = Block.channels
        var co = 0
        while co < cout {
            let w = weight + co * cin  // this block's packed weights, [in][B]
            let channels = min(b, cout - co)
            var i = 0
            while i < pixels {
                var a = Block(bias: bias, first: co, last: cout - 1)
                var p = planes + i
                var wp = w
                for _ in 0..<cin {
                    a.add(RowTile.load(p, rowStride: 0), wp)
                    p += planeStride
                    wp += b
                }
                let base = y + co * pixels + i
                let at = (x: i, y: 0, width: pixels, height: 1, accumulate: accumulate)
                for j in 0..<channels { RowTile.store(a[j], base + j * pixels, at) }
                i += 16
            }
            co += b
        }
    }
}
