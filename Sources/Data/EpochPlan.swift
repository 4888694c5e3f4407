import Engine

/// The order in which an epoch visits the training set: a permutation of the samples that is a
/// pure function of (seed, epoch), cut into consecutive global batches.
///
/// The permutation is a Fisher–Yates shuffle whose swap `i` draws from counter `i` of the
/// stream `RandomStream.derive(seed, "epoch", epoch)`, so every MPI rank builds the same plan
/// from the same two numbers without communicating, and takes its own share of each batch.
public struct EpochPlan: Sendable {
    /// A permutation of `0..<sampleCount`: position `k` of the epoch visits sample `order[k]`.
    public let order: [Int32]
    /// Samples per global batch.
    public let batchSize: Int
    /// Whether the final partial batch is left out.
    public let dropLast: Bool

    /// Stream tag that keeps the shuffle's draws apart from the augmenter's (which derive from
    /// (seed, epoch, index)) when both are given the same seed.
    static let streamTag: UInt64 = 0x4550_4F43_4850_4C4E  // "EPOCHPLN"

    /// Shuffles `0..<sampleCount` for `epoch` and cuts it into batches of `batchSize`.
    public init(sampleCount: Int, batchSize: Int, dropLast: Bool, seed: UInt64, epoch: Int) {
        precondition(sampleCount >= 0 && sampleCount <= Int(Int32.max), "sample count \(sampleCount) out of range")
        precondition(batchSize > 0, "batch size must be positive (got \(batchSize))")
        self.batchSize = batchSize
        self.dropLast = dropLast
        let stream = RandomStream.derive(seed, EpochPlan.streamTag, UInt64(bitPattern: Int64(epoch)))
        order = [Int32](unsafeUninitializedCapacity: sampleCount) { buffer, initialized in
            for k in 0..<sampleCount { buffer[k] = Int32(k) }
            var i = sampleCount - 1
            while i > 0 {
                let bits = RandomStream.bits(seed: stream, index: UInt64(i))
                let j = Int(bits.multipliedFullWidth(by: UInt64(i + 1)).high)   // uniform in 0...i
                buffer.swapAt(i, j)
                i -= 1
            }
            initialized = sampleCount
        }
    }

    /// The number of batches: ⌊count/batchSize⌋ with `dropLast`, ⌈count/batchSize⌉ without.
    public var batchCount: Int {
        dropLast ? order.count / batchSize : (order.count + batchSize - 1) / batchSize
    }

    /// Sample indices of batch `b` (in `0..<batchCount`); the last one may be short when
    /// `dropLast` is false.
    public func batch(_ b: Int) -> ArraySlice<Int32> {
        precondition(b >= 0 && b < batchCount, "batch \(b) is outside 0..<\(batchCount)")
        let start = b * batchSize
        return order[start..<min(start + batchSize, order.count)]
    }
}
