/// One float32 tensor as a checkpoint stores it: a stable name, a shape, the section it belongs
/// to, and its values in row-major order.
///
/// A value type on purpose: the trainer copies its arenas into these when it takes a snapshot,
/// so a background write never sees weights that the next step is already changing.
public struct NamedTensor: Sendable, Equatable {
    /// Stable, unique name, e.g. `block1.layer3.conv.weight` or `momentum.block1.layer3.conv.weight`.
    public var name: String
    /// Dimensions, outermost first; their product is `values.count` (an empty shape is a scalar).
    public var shape: [Int]
    /// The group the tensor belongs to, chosen by the caller: `parameters`, `buffers`,
    /// `optimizer`, … The file records it and hands it back; it does not interpret it.
    public var section: String
    /// The elements. `==` compares them as numbers (NaN ≠ NaN, −0 = +0); compare
    /// `CheckpointFile.valueHash` for bit-for-bit equality.
    public var values: [Float]

    /// Creates a tensor; `values.count` must equal the product of `shape` when it is encoded.
    public init(name: String, shape: [Int], section: String, values: [Float]) {
        self.name = name
        self.shape = shape
        self.section = section
        self.values = values
    }

    /// The product of `shape`, or nil if a dimension is negative or the product overflows.
    var elementCount: Int? {
        var product = 1
        for d in shape {
            guard d >= 0 else { return nil }
            let (p, overflow) = product.multipliedReportingOverflow(by: d)
            guard !overflow else { return nil }
            product = p
        }
        return product
    }
}
