/// Stochastic gradient descent with (Nesterov) momentum and L2 weight decay, PyTorch's formulation:
/// `g ← g + λp; v ← μv + g; p ← p − lr·(g + μv)` (Nesterov) or `p ← p − lr·v`; optionally with
/// LARS' layer-wise trust ratio for very large batches.
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
        /// LARS' trust coefficient η (`--optimizer lars`; You, Gitman and Ginsburg 2017): each
        /// weight tensor's decayed gradient is scaled by η‖w‖ / (‖∇w‖ + λ‖w‖) before the momentum,
        /// so every layer moves by about the same fraction of its norm whatever the batch size.
        /// Biases and batch-norm parameters are not adapted (the usual exclusion). Nil for plain
        /// SGD (and in files written before LARS existed).
        public var larsTrust: Float?

        /// The papers' defaults: μ = 0.9, Nesterov, λ = 1e-4 on every parameter, no LARS.
        public init() {}
    }

    /// The hyper-parameters in force.
    public let configuration: Configuration
    /// The momentum buffer, one value per parameter (same layout as the arena).
    public let velocity: FloatBuffer
    /// Per tensor of the arena: its range, its weight decay, and whether LARS adapts it.
    let tensors: [(range: Range<Int>, decay: Float, adapted: Bool)]
    /// Per tensor, the factor its decayed gradient is multiplied by this step (1 without LARS).
    let trust: UnsafeMutablePointer<Float>

    /// Creates the optimizer for the parameters of `arena`.
    public init(arena: ParameterArena, configuration: Configuration = Configuration()) {
        self.configuration = configuration
        velocity = FloatBuffer(count: arena.count)
        tensors = arena.slots.map { slot in
            let decays = configuration.decayBiasAndNorm || !slot.declaration.role.isBiasOrNorm
            return (slot.range, decays ? configuration.weightDecay : 0,
                    configuration.larsTrust != nil && !slot.declaration.role.isBiasOrNorm)
        }
        trust = .allocate(capacity: max(1, tensors.count))
        trust.initialize(repeating: 1, count: max(1, tensors.count))
    }

    deinit { trust.deallocate() }

    /// Applies one update with learning rate `lr` to `arena` (the arena this optimizer was made
    /// for) from its gradients. Work is split by element, so one large tensor uses every thread.
    public func step(_ arena: ParameterArena, learningRate lr: Float, pool: ComputePool) {
        precondition(arena.count == velocity.count && arena.gradients != nil,
                     "SGD.step: the arena is not the one this optimizer was created for")
        let p = arena.values.pointer, g = arena.gradients!.pointer, v = velocity.pointer
        let mu = configuration.momentum, nesterov = configuration.nesterov
        if let eta = configuration.larsTrust { computeTrust(eta: eta, values: p, gradients: g, pool: pool) }
        let tensors = self.tensors, trust = self.trust
        pool.chunks(arena.count) { chunk, _ in
            for (t, tensor) in tensors.enumerated() where tensor.range.overlaps(chunk) {
                let decay = tensor.decay, scale = trust[t]
                for i in max(tensor.range.lowerBound, chunk.lowerBound)..<min(tensor.range.upperBound, chunk.upperBound) {
                    let grad = (g[i] + decay * p[i]) * scale
                    let vel = mu * v[i] + grad
                    v[i] = vel
                    p[i] -= lr * (nesterov ? grad + mu * vel : vel)
                }
            }
        }
    }

    /// LARS: each adapted tensor's trust ratio η‖w‖ / (‖∇w‖ + λ‖w‖) from this step's weights and
    /// gradients (1 where either norm is zero, as at a zero-initialised tensor); the tensors are
    /// shared among the threads.
    func computeTrust(eta: Float, values p: UnsafeMutablePointer<Float>, gradients g: UnsafeMutablePointer<Float>,
                      pool: ComputePool) {
        let tensors = self.tensors, trust = self.trust
        pool.chunks(tensors.count) { chunk, _ in
            for t in chunk {
                let tensor = tensors[t]
                guard tensor.adapted else { trust[t] = 1; continue }
                var weights = 0.0, gradients = 0.0
                for i in tensor.range {
                    weights += Double(p[i]) * Double(p[i])
                    gradients += Double(g[i]) * Double(g[i])
                }
                let w = weights.squareRoot(), d = gradients.squareRoot()
                trust[t] = w > 0 && d > 0 ? Float(Double(eta) * w / (d + Double(tensor.decay) * w)) : 1
            }
        }
    }
}
