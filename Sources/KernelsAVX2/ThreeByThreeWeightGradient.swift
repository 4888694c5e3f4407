// This file is compiled twice, like ThreeByThreeTiles.swift: as module KernelsAVX2 and, through
// the symbolic link in Sources/KernelsAVX512, as module KernelsAVX512. What differs per
// instruction set (the vector type `GradientLanes`, whether 8-channel tiles run, `foldToEight`)
// is in each module's own GradientLanes.swift. Only the standard library is used here.

/// The weight gradient of a 3×3 convolution as contiguous dot products.
///
/// With the input planes and the output gradient laid out with the same row stride `r` (zeros
/// around, so that a tap's read outside the input gives 0), the gradient of tap `(ky, kx)` is one
/// dot product over a flattened index:
///
///     dW[co][ci][ky][kx] = Σ_i dy[co][i] · x[ci][i + taps[3·ky + kx]]
///
/// so the loop needs no row or edge handling. For stride 1, `taps[3·ky + kx] = ky·r + kx` on one
/// zero-bordered plane; for stride 2 the taps point into the four phase planes of even and odd
/// rows and columns (`Engine.StridedConvolution`). A tile holds 4 (or, with AVX-512, 8) output
/// channels × the 3 taps `kx` of one kernel row as vector accumulators over `i`: per vector step
/// it loads 3 input vectors and one gradient vector per channel and does 3 FMAs per channel; the
/// accumulators are reduced horizontally once, at the end of the row of taps.
/// `Engine.DirectConvolution.weightGradient` prepares the stride-1 layout.
public enum ThreeByThreeWeightGradient {
    /// Floats per vector: `length` must be a multiple of it.
    public static let lanes = GradientLanes.scalarCount

    /// Computes (`accumulate` false) or adds (true) `weightGradient[co][ci][ky][kx] =
    /// Σ_{i < length} outputGradient[co·outputGradientStride + i] ·
    /// inputs[ci·inputStride + i + taps[3·ky + kx]]`, for all `outChannels × inChannels × 3 × 3`
    /// weights (`[out][in][3][3]`, contiguous).
    ///
    /// - Parameters:
    ///   - inputs: `inChannels` arrays; each is read at `[0, length + max(taps))`.
    ///   - outputGradient: `outChannels` arrays, each read at `[0, length)`.
    ///   - taps: the 9 offsets of the taps in a channel's array, row by row.
    ///   - length: a multiple of `lanes`.
    public static func weightGradient(
        inputs: UnsafePointer<Float>, inputStride: Int, inChannels: Int,
        outputGradient: UnsafePointer<Float>, outputGradientStride: Int, outChannels: Int,
        taps: UnsafePointer<Int>, length: Int, weightGradient: UnsafeMutablePointer<Float>, accumulate: Bool
    ) {
        precondition(length % lanes == 0, "the weight gradient's length must be a multiple of \(lanes)")
        let patch = 9 * inChannels, dyStride = outputGradientStride
        // Output-channel blocks outermost: the block's gradient rows (4 or 8 · length floats) stay
        // in L1 while the input planes stream from L2, each once per block.
        var co = 0
        while co < outChannels {
            let d = outputGradient + co * dyStride
            let channels = gradientEightChannelTiles && co + 8 <= outChannels ? 8 : co + 4 <= outChannels ? 4 : 1
            for ci in 0..<inChannels {
                for ky in 0..<3 {
                    let x = inputs + ci * inputStride
                    let x0 = x + taps[3 * ky], x1 = x + taps[3 * ky + 1], x2 = x + taps[3 * ky + 2]
                    let out = weightGradient + co * patch + ci * 9 + ky * 3
                    switch channels {
                    case 8: eightChannels(x0, x1, x2, d, dyStride, length, out, patch, accumulate)
                    case 4: fourChannels(x0, x1, x2, d, dyStride, length, out, patch, accumulate)
                    default: oneChannel(x0, x1, x2, d, length, out, accumulate)
                    }
                }
            }
            co += channels
        }
    }

    /// One kernel row of taps for 8 output channels: 24 accumulators.
    @inline(__always)
    static func eightChannels(_ x0: UnsafePointer<Float>, _ x1: UnsafePointer<Float>, _ x2: UnsafePointer<Float>,
                              _ d: UnsafePointer<Float>, _ dyStride: Int, _ length: Int,
                              _ out: UnsafeMutablePointer<Float>, _ outStride: Int, _ accumulate: Bool) {
        var low = FourChannels(), high = FourChannels()
        let d4 = d + 4 * dyStride
        var i = 0
        while i < length {
            let v0 = load(x0 + i), v1 = load(x1 + i), v2 = load(x2 + i)
            low.add(d + i, dyStride, v0, v1, v2)
            high.add(d4 + i, dyStride, v0, v1, v2)
            // Wrapping add: `i < length`, an array index, cannot overflow; the overflow check
            // would sit in the measured innermost loop.
            i &+= lanes
        }
        low.store(out, outStride, accumulate)
        high.store(out + 4 * outStride, outStride, accumulate)
    }

    /// One kernel row of taps for 4 output channels: 12 accumulators.
    @inline(__always)
    static func fourChannels(_ x0: UnsafePointer<Float>, _ x1: UnsafePointer<Float>, _ x2: UnsafePointer<Float>,
                             _ d: UnsafePointer<Float>, _ dyStride: Int, _ length: Int,
                             _ out: UnsafeMutablePointer<Float>, _ outStride: Int, _ accumulate: Bool) {
        var a = FourChannels()
        var i = 0
        while i < length {
            a.add(d + i, dyStride, load(x0 + i), load(x1 + i), load(x2 + i))
            i &+= lanes  // Wrapping: as in `eightChannels`.
        }
        a.store(out, outStride, accumulate)
    }

    /// One kernel row of taps for 1 output channel (the channels left after the 4- and 8-blocks).
    @inline(__always)
    static func oneChannel(_ x0: UnsafePointer<Float>, _ x1: UnsafePointer<Float>, _ x2: UnsafePointer<Float>,
                           _ d: UnsafePointer<Float>, _ length: Int,
                           _ out: UnsafeMutablePointer<Float>, _ accumulate: Bool) {
        var a = RowOfTaps()
        var i = 0
        while i < length {
            a.add(load(d + i), load(x0 + i), load(x1 + i), load(x2 + i))
            i &+= lanes  // Wrapping: as in `eightChannels`.
        }
        let s = sums(a.k0, a.k1, a.k2, GradientLanes())
        for kx in 0..<3 { out[kx] = accumulate ? out[kx] + s[kx] : s[kx] }
    }

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> GradientLanes {
        UnsafeRawPointer(p).loadUnaligned(as: GradientLanes.self)
    }

    /// The horizontal sums of four vectors, `[Σa, Σb, Σc, Σd]`: each folded to 8 lanes, then
    /// halves of pairs added (three levels of shuffles and adds for all four together).
    @inline(__always)
    static func sums(_ a: GradientLanes, _ b: GradientLanes, _ c: GradientLanes, _ d: GradientLanes) -> SIMD4<Float> {
        let a8 = foldToEight(a), b8 = foldToEight(b), c8 = foldToEight(c), d8 = foldToEight(d)
        let ab = SIMD8(lowHalf: a8.lowHalf, highHalf: b8.lowHalf) + SIMD8(lowHalf: a8.highHalf, highHalf: b8.highHalf)
        let cd = SIMD8(lowHalf: c8.lowHalf, highHalf: d8.lowHalf) + SIMD8(lowHalf: c8.highHalf, highHalf: d8.highHalf)
        let abcd = SIMD8(lowHalf: ab.evenHalf, highHalf: cd.evenHalf) + SIMD8(lowHalf: ab.oddHalf, highHalf: cd.oddHalf)
        return abcd.evenHalf + abcd.oddHalf
    }
}

/// The accumulators of one output channel's three taps `kx = 0, 1, 2` in one kernel row.
struct RowOfTaps {
    var k0 = GradientLanes(), k1 = GradientLanes(), k2 = GradientLanes()

    /// Adds gradient vector `g` times the input vectors under the three taps.
    @inline(__always)
    mutating func add(_ g: GradientLanes, _ x0: GradientLanes, _ x1: GradientLanes, _ x2: GradientLanes) {
        k0 = k0.addingProduct(g, x0)
        k1 = k1.addingProduct(g, x1)
        k2 = k2.addingProduct(g, x2)
    }
}

/// The accumulators of 4 consecutive output channels × 3 taps.
struct FourChannels {
    var c0 = RowOfTaps(), c1 = RowOfTaps(), c2 = RowOfTaps(), c3 = RowOfTaps()

    /// Adds the 4 channels' gradient vectors at `d` (channel stride `dyStride`) times the input
    /// vectors under the three taps.
    @inline(__always)
    mutating func add(_ d: UnsafePointer<Float>, _ dyStride: Int,
                      _ x0: GradientLanes, _ x1: GradientLanes, _ x2: GradientLanes) {
        c0.add(ThreeByThreeWeightGradient.load(d), x0, x1, x2)
        c1.add(ThreeByThreeWeightGradient.load(d + dyStride), x0, x1, x2)
        c2.add(ThreeByThreeWeightGradient.load(d + 2 * dyStride), x0, x1, x2)
        c3.add(ThreeByThreeWeightGradient.load(d + 3 * dyStride), x0, x1, x2)
    }

    /// Stores (or adds) the 12 sums: channel `j`'s tap `kx` at `out[j·outStride + kx]`.
    @inline(__always)
    func store(_ out: UnsafeMutablePointer<Float>, _ outStride: Int, _ accumulate: Bool) {
        let s0 = ThreeByThreeWeightGradient.sums(c0.k0, c1.k0, c2.k0, c3.k0)
        let s1 = ThreeByThreeWeightGradient.sums(c0.k1, c1.k1, c2.k1, c3.k1)
        let s2 = ThreeByThreeWeightGradient.sums(c0.k2, c1.k2, c2.k2, c3.k2)
        for j in 0..<4 {
            let o = out + j * outStride
            if accumulate {
                o[0] += s0[j]; o[1] += s1[j]; o[2] += s2[j]
            } else {
                o[0] = s0[j]; o[1] = s1[j]; o[2] = s2[j]
            }
        }
    }
}
