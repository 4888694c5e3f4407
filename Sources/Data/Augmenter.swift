import Engine

/// Produces a sample's network input: pixels → (augment) → normalise → `Float` CHW.
///
/// **Order.** A training view is the image *shifted* (Keras, edge or black fill), then
/// *cropped* (a 32×32 window of the shifted image zero-padded by `cropPadding`), then *flipped*
/// left–right. The three are composed into one source coordinate per output row and column,
/// and each output value is read straight from the `UInt8` pixels through a per-channel table of
/// the 256 normalised values: one pass over the 3×32×32 output, no intermediate image, no
/// allocation. Pixels brought in by padding or a zero-filled shift are black (pixel 0), which
/// normalises to `−mean[c]/std[c]`.
///
/// **Randomness.** Every decision is a pure function of (seed, epoch, sample index): the sample's
/// seed is `RandomStream.derive(seed, epoch, index)`, and the crop, flip and shift each draw from
/// their own stream derived from it. Nothing is stateful, so any thread or MPI rank renders any
/// sample identically, in any order, and switching one kind off does not change another's draws.
public struct Augmenter: Sendable {
    /// The augmentations in force.
    public let options: AugmentationOptions
    /// The normalisation constants in force.
    public let normalization: Normalization
    /// The seed all draws derive from.
    public let seed: UInt64
    /// `channels × 256` normalised values: `table[c * 256 + p] = (p/255 − mean[c]) / std[c]`.
    let table: [Float]

    /// Stream tags of the three kinds of decision.
    static let cropStream: UInt64 = 1, flipStream: UInt64 = 2, shiftStream: UInt64 = 3

    /// Creates an augmenter; `normalization.std` must be positive and the options' padding and
    /// shift fraction non-negative.
    public init(options: AugmentationOptions, normalization: Normalization, seed: UInt64) {
        precondition(options.cropPadding >= 0, "crop padding must not be negative (got \(options.cropPadding))")
        precondition(options.shiftFraction >= 0, "shift fraction must not be negative (got \(options.shiftFraction))")
        precondition(normalization.std.allSatisfy { $0 > 0 },
                     "normalisation standard deviations must be positive (got \(normalization.std))")
        self.options = options
        self.normalization = normalization
        self.seed = seed
        var table = [Float](repeating: 0, count: CIFARImage.channels * 256)
        for c in 0..<CIFARImage.channels {
            for p in 0..<256 {
                table[c * 256 + p] = (Float(p) / 255 - normalization.mean[c]) / normalization.std[c]
            }
        }
        self.table = table
    }

    /// Training view of sample `index` (an index into `set`) in `epoch`, written as 3×32×32
    /// floats (CHW) to `output`.
    public func render(_ set: ImageSet, index: Int, epoch: Int, into output: UnsafeMutablePointer<Float>) {
        apply(choice(index: index, epoch: epoch), set, index: index, into: output)
    }

    /// Evaluation view of sample `index`: no augmentation, just normalisation.
    public func renderPlain(_ set: ImageSet, index: Int, into output: UnsafeMutablePointer<Float>) {
        precondition(index >= 0 && index < set.count, "sample \(index) is outside the set of \(set.count)")
        let plane = CIFARImage.width * CIFARImage.height
        set.pixels.withUnsafeBufferPointer { pixels in
            table.withUnsafeBufferPointer { table in
                let source = pixels.baseAddress! + index * CIFARImage.imageBytes
                for c in 0..<CIFARImage.channels {
                    let lut = table.baseAddress! + c * 256
                    let src = source + c * plane, dst = output + c * plane
                    for k in 0..<plane { dst[k] = lut[Int(src[k])] }
                }
            }
        }
    }

    /// The random decisions for sample `index` in `epoch`. Kinds that are off get the identity.
    func choice(index: Int, epoch: Int) -> AugmentationChoice {
        let sample = RandomStream.derive(seed, UInt64(bitPattern: Int64(epoch)), UInt64(bitPattern: Int64(index)))
        var choice = AugmentationChoice.identity
        if options.crop && options.cropPadding > 0 {
            let stream = RandomStream.derive(sample, Augmenter.cropStream)
            let p = options.cropPadding
            choice.cropY = Augmenter.draw(stream, 0, in: -p...p)
            choice.cropX = Augmenter.draw(stream, 1, in: -p...p)
        }
        if options.flip {
            let stream = RandomStream.derive(sample, Augmenter.flipStream)
            choice.flip = RandomStream.bits(seed: stream, index: 0) >> 63 == 1
        }
        if options.shift {
            let stream = RandomStream.derive(sample, Augmenter.shiftStream)
            let sy = options.maxShift(size: CIFARImage.height), sx = options.maxShift(size: CIFARImage.width)
            choice.shiftY = Augmenter.draw(stream, 0, in: -sy...sy)
            choice.shiftX = Augmenter.draw(stream, 1, in: -sx...sx)
        }
        return choice
    }

    /// An integer uniform in `range` from draw `index` of `stream` (the high word of a 64×64-bit
    /// product, so the bias is below 2⁻⁵⁸ for these tiny ranges).
    @inline(__always)
    static func draw(_ stream: UInt64, _ index: UInt64, in range: ClosedRange<Int>) -> Int {
        let span = UInt64(range.upperBound - range.lowerBound + 1)
        let bits = RandomStream.bits(seed: stream, index: index)
        return range.lowerBound + Int(bits.multipliedFullWidth(by: span).high)
    }

    /// Renders sample `index` with the explicit decisions `choice` (shift, then crop, then flip).
    func apply(_ choice: AugmentationChoice, _ set: ImageSet, index: Int, into output: UnsafeMutablePointer<Float>) {
        precondition(index >= 0 && index < set.count, "sample \(index) is outside the set of \(set.count)")
        let width = CIFARImage.width, height = CIFARImage.height, plane = width * height
        let nearest = options.shiftFill == .nearest
        /// The source coordinate that output coordinate `o` reads along an axis, or −1 for black.
        @inline(__always)
        func source(_ o: Int, crop: Int, shift: Int, size: Int) -> Int {
            let shifted = o + crop                       // coordinate in the shifted image
            guard shifted >= 0 && shifted < size else { return -1 }   // crop padding
            let s = shifted - shift                      // coordinate in the original image
            if s >= 0 && s < size { return s }
            return nearest ? min(max(s, 0), size - 1) : -1
        }
        withUnsafeTemporaryAllocation(of: Int.self, capacity: width + height) { map in
            let columns = map.baseAddress!, rows = columns + width
            for x in 0..<width {
                let unflipped = choice.flip ? width - 1 - x : x
                columns[x] = source(unflipped, crop: choice.cropX, shift: choice.shiftX, size: width)
            }
            for y in 0..<height {
                let s = source(y, crop: choice.cropY, shift: choice.shiftY, size: height)
                rows[y] = s < 0 ? -1 : s * width
            }
            set.pixels.withUnsafeBufferPointer { pixels in
                table.withUnsafeBufferPointer { table in
                    let image = pixels.baseAddress! + index * CIFARImage.imageBytes
                    for c in 0..<CIFARImage.channels {
                        let lut = table.baseAddress! + c * 256
                        let black = lut[0]
                        let src = image + c * plane
                        for y in 0..<height {
                            let dst = output + c * plane + y * width
                            let row = rows[y]
                            if row < 0 {
                                dst.update(repeating: black, count: width)
                                continue
                            }
                            let line = src + row
                            for x in 0..<width {
                                let s = columns[x]
                                dst[x] = s < 0 ? black : lut[Int(line[s])]
                            }
                        }
                    }
                }
            }
        }
    }
}
