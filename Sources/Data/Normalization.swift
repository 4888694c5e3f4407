/// Per-channel normalisation constants, in pixel/255 units, as the reference notebooks compute
/// them: the mean and the population standard deviation of each channel over every pixel of the
/// whole training set. A network input is `(p/255 − mean[c]) / std[c]`.
///
/// Computed from the training split only, and stored with a run (it is `Codable`) so that
/// evaluation and resumed runs normalise exactly as training did.
public struct Normalization: Codable, Hashable, Sendable {
    /// Mean of each channel (R, G, B), in [0, 1].
    public var mean: [Float]
    /// Population standard deviation of each channel (R, G, B), in pixel/255 units.
    public var std: [Float]

    /// Creates constants from three means and three standard deviations.
    public init(mean: [Float], std: [Float]) {
        precondition(mean.count == CIFARImage.channels && std.count == CIFARImage.channels,
                     "Normalization needs \(CIFARImage.channels) means and standard deviations, got \(mean.count) and \(std.count)")
        self.mean = mean
        self.std = std
    }

    /// The mean and population standard deviation of each channel over every pixel of `set`.
    ///
    /// The sums of p and p² are accumulated exactly in integers (per image in 32 bits, across
    /// images in 64 bits), so they do not depend on the order of summation; only the moments
    /// E[p] and E[p²] − E[p]² are then taken in `Double` (relative error about 1e-12).
    public static func compute(from set: ImageSet) -> Normalization {
        precondition(set.count > 0, "Normalization.compute needs at least one image")
        let plane = CIFARImage.width * CIFARImage.height
        var sums = [UInt64](repeating: 0, count: CIFARImage.channels)
        var squares = [UInt64](repeating: 0, count: CIFARImage.channels)
        set.pixels.withUnsafeBufferPointer { pixels in
            for i in 0..<set.count {
                for c in 0..<CIFARImage.channels {
                    let p = pixels.baseAddress! + i * CIFARImage.imageBytes + c * plane
                    // 1024 × 255² < 2³², so one plane's sums fit in 32 bits.
                    var s: UInt32 = 0, q: UInt32 = 0
                    for k in 0..<plane {
                        let v = UInt32(p[k])
                        s &+= v
                        q &+= v &* v
                    }
                    sums[c] &+= UInt64(s)
                    squares[c] &+= UInt64(q)
                }
            }
        }
        let n = Double(set.count * plane)
        var mean = [Float](), std = [Float]()
        for c in 0..<CIFARImage.channels {
            let m = Double(sums[c]) / n
            let variance = max(0, Double(squares[c]) / n - m * m)
            mean.append(Float(m / 255))
            std.append(Float(variance.squareRoot() / 255))
        }
        return Normalization(mean: mean, std: std)
    }
}
