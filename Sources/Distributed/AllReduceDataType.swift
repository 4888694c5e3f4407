/// The number format gradients travel in between ranks (`--allreduce-dtype`).
///
/// `bf16` halves the bytes of every gradient all-reduce: each bucket is rounded to bfloat16, the
/// ranks' values are added pairwise in float32 with each partial sum rounded back to bfloat16,
/// and the result is widened again before the optimizer step. The optimizer, the weights and
/// everything else stay float32. A single process rounds its gradient through bfloat16 the same
/// way, so that it remains the reference a distributed run is compared with.
public enum AllReduceDataType: String, Codable, CaseIterable, Hashable, Sendable {
    /// Gradients exchanged as they are computed (the default).
    case fp32
    /// Gradients exchanged as bfloat16 (`BFloat16`), half the bytes, about 3 significant digits.
    case bf16

    /// Bytes one gradient value takes on the wire.
    public var bytesPerValue: Int {
        switch self {
        case .fp32: return MemoryLayout<Float>.size
        case .bf16: return MemoryLayout<UInt16>.size
        }
    }
}
