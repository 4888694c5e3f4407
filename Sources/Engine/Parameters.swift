/// What a parameter is for; decides its initialisation and whether weight decay applies.
public enum ParameterRole: Hashable, Sendable {
    /// Convolution weights, He-normal with the given fan-in (`in × k × k`).
    case convolutionWeight(fanIn: Int)
    /// Convolution bias, zero.
    case convolutionBias
    /// Linear weights, uniform ±1/√fanIn as PyTorch initialises them.
    case linearWeight(fanIn: Int)
    /// Linear bias, uniform ±1/√fanIn as PyTorch initialises them.
    case linearBias(fanIn: Int)
    /// Batch-norm scale γ, one.
    case normScale
    /// Batch-norm shift β, zero.
    case normShift
    /// Batch-norm running mean (a buffer, not trained), zero.
    case runningMean
    /// Batch-norm running variance (a buffer, not trained), one.
    case runningVariance

    /// True for biases and batch-norm parameters, which `--no-decay-bn-bias` style options exclude from weight decay.
    public var isBiasOrNorm: Bool {
        switch self {
        case .convolutionBias, .linearBias, .normScale, .normShift: return true
        default: return false
        }
    }
}

/// A named, shaped tensor that a layer owns: a trainable parameter or a persistent buffer.
public struct ParameterDeclaration: Hashable, Sendable {
    /// Stable dotted name, e.g. `block1.layer3.conv.weight`.
    public var name: String
    /// The tensor's shape, outermost first (PyTorch order: conv weights are out × in × k × k).
    public var shape: [Int]
    /// Its role.
    public var role: ParameterRole

    /// Creates a declaration.
    public init(name: String, shape: [Int], role: ParameterRole) {
        self.name = name
        self.shape = shape
        self.role = role
    }

    /// The number of elements.
    public var count: Int { shape.reduce(1, *) }
}

/// Where one declared tensor lives inside an arena.
public struct ParameterSlot: Hashable, Sendable {
    /// What was declared.
    public var declaration: ParameterDeclaration
    /// Offset of the first element in the arena.
    public var offset: Int
    /// Range of the tensor in the arena.
    public var range: Range<Int> { offset..<(offset + declaration.count) }
}

/// One flat allocation holding many tensors, and optionally a gradient of the same layout.
///
/// Every trainable parameter of a network lives in one arena and every gradient in its twin, laid
/// out in the order the backward pass produces them, so the gradient of the last layers is a
/// contiguous prefix that is complete first: an all-reduce can cut the arena into a few large
/// buckets and start on them while backward is still running.
public final class ParameterArena: @unchecked Sendable {
    /// All the tensors' values.
    public let values: FloatBuffer
    /// Their gradients (same layout), or nil for buffers that are not trained.
    public let gradients: FloatBuffer?
    /// Every tensor's place, in arena order.
    public let slots: [ParameterSlot]

    /// Lays out `declarations` in the given order.
    public init(declarations: [ParameterDeclaration], withGradients: Bool) {
        var offset = 0
        var slots: [ParameterSlot] = []
        for d in declarations {
            slots.append(ParameterSlot(declaration: d, offset: offset))
            offset += d.count
        }
        self.slots = slots
        values = FloatBuffer(count: offset)
        gradients = withGradients ? FloatBuffer(count: offset) : nil
    }

    /// Total number of elements.
    public var count: Int { values.count }

    /// The slot named `name`, if any.
    public func slot(named name: String) -> ParameterSlot? {
        slots.first { $0.declaration.name == name }
    }

    /// Sets every tensor to its role's initial value; random draws are a pure function of
    /// (`seed`, tensor name), so the same model and seed give the same weights.
    public func initialize(seed: UInt64) {
        for slot in slots {
            let p = values.pointer + slot.offset
            let n = slot.declaration.count
            let stream = RandomStream.derive(seed, Self.hash(slot.declaration.name))
            switch slot.declaration.role {
            case .convolutionWeight(let fanIn):
                let std = (2 / Float(fanIn)).squareRoot()
                for i in 0..<n { p[i] = std * RandomStream.normal(seed: stream, index: UInt64(i)) }
            case .linearWeight(let fanIn), .linearBias(let fanIn):
                let bound = 1 / Float(fanIn).squareRoot()
                for i in 0..<n { p[i] = bound * (2 * RandomStream.uniform(seed: stream, index: UInt64(i)) - 1) }
            case .convolutionBias, .normShift, .runningMean:
                p.update(repeating: 0, count: n)
            case .normScale, .runningVariance:
                p.update(repeating: 1, count: n)
            }
        }
    }

    /// FNV-1a of a name: a stable key that does not depend on Swift's per-process hash seed.
    static func hash(_ s: String) -> UInt64 {
        FNV1a.hash(s.utf8)
    }
}

extension ParameterArena {
    /// The L2 norm of the whole gradient (accumulated in Double).
    public func gradientNorm() -> Double {
        guard let g = gradients?.pointer else { return 0 }
        var sum = 0.0
        for i in 0..<count { sum += Double(g[i]) * Double(g[i]) }
        return sum.squareRoot()
    }

    /// FNV-1a over the bytes of every value: equal on two ranks exactly when their parameters are
    /// bitwise identical (up to hash collisions).
    public func checksum() -> UInt64 {
        var h = FNV1a.basis
        let p = values.pointer
        for i in 0..<count { h = FNV1a.mix(h, UInt64(p[i].bitPattern)) }
        return h
    }

    /// Multiplies every gradient by `factor` (gradient-norm clipping).
    public func scaleGradients(by factor: Float) {
        guard let g = gradients?.pointer else { return }
        for i in 0..<count { g[i] *= factor }
    }
}
