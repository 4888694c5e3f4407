import Foundation

/// Batch normalisation over the channels of a list of input segments, with optional ReLU.
///
/// Training mode normalises with the batch's per-channel mean and biased variance and moves the
/// running statistics by `momentum` toward the batch mean and the unbiased variance, as PyTorch
/// does. Statistics are formed from per-channel sums (Σx, Σx², count) so that a distributed run
/// can add them across ranks before `finalizeTraining`; the backward pass likewise reduces
/// Σdz and Σdz·x̂ before `inputGradient`.
public enum BatchNorm {
    /// Added to the variance before the square root.
    public static let epsilon: Float = 1e-5
    /// Weight of the new batch statistics in the running averages.
    public static let momentum: Float = 0.1

    /// Calls `body(view, localChannel, globalChannel)` for every global channel in `range` of the
    /// concatenation of `segments`.
    @inline(__always)
    static func forEachChannel(_ segments: [TensorView], _ range: Range<Int>,
                               _ body: (TensorView, Int, Int) -> Void) {
        var first = 0
        for view in segments {
            let count = view.shape.channels
            let lo = max(range.lowerBound, first), hi = min(range.upperBound, first + count)
            if lo < hi {
                for global in lo..<hi { body(view, global - first, global) }
            }
            first += count
        }
    }

    /// The total channel count of a segment list.
    public static func channelCount(_ segments: [TensorView]) -> Int {
        segments.reduce(0) { $0 + $1.shape.channels }
    }

    // MARK: Forward

    /// Writes Σ(x − K) to `sums[2c]` and Σ(x − K)² to `sums[2c + 1]` for every channel over
    /// `batch` samples, where `K = shift[c]` (the running mean: close to the batch mean, so the
    /// variance does not cancel catastrophically, and the same on every rank).
    public static func statisticSums(of input: [TensorView], batch: Int, shift: UnsafePointer<Float>,
                                     into sums: UnsafeMutablePointer<Double>, pool: ComputePool) {
        let channels = channelCount(input)
        pool.chunks(channels) { range, _ in
            forEachChannel(input, range) { view, c, gc in
                var s = 0.0, q = 0.0
                let plane = view.shape.planeSize
                let k = shift[gc]
                let k8 = Float8(repeating: k)
                for n in 0..<batch {
                    let p = UnsafePointer(view.plane(n, c))
                    var s8 = Float8(), q8 = Float8()
                    var i = 0
                    while i + 8 <= plane {
                        let x = p.load8(i) - k8
                        s8 += x
                        q8 += x * x
                        i += 8
                    }
                    var fs = s8.sum(), fq = q8.sum()
                    while i < plane { let x = p[i] - k; fs += x; fq += x * x; i += 1 }
                    s += Double(fs); q += Double(fq)
                }
                sums[2 * gc] = s
                sums[2 * gc + 1] = q
            }
        }
    }

    /// Turns statistic sums over `count` values per channel (shifted by the running mean, see
    /// `statisticSums`) into the batch mean, `1/σ`, and the fused `scale`/`shift`, and updates the
    /// running mean and unbiased running variance.
    public static func finalizeTraining(
        sums: UnsafePointer<Double>, count: Int, channels: Int,
        gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
        mean: UnsafeMutablePointer<Float>, invStd: UnsafeMutablePointer<Float>,
        scale: UnsafeMutablePointer<Float>, shift: UnsafeMutablePointer<Float>,
        runningMean: UnsafeMutablePointer<Float>, runningVariance: UnsafeMutablePointer<Float>
    ) {
        let m = Double(count)
        for c in 0..<channels {
            let d = sums[2 * c] / m
            let mu = Double(runningMean[c]) + d
            let variance = max(0, sums[2 * c + 1] / m - d * d)
            let inv = Float(1 / (variance + Double(epsilon)).squareRoot())
            mean[c] = Float(mu)
            invStd[c] = inv
            scale[c] = gamma[c] * inv
            shift[c] = beta[c] - Float(mu) * gamma[c] * inv
            let unbiased = count > 1 ? variance * m / (m - 1) : variance
            runningMean[c] = (1 - momentum) * runningMean[c] + momentum * Float(mu)
            runningVariance[c] = (1 - momentum) * runningVariance[c] + momentum * Float(unbiased)
        }
    }

    /// The evaluation-mode transform from running statistics.
    public static func inferenceTransform(
        channels: Int, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
        runningMean: UnsafePointer<Float>, runningVariance: UnsafePointer<Float>,
        scale: UnsafeMutablePointer<Float>, shift: UnsafeMutablePointer<Float>
    ) {
        for c in 0..<channels {
            let inv = 1 / (runningVariance[c] + epsilon).squareRoot()
            scale[c] = gamma[c] * inv
            shift[c] = beta[c] - runningMean[c] * gamma[c] * inv
        }
    }

    /// `output = relu?(scale · x + shift)` channel by channel; `output` has the concatenated channels.
    public static func apply(input: [TensorView], batch: Int,
                             scale: UnsafePointer<Float>, shift: UnsafePointer<Float>, relu: Bool,
                             output: TensorView, pool: ComputePool) {
        pool.chunks(channelCount(input)) { range, _ in
            forEachChannel(input, range) { view, c, gc in
                let a = scale[gc], b = shift[gc]
                let a8 = Float8(repeating: a), b8 = Float8(repeating: b)
                let plane = view.shape.planeSize
                for n in 0..<batch {
                    let x = view.plane(n, c), y = output.plane(n, gc)
                    var i = 0
                    if relu {
                        while i + 8 <= plane { y.store8(rectify(x.load8(i) * a8 + b8), i); i += 8 }
                        while i < plane { y[i] = max(x[i] * a + b, 0); i += 1 }
                    } else {
                        while i + 8 <= plane { y.store8(x.load8(i) * a8 + b8, i); i += 8 }
                        while i < plane { y[i] = x[i] * a + b; i += 1 }
                    }
                }
            }
        }
    }

    // MARK: Backward

    /// Writes Σdz to `sums[2c]` and Σdz·x̂ to `sums[2c + 1]`, where `dz` is the gradient of the
    /// normalised (and, with `relu`, rectified) output; ReLU's mask is recomputed from `x`.
    public static func gradientSums(
        input: [TensorView], outputGradient dz: TensorView, batch: Int,
        mean: UnsafePointer<Float>, invStd: UnsafePointer<Float>,
        scale: UnsafePointer<Float>, shift: UnsafePointer<Float>, relu: Bool,
        into sums: UnsafeMutablePointer<Double>, pool: ComputePool
    ) {
        pool.chunks(channelCount(input)) { range, _ in
            forEachChannel(input, range) { view, c, gc in
                let a = scale[gc], b = shift[gc], mu = mean[gc], inv = invStd[gc]
                let a8 = Float8(repeating: a), b8 = Float8(repeating: b), mu8 = Float8(repeating: mu)
                let zero = Float8()
                let plane = view.shape.planeSize
                var s1 = 0.0, s2 = 0.0
                for n in 0..<batch {
                    let x = view.plane(n, c), d = dz.plane(n, gc)
                    var g1 = Float8(), g2 = Float8()
                    var i = 0
                    while i + 8 <= plane {
                        let xv = x.load8(i)
                        var g = d.load8(i)
                        if relu { g.replace(with: zero, where: xv * a8 + b8 .<= zero) }
                        g1 += g
                        g2 += g * (xv - mu8)
                        i += 8
                    }
                    var f1 = g1.sum(), f2 = g2.sum()
                    while i < plane {
                        let g = (!relu || x[i] * a + b > 0) ? d[i] : 0
                        f1 += g
                        f2 += g * (x[i] - mu)
                        i += 1
                    }
                    s1 += Double(f1); s2 += Double(f2) * Double(inv)
                }
                sums[2 * gc] = s1
                sums[2 * gc + 1] = s2
            }
        }
    }

    /// Adds `dβ = Σdz` and `dγ = Σdz·x̂` (from `gradientSums`) to the parameter gradients.
    ///
    /// In a synchronised run this takes the rank's own sums, before they are added across ranks:
    /// the parameter gradients are summed with the rest of the gradient afterwards.
    public static func parameterGradients(sums: UnsafePointer<Double>, channels: Int,
                                          gammaGradient: UnsafeMutablePointer<Float>,
                                          betaGradient: UnsafeMutablePointer<Float>) {
        for c in 0..<channels {
            betaGradient[c] += Float(sums[2 * c])
            gammaGradient[c] += Float(sums[2 * c + 1])
        }
    }

    /// Channel `c`'s `dx = γ/σ · (dz − Σdz/m − x̂ · Σdz·x̂/m)` written as `scale[c]·dz + c1·x + c0`,
    /// from `gradientSums`' sums over `count` values: one FMA pair per element in the passes that
    /// apply it (`inputGradient`, `NormalizedResidual.inputGradient`).
    @inline(__always)
    static func inputGradientCoefficients(_ c: Int, count: Int, sums: UnsafePointer<Double>,
                                          mean: UnsafePointer<Float>, invStd: UnsafePointer<Float>,
                                          scale: UnsafePointer<Float>) -> (c1: Float, c0: Float) {
        let a = scale[c], mu = mean[c], inv = invStd[c]
        let k1 = Float(sums[2 * c] / Double(count))
        let k2 = Float(sums[2 * c + 1] / Double(count))
        // dx = a·(g − k1 − (x − μ)·inv·k2) = a·g + c1·x + c0
        return (-a * inv * k2, -a * k1 + a * inv * k2 * mu)
    }

    /// Writes (`accumulate[j]` false) or adds `dx = γ/σ · (dz − Σdz/m − x̂ · Σdz·x̂/m)` into
    /// `inputGradient` (one view per segment, `j`), where the sums (over `count` values per
    /// channel) come from `gradientSums`.
    public static func inputGradient(
        input: [TensorView], inputGradient: [TensorView], accumulate: [Bool],
        outputGradient dz: TensorView, batch: Int, count: Int,
        sums: UnsafePointer<Double>,
        mean: UnsafePointer<Float>, invStd: UnsafePointer<Float>,
        scale: UnsafePointer<Float>, shift: UnsafePointer<Float>, relu: Bool,
        pool: ComputePool
    ) {
        let channels = channelCount(input)
        pool.chunks(channels) { range, _ in
            var targetStart = 0
            var targetIndex = 0
            forEachChannel(input, range) { view, c, gc in
                while gc >= targetStart + inputGradient[targetIndex].shape.channels {
                    targetStart += inputGradient[targetIndex].shape.channels
                    targetIndex += 1
                }
                let target = inputGradient[targetIndex], accumulate = accumulate[targetIndex]
                let a = scale[gc], b = shift[gc]
                let (c1, c0) = inputGradientCoefficients(gc, count: count, sums: sums, mean: mean, invStd: invStd,
                                                         scale: scale)
                let a8 = Float8(repeating: a), b8 = Float8(repeating: b)
                let c18 = Float8(repeating: c1), c08 = Float8(repeating: c0), zero = Float8()
                let plane = view.shape.planeSize
                for n in 0..<batch {
                    let x = view.plane(n, c), d = dz.plane(n, gc)
                    let dx = target.plane(n, gc - targetStart)
                    var i = 0
                    while i + 8 <= plane {
                        let xv = x.load8(i)
                        var g = d.load8(i)
                        if relu { g.replace(with: zero, where: xv * a8 + b8 .<= zero) }
                        let v = a8 * g + c18 * xv + c08
                        dx.store8(accumulate ? dx.load8(i) + v : v, i)
                        i += 8
                    }
                    while i < plane {
                        let g = (!relu || x[i] * a + b > 0) ? d[i] : 0
                        let v = a * g + c1 * x[i] + c0
                        dx[i] = accumulate ? dx[i] + v : v
                        i += 1
                    }
                }
            }
        }
    }
}
