/// A squeeze-and-excitation unit `y = x · σ(W₂ · relu(W₁ · mean(x) + b₁) + b₂)` per channel
/// (see `SqueezeExcitation`), fused into one layer: parameters `<name>.fc1.weight` (hidden × C),
/// `<name>.fc1.bias`, `<name>.fc2.weight` (C × hidden) and `<name>.fc2.bias`, PyTorch's `Linear`
/// layout and initialisation.
///
/// Forward runs each sample whole (pool, both products, scale) on one worker and keeps the pooled
/// means, hidden activations and gate for backward (`2C + hidden` floats per sample). Backward runs
/// each sample's chain to the input gradient on one worker, leaving the two products' output
/// gradients in the shared scratch, then sums the parameter gradients over the batch with the
/// workers splitting the weight rows, so no partial gradients need joining.
public final class SqueezeExcitationLayer: Layer {
    public let name: String
    public let inputs: [ValueID]
    public let output: ValueID
    public let outputShape: TensorShape
    /// The unit's sizes.
    public let shape: SqueezeExcitation.Shape
    var parametersBase: UnsafeMutablePointer<Float>!
    var gradientsBase: UnsafeMutablePointer<Float>!
    /// Per sample: the means (C), the hidden activations (hidden) and the gate (C).
    var state: FloatBuffer?

    /// Creates the unit over an input of `shape` with a hidden layer of `hidden` features.
    public init(name: String, input: ValueID, output: ValueID, shape: TensorShape, hidden: Int) {
        precondition(hidden >= 1, "\(name): a squeeze-and-excitation unit needs at least one hidden feature")
        self.name = name
        self.inputs = [input]
        self.output = output
        self.outputShape = shape
        self.shape = SqueezeExcitation.Shape(channels: shape.channels, hidden: hidden, planeSize: shape.planeSize)
    }

    public var kind: String { "squeeze-excite \(shape.channels)→\(shape.hidden)→\(shape.channels)" }

    /// The two dense products; the pooling and the scaling are not counted, as batch norm and
    /// pooling are not elsewhere.
    public var macsPerSample: Int { shape.macs }

    /// Floats per sample the layer keeps between forward and backward.
    public var stateElementsPerSample: Int { 2 * shape.channels + shape.hidden }

    /// Per sample, during backward: the gradients of the gate's input, the hidden layer's input and
    /// the means (`2C + hidden` floats).
    public var workspace: WorkspaceRequirement {
        var w = WorkspaceRequirement()
        w.sharedPerSample = 2 * shape.channels + shape.hidden
        return w
    }

    public var parameters: [ParameterDeclaration] {
        let c = shape.channels, h = shape.hidden
        return [ParameterDeclaration(name: name + ".fc1.weight", shape: [h, c], role: .linearWeight(fanIn: c)),
                ParameterDeclaration(name: name + ".fc1.bias", shape: [h], role: .linearBias(fanIn: c)),
                ParameterDeclaration(name: name + ".fc2.weight", shape: [c, h], role: .linearWeight(fanIn: h)),
                ParameterDeclaration(name: name + ".fc2.bias", shape: [c], role: .linearBias(fanIn: h))]
    }

    public func bind(parameters: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>,
                     buffers: UnsafeMutablePointer<Float>, maxBatch: Int) {
        parametersBase = parameters
        gradientsBase = gradients
        state = FloatBuffer(count: maxBatch * stateElementsPerSample)
    }

    /// Offsets of `W₁`, `b₁`, `W₂`, `b₂` from the first parameter (declaration order).
    private var offsets: (w1: Int, b1: Int, w2: Int, b2: Int) {
        let c = shape.channels, h = shape.hidden
        return (0, h * c, h * c + h, 2 * h * c + h)
    }

    public func forward(_ context: ExecutionContext) {
        guard let state = state?.pointer else { return }
        let x = context.view(inputs[0]), y = context.view(output), shape = self.shape
        let p = parametersBase!, o = offsets, per = stateElementsPerSample, c = shape.channels, h = shape.hidden
        context.pool.chunks(context.batch) { samples, _ in
            for n in samples {
                let s = state + n * per
                SqueezeExcitation.forward(x.sample(n), y.sample(n), shape: shape, fc1Weight: p + o.w1, fc1Bias: p + o.b1,
                                          fc2Weight: p + o.w2, fc2Bias: p + o.b2, means: s, hidden: s + c, gate: s + c + h)
            }
        }
    }

    public func backward(_ context: ExecutionContext) {
        guard let state = state?.pointer else { return }
        let x = context.view(inputs[0]), dy = context.gradient(output), dx = context.gradient(inputs[0])
        let accumulate = context.claimGradient(inputs[0])
        let shape = self.shape, batch = context.batch
        let p = parametersBase!, gp = gradientsBase!, o = offsets, per = stateElementsPerSample
        let c = shape.channels, h = shape.hidden
        // Shared scratch, batch × (2C + h): du (the gate's input gradient), da (the hidden
        // layer's), ds (the means').
        let du = context.shared.pointer, da = du + batch * c, ds = da + batch * h
        context.pool.chunks(batch) { samples, _ in
            for n in samples {
                let s = state + n * per
                SqueezeExcitation.backward(x.sample(n), dy.sample(n), dx.sample(n), accumulate: accumulate, shape: shape,
                                           fc1Weight: p + o.w1, fc2Weight: p + o.w2, hidden: s + c, gate: s + c + h,
                                           gateInputGradient: du + n * c, hiddenInputGradient: da + n * h,
                                           meanGradient: ds + n * c)
            }
        }
        // Parameter gradients over the batch: the rows of W₂ (C, from du and the hidden
        // activations) and then of W₁ (h, from da and the means), split over the workers.
        context.pool.chunks(c + h) { rows, _ in
            let second = rows.clamped(to: 0..<c), first = rows.clamped(to: c..<(c + h))
            if !second.isEmpty {
                SqueezeExcitation.denseParameterGradient(state + c, inputStride: per, du, rows: second, batch: batch,
                                                         inFeatures: h, outFeatures: c, weightGradient: gp + o.w2,
                                                         biasGradient: gp + o.b2)
            }
            if !first.isEmpty {
                SqueezeExcitation.denseParameterGradient(state, inputStride: per, da, rows: (first.lowerBound - c)..<(first.upperBound - c),
                                                         batch: batch, inFeatures: c, outFeatures: h, weightGradient: gp + o.w1,
                                                         biasGradient: gp + o.b1)
            }
        }
    }
}
