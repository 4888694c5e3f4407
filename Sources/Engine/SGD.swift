/// Stochastic gradient descent with (Nesterov) momentum and L2 weight decay, PyTorch's formulation:
/// `g ← g + λp; v ← μv + g; p ← p − lr·(g + μv)` (Nesterov) or `p ← p − lr·v`.
public final class SGD {
    /// Hyper-parameters.
    public struct Configuration: Hashable, Sendable, Codable {
        /// Momentum μ.
        public var momentum: Float = 0.9
        /// Nesterov momentum.
        public var nesterov = true
        /// L2 weight decay λ.
        public var weightDecay: Float = 1e-4
        /// Whether biases and batch-norm parameters are decayed too.
        public var decayBiasAndNorm = true

        /// The papers' defaults: μ = 0.9, Nesterov, λ = 1e-4 on every parameter.
        public init() {}
    }

    /// The hyper-parameters in force.
    public let configuration: Configuration
    /// The momentum buffer, one value per parameter (same layout as the arena).
    public let velocity: FloatBuffer
    let decayRanges: [(Range<Int>, Float)]

    /// Creates the optimizer for the parameters of `arena`.
    public init(arena: ParameterArena, configuration: Configuration = Configuration()) {
        self.configuration = configuration
        velocity = FloatBuffer(count: arena.count)
        decayRanges = arena.slots.map { slot in
            let decays = configuration.decayBiasAndNorm || !slot.declaration.role.isBiasOrNorm
            return (slot.range, decays ? configuration.weightDecay : 0)
        }
    }

    /// Applies one update with learning rate `lr` to `arena` (the arena this optimizer was made
    /// for) from its gradients. Work is split by element, so one large tensor uses every thread.
    public func step(_ arena: ParameterArena, learningRate lr: Float, pool: ComputePool) {
        precondition(arena.count == velocity.count && arena.gradients != nil,
                     "SGD.step: the arena is not the one this optimizer was created for")
        let p = arena.values.pointer, g = arena.gradients!.pointer, v = velocity.pointer
        let mu = configuration.momentum, nesterov = configuration.nesterov
        let ranges = decayRanges
        pool.chunks(arena.count) { chunk, _ in
            for (range, decay) in ranges where range.overlaps(chunk) {
                for i in max(range.lowerBound, chunk.lowerBound)..<min(range.upperBound, chunk.upperBound) {
                    let grad = g[i] + decay * p[i]
                    let vel = mu * v[i] + grad
                    v[i] = vel
                    p[i] -= lr * (nesterov ? grad + mu * vel : vel)
                }
            }
        }
    }
}
