// This file is compiled twice, like ThreeByThreeWeightGradient.swift: as module KernelsAVX2 and,
// through the symbolic link in Sources/KernelsAVX512, as module KernelsAVX512. The vector type
// (`GradientLanes`) and the tile height (`broadcastGradientInputChannels`) are in each module's
// own GradientLanes.swift.

/// The weight gradient of a 3×3 stride-1 convolution as outer products, with a vector over output
/// channels: no horizontal sums.
///
/// `ThreeByThreeWeightGradient` puts pixels in the vector lanes and so ends every dot product with
/// a horizontal sum; at the lengths one call covers (about 1,100 pixels), those sums took 28 % of
/// its time. Here the output gradient is first laid out pixel-major in blocks of `lanes` output
/// channels (`[block][pixel][lane]`), and the gradient of a block is
///
///     dW[co][ci][ky][kx] += g[p][co] · x[ci][p + rows[ky] + kx]     for every pixel p
///
/// one vector FMA per (input channel, tap) with the input value broadcast from memory. A tile
/// holds `broadcastGradientInputChannels` input channels × the 3 taps `kx` of one kernel row as
/// vector accumulators over the block's output channels; per pixel it loads one aligned gradient
/// vector and does 3 FMAs per input channel.
public enum BroadcastWeightGradient {
    /// Output channels per block: the vector width.
    public static let lanes = GradientLanes.scalarCount

    /// Computes (`accumulate` false) or adds (true) `weightGradient[co][ci][ky][kx] =
    /// Σ_{p < length} gradients[(co / lanes)·blockStride + p·lanes + co % lanes] ·
    /// inputs[ci·inputStride + p + taps[3·ky + kx]]` for every `co < outChannels`, `ci <
    /// inChannels` (`[out][in][3][3]`, contiguous).
    ///
    /// - Parameters:
    ///   - inputs: `inChannels` arrays; each is read at `[0, length + max(taps))`.
    ///   - gradients: `⌈outChannels / lanes⌉` blocks, `blockStride` floats apart (64-byte aligned
    ///     for speed), each holding `length` pixels of `lanes` floats (zero for channels past `outChannels`).
    ///   - taps: the 9 offsets of the taps in a channel's array, row by row, with
    ///     `taps[3·ky + kx] = taps[3·ky] + kx` (a stride-1 kernel).
    public static func weightGradient(
        inputs: UnsafePointer<Float>, inputStride: Int, inChannels: Int,
        gradients: UnsafePointer<Float>, blockStride: Int, outChannels: Int,
        taps: UnsafePointer<Int>, length: Int, weightGradient: UnsafeMutablePointer<Float>, accumulate: Bool
    ) {
        for ky in 0..<3 {
            precondition(taps[3 * ky + 1] == taps[3 * ky] + 1 && taps[3 * ky + 2] == taps[3 * ky] + 2,
                         "the broadcast weight gradient needs the taps of a stride-1 kernel")
        }
        precondition(blockStride >= length * lanes, "a gradient block must hold `length` pixels")
        let patch = 9 * inChannels
        var block = 0
        while block * lanes < outChannels {
            let g = gradients + block * blockStride
            let out = Output(weights: weightGradient + block * lanes * patch, patch: patch,
                             channels: min(lanes, outChannels - block * lanes), accumulate: accumulate)
            // Two blocks at a time where the CPU has the registers: each broadcast input then
            // feeds two FMAs.
            let pair = broadcastGradientBlockPairs && (block + 2) * lanes <= outChannels
            let second = Output(weights: out.weights + lanes * patch, patch: patch, channels: lanes,
                                accumulate: accumulate)
            var ci = 0
            while ci < inChannels {
                let wide = pair ? 4 : broadcastGradientInputChannels
                let tile = ci + wide <= inChannels ? wide : ci + 4 <= inChannels ? 4 : 1
                for ky in 0..<3 {
                    let x = inputs + ci * inputStride + taps[3 * ky]
                    let o = ci * 9 + ky * 3
                    switch (tile, pair) {
                    case (8, _): eightInputs(x, inputStride, g, length, out, o)
                    case (4, true): fourInputsTwoBlocks(x, inputStride, g, blockStride, length, out, second, o)
                    case (4, false): fourInputs(x, inputStride, g, length, out, o)
                    case (_, true): oneInput(x, g, length, out, o); oneInput(x, g + blockStride, length, second, o)
                    default: oneInput(x, g, length, out, o)
                    }
                }
                ci += tile
            }
            block += pair ? 2 : 1
        }
    }

    /// Where one block's sums go: output channel `j`'s weight at `weights[j·patch + offset]`.
    struct Output {
        var weights: UnsafeMutablePointer<Float>
        var patch: Int
        var channels: Int
        var accumulate: Bool

        /// Stores (or adds) the `channels` lanes of `v` at weight `offset` of each channel: one
        /// scalar store per lane, a small cost next to the `length` FMAs behind each vector.
        @inline(__always)
        func store(_ v: GradientLanes, at offset: Int) {
            let p = weights + offset
            for j in 0..<channels {
                p[j * patch] = accumulate ? p[j * patch] + v[j] : v[j]
            }
        }

        /// Stores the three taps of `row` for the input channel whose taps start at `offset`.
        @inline(__always)
        func store(_ row: RowOfTaps, at offset: Int) {
            store(row.k0, at: offset)
            store(row.k1, at: offset + 1)
            store(row.k2, at: offset + 2)
        }
    }

    /// The input value at `p`, broadcast to every lane (compiles to an FMA's broadcast operand).
    @inline(__always)
    static func splat(_ p: UnsafePointer<Float>) -> GradientLanes {
        GradientLanes(repeating: p.pointee)
    }

    /// Adds the gradient vector `g` times input row `x`'s three taps at pixel `p` to `a`.
    @inline(__always)
    static func add(_ a: inout RowOfTaps, _ g: GradientLanes, _ x: UnsafePointer<Float>, _ p: Int) {
        a.add(g, splat(x + p), splat(x + p + 1), splat(x + p + 2))
    }

    /// One kernel row of taps for 8 input channels: 24 accumulators.
    @inline(__always)
    static func eightInputs(_ x: UnsafePointer<Float>, _ xs: Int, _ g: UnsafePointer<Float>, _ length: Int,
                            _ out: Output, _ offset: Int) {
        var a0 = RowOfTaps(), a1 = RowOfTaps(), a2 = RowOfTaps(), a3 = RowOfTaps()
        var a4 = RowOfTaps(), a5 = RowOfTaps(), a6 = RowOfTaps(), a7 = RowOfTaps()
        let x0 = x, x1 = x + xs, x2 = x + 2 * xs, x3 = x + 3 * xs
        let x4 = x + 4 * xs, x5 = x + 5 * xs, x6 = x + 6 * xs, x7 = x + 7 * xs
        var p = 0
        while p < length {
            let v = load(g + p &* lanes)
            add(&a0, v, x0, p); add(&a1, v, x1, p); add(&a2, v, x2, p); add(&a3, v, x3, p)
            add(&a4, v, x4, p); add(&a5, v, x5, p); add(&a6, v, x6, p); add(&a7, v, x7, p)
            // Wrapping add (and multiply above): `p < length`, an array index, cannot overflow;
            // the overflow checks would sit in the measured innermost loop.
            p &+= 1
        }
        out.store(a0, at: offset); out.store(a1, at: offset + 9); out.store(a2, at: offset + 18)
        out.store(a3, at: offset + 27); out.store(a4, at: offset + 36); out.store(a5, at: offset + 45)
        out.store(a6, at: offset + 54); out.store(a7, at: offset + 63)
    }

    /// One kernel row of taps for 4 input channels: 12 accumulators.
    @inline(__always)
    static func fourInputs(_ x: UnsafePointer<Float>, _ xs: Int, _ g: UnsafePointer<Float>, _ length: Int,
                           _ out: Output, _ offset: Int) {
        var a0 = RowOfTaps(), a1 = RowOfTaps(), a2 = RowOfTaps(), a3 = RowOfTaps()
        let x0 = x, x1 = x + xs, x2 = x + 2 * xs, x3 = x + 3 * xs
        var p = 0
        while p < length {
            let v = load(g + p &* lanes)
            add(&a0, v, x0, p); add(&a1, v, x1, p); add(&a2, v, x2, p); add(&a3, v, x3, p)
            p &+= 1  // Wrapping: as in `eightInputs`.
        }
        out.store(a0, at: offset); out.store(a1, at: offset + 9)
        out.store(a2, at: offset + 18); out.store(a3, at: offset + 27)
    }

    /// One kernel row of taps for 4 input channels and two blocks of output channels: 24
    /// accumulators, each broadcast input used twice.
    @inline(__always)
    static func fourInputsTwoBlocks(_ x: UnsafePointer<Float>, _ xs: Int, _ g: UnsafePointer<Float>,
                                    _ blockStride: Int, _ length: Int, _ out: Output, _ second: Output,
                                    _ offset: Int) {
        var a0 = RowOfTaps(), a1 = RowOfTaps(), a2 = RowOfTaps(), a3 = RowOfTaps()
        var b0 = RowOfTaps(), b1 = RowOfTaps(), b2 = RowOfTaps(), b3 = RowOfTaps()
        let x0 = x, x1 = x + xs, x2 = x + 2 * xs, x3 = x + 3 * xs
        let h = g + blockStride
        var p = 0
        while p < length {
            let v = load(g + p &* lanes), w = load(h + p &* lanes)
            add(&a0, &b0, v, w, x0, p); add(&a1, &b1, v, w, x1, p)
            add(&a2, &b2, v, w, x2, p); add(&a3, &b3, v, w, x3, p)
            p &+= 1  // Wrapping: as in `eightInputs`.
        }
        out.store(a0, at: offset); out.store(a1, at: offset + 9)
        out.store(a2, at: offset + 18); out.store(a3, at: offset + 27)
        second.store(b0, at: offset); second.store(b1, at: offset + 9)
        second.store(b2, at: offset + 18); second.store(b3, at: offset + 27)
    }

    /// Adds gradient vectors `v` and `w` (two blocks) times input row `x`'s three taps at pixel
    /// `p` to `a` and `b`.
    @inline(__always)
    static func add(_ a: inout RowOfTaps, _ b: inout RowOfTaps, _ v: GradientLanes, _ w: GradientLanes,
                    _ x: UnsafePointer<Float>, _ p: Int) {
        let t0 = splat(x + p), t1 = splat(x + p + 1), t2 = splat(x + p + 2)
        a.add(v, t0, t1, t2)
        b.add(w, t0, t1, t2)
    }

    /// One kernel row of taps for 1 input channel (the channels left after the wider tiles).
    @inline(__always)
    static func oneInput(_ x: UnsafePointer<Float>, _ g: UnsafePointer<Float>, _ length: Int,
                         _ out: Output, _ offset: Int) {
        var a = RowOfTaps()
        var p = 0
        while p < length {
            add(&a, load(g + p &* lanes), x, p)
            p &+= 1  // Wrapping: as in `eightInputs`.
        }
        out.store(a, at: offset)
    }

    /// The gradient vector at `p` (aligned when the blocks are, which costs nothing either way).
    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> GradientLanes {
        UnsafeRawPointer(p).loadUnaligned(as: GradientLanes.self)
    }
}
