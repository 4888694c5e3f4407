// This file is compiled twice, like ThreeByThreeTiles.swift: as module KernelsAVX2 and, through
// the symbolic link in Sources/KernelsAVX512, as module KernelsAVX512. What differs per
// instruction set (`GradientLanes`, `channelProductInputChannels`) is in each module's own
// GradientLanes.swift. Only the standard library is used here.

/// Products of two sets of channel rows over a long contiguous dimension, `m[co][ci] = Σ_t
/// g[co][t] · x[ci][t]`: the weight gradient of a 1×1 convolution (`t` over the pixels of a group
/// of samples) and of each Winograd element (`t` over tiles). Register tiles of 4 rows of `g` ×
/// 4 (AVX-512) or 2 (AVX2) rows of `x` accumulate vectors over `t`, reduced horizontally once at
/// the end, so `length` should be long (a thousand or more) for those sums not to matter.
public enum ChannelProducts {
    /// Floats per vector: `length` must be a multiple of it.
    public static let lanes = GradientLanes.scalarCount

    /// Computes (`accumulate` false) or adds (true) `m[co·inChannels + ci] = Σ_{t < length}
    /// gradient[co·gradientStride + t] · input[ci·inputStride + t]` for all `outChannels ×
    /// inChannels`.
    ///
    /// - Parameters:
    ///   - length: a multiple of `lanes`.
    public static func products(gradient: UnsafePointer<Float>, gradientStride: Int, outChannels: Int,
                                input: UnsafePointer<Float>, inputStride: Int, inChannels: Int, length: Int,
                                into m: UnsafeMutablePointer<Float>, accumulate: Bool) {
        precondition(length % lanes == 0, "channel products need a length that is a multiple of \(lanes)")
        let cout = outChannels, cin = inChannels, columns = channelProductInputChannels
        var co = 0
        while co < cout {
            // A last partial tile repeats its last channel; only the real ones are stored.
            let g = (gradient + min(co, cout - 1) * gradientStride, gradient + min(co + 1, cout - 1) * gradientStride,
                     gradient + min(co + 2, cout - 1) * gradientStride, gradient + min(co + 3, cout - 1) * gradientStride)
            var ci = 0
            while ci < cin {
                let sums: (SIMD4<Float>, SIMD4<Float>, SIMD4<Float>, SIMD4<Float>)
                if columns == 4 {
                    sums = fourByFour(g, (input + min(ci, cin - 1) * inputStride, input + min(ci + 1, cin - 1) * inputStride,
                                          input + min(ci + 2, cin - 1) * inputStride,
                                          input + min(ci + 3, cin - 1) * inputStride), length)
                } else {
                    sums = fourByTwo(g, (input + min(ci, cin - 1) * inputStride,
                                         input + min(ci + 1, cin - 1) * inputStride), length)
                }
                // Column c of the sums: input channel ci + c, lane r output channel co + r.
                for c in 0..<min(columns, cin - ci) {
                    let s = c == 0 ? sums.0 : c == 1 ? sums.1 : c == 2 ? sums.2 : sums.3
                    for r in 0..<min(4, cout - co) {
                        let to = m + (co + r) * cin + ci + c
                        to.pointee = accumulate ? to.pointee + s[r] : s[r]
                    }
                }
                ci += columns
            }
            co += 4
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
    static func fourByFour(_ g: Rows4, _ v: Rows4, _ length: Int)
        -> (SIMD4<Float>, SIMD4<Float>, SIMD4<Float>, SIMD4<Float>) {
        var a = FourChannelColumn(), b = FourChannelColumn(), c = FourChannelColumn(), d = FourChannelColumn()
        var t = 0
        while t < length {
            let g0 = load(g.0 + t), g1 = load(g.1 + t), g2 = load(g.2 + t), g3 = load(g.3 + t)
            a.add(load(v.0 + t), g0, g1, g2, g3)
            b.add(load(v.1 + t), g0, g1, g2, g3)
            c.add(load(v.2 + t), g0, g1, g2, g3)
            d.add(load(v.3 + t), g0, g1, g2, g3)
            // Wrapping: `t < length`, an index into the scratch, cannot overflow; the check would
            // sit in the innermost loop.
            t &+= lanes
        }
        return (a.sums, b.sums, c.sums, d.sums)
    }

    /// 4 output × 2 input channels: 8 accumulators (the last two results are zero).
    @inline(__always)
    static func fourByTwo(_ g: Rows4, _ v: (UnsafePointer<Float>, UnsafePointer<Float>), _ length: Int)
        -> (SIMD4<Float>, SIMD4<Float>, SIMD4<Float>, SIMD4<Float>) {
        var a = FourChannelColumn(), b = FourChannelColumn()
        var t = 0
        while t < length {
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
