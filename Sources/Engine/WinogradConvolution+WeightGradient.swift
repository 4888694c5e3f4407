/// The weight gradient of the 3×3, stride-1, padding-1 convolution by Winograd F(2×2, 3×3)
/// (`WinogradWeightGradient` holds the derivation): per call, the transformed input `V` and the
/// transformed output gradient `Ĝ = A dY Aᵀ` of every block of 16 tiles of every sample side by
/// side, one product over all tiles per element, then `dW = Gᵀ ∂U G`.
extension WinogradConvolution {
    /// How many samples one `weightGradient` call should take for geometry `g`: as many as keep
    /// the transformed operands `V` and `Ĝ` (16 floats per tile and channel) within about 1 MiB
    /// (at most 16, at least 1), so that the horizontal sums and the final transforms are paid
    /// once for many tiles while the operands stay in L2.
    static func preferredWeightGradientSamples(_ g: ConvolutionGeometry) -> Int {
        let perSample = elements * (g.inChannels + g.outChannels) * tiling(g).blockCount * 16
        return max(1, min(16, 262_144 / perSample))
    }

    /// Where the weight gradient's operands lie in its scratch for `samples` samples.
    struct WeightGradientLayout {
        /// Tiles side by side: `samples · blockCount · 16`.
        var tiles: Int
        /// Floats of the padded planes (of the input or of `dY`, one sample at a time) and the
        /// transform's read slack, at the start.
        var planes: Int
        /// Where `V` (`[16][in][tiles]`), `Ĝ` (`[16][out][tiles]`) and `∂U` (`[16][out][in]`) start.
        var input: Int, gradient: Int, products: Int, end: Int

        init(_ g: ConvolutionGeometry, samples: Int) {
            tiles = samples * tiling(g).blockCount * 16
            planes = max(DirectConvolution.planesCount(g), DirectConvolution.gradientPlanesCount(g)) + slackCount(g)
            input = planes
            gradient = input + elements * g.inChannels * tiles
            products = gradient + elements * g.outChannels * tiles
            end = products + elements * g.outChannels * g.inChannels
        }
    }

    /// Floats of scratch `weightGradient` needs for `samples` samples per call.
    static func weightGradientScratchCount(_ g: ConvolutionGeometry, samples: Int) -> Int {
        WeightGradientLayout(g, samples: samples).end
    }

    /// Computes (`accumulate` false) or adds (true) the weight gradient of `samples`,
    /// `dW[co][ci][ky][kx] = Σ_n Σ_{y,x} dy[n][co][y][x] · act(x[n])[ci][y + ky − 1][x + kx − 1]`,
    /// and, when `biasGradient` is given, `db[co] = Σ dy[n][co]`: what the direct kernel
    /// computes, with 16 multiplications per 2×2 outputs instead of 36.
    ///
    /// - Parameters:
    ///   - scratch: at least `weightGradientScratchCount(g, samples: samples.count)` floats; overwritten.
    ///   - kernels: the instruction set of the loops (tests force each one).
    static func weightGradient(samples: Range<Int>, input: [TensorView], geometry g: ConvolutionGeometry,
                               activation: InputActivation?, outputGradient: TensorView,
                               weightGradient: UnsafeMutablePointer<Float>, biasGradient: UnsafeMutablePointer<Float>?,
                               accumulate: Bool, scratch: UnsafeMutablePointer<Float>, kernels: KernelSet = .selected) {
        precondition(supports(g), "Winograd convolution needs a 3×3 kernel, stride 1, padding 1")
        precondition(!samples.isEmpty, "the Winograd weight gradient needs at least one sample")
        let l = WeightGradientLayout(g, samples: samples.count)
        let h = g.inHeight, w = g.inWidth, cin = g.inChannels, cout = g.outChannels
        let blocks = tiling(g).blockCount, tiles = l.tiles
        let v = scratch + l.input, gradient = scratch + l.gradient, m = scratch + l.products
        // 1. V of every block of every sample: tile lanes of block b of the k-th sample at
        //    (k · blocks + b) · 16.
        for (k, n) in samples.enumerated() {
            DirectConvolution.padInput(sample: n, input: input, geometry: g, activation: activation, planes: scratch)
            (scratch + DirectConvolution.planesCount(g)).update(repeating: 0, count: slackCount(g))
            for block in 0..<blocks {
                kernels.winogradTransformInput(planes: scratch, inChannels: cin, height: h, width: w, block: block,
                                               into: v + (k * blocks + block) * 16, channelStride: tiles,
                                               elementStride: cin * tiles)
            }
        }
        // 2. Ĝ the same way, zero for tiles outside the map; the bias gradient from dY itself.
        for (k, n) in samples.enumerated() {
            DirectConvolution.padOutputGradient(sample: n, outputGradient: outputGradient, geometry: g, planes: scratch)
            (scratch + DirectConvolution.gradientPlanesCount(g)).update(repeating: 0, count: slackCount(g))
            for block in 0..<blocks {
                kernels.winogradTransformGradient(planes: scratch, channels: cout, height: h, width: w, block: block,
                                                  into: gradient + (k * blocks + block) * 16, channelStride: tiles,
                                                  elementStride: cout * tiles)
            }
        }
        if let biasGradient {
            for co in 0..<cout {
                var s: Float = 0
                for n in samples { s += DirectConvolution.sum(UnsafePointer(outputGradient.plane(n, co)), count: g.outPlane) }
                biasGradient[co] = accumulate ? biasGradient[co] + s : s
            }
        }
        // 3. ∂U = Ĝ · Vᵀ per element, then dW = Gᵀ ∂U G.
        kernels.winogradWeightProducts(gradient: gradient, outChannels: cout, input: v, inChannels: cin, tiles: tiles,
                                       into: m, accumulate: false)
        for co in 0..<cout {
            for ci in 0..<cin {
                inverseTransform(m + co * cin + ci, stride: cout * cin, to: weightGradient + (co * cin + ci) * 9,
                                 accumulate: accumulate)
            }
        }
    }

    /// Writes (or adds) `Gᵀ M G` of the 4×4 `M` (element `e = 4 i + j` at `m[e · stride]`) as a
    /// 3×3 kernel at `to`: the adjoint of `transform`.
    static func inverseTransform(_ m: UnsafePointer<Float>, stride: Int, to: UnsafeMutablePointer<Float>,
                                 accumulate: Bool) {
        // Gᵀ applied to (a, b, c, d): (a + (b + c) / 2, (b − c) / 2, (b + c) / 2 + d).
        @inline(__always) func gt(_ v: SIMD4<Float>) -> SIMD3<Float> {
            SIMD3(v[0] + (v[1] + v[2]) * 0.5, (v[1] - v[2]) * 0.5, (v[1] + v[2]) * 0.5 + v[3])
        }
        @inline(__always) func row(_ i: Int) -> SIMD4<Float> {
            SIMD4(m[(4 * i) * stride], m[(4 * i + 1) * stride], m[(4 * i + 2) * stride], m[(4 * i + 3) * stride])
        }
        // Down the columns j (over i), then along each row.
        let r0 = row(0), r1 = row(1), r2 = row(2), r3 = row(3)
        var columns = (SIMD3<Float>(), SIMD3<Float>(), SIMD3<Float>(), SIMD3<Float>())
        columns.0 = gt(SIMD4(r0[0], r1[0], r2[0], r3[0]))
        columns.1 = gt(SIMD4(r0[1], r1[1], r2[1], r3[1]))
        columns.2 = gt(SIMD4(r0[2], r1[2], r2[2], r3[2]))
        columns.3 = gt(SIMD4(r0[3], r1[3], r2[3], r3[3]))
        for ky in 0..<3 {
            let k = gt(SIMD4(columns.0[ky], columns.1[ky], columns.2[ky], columns.3[ky]))
            for kx in 0..<3 { to[3 * ky + kx] = accumulate ? to[3 * ky + kx] + k[kx] : k[kx] }
        }
    }

}
