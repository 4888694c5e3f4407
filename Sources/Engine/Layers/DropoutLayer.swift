/// Inverted dropout in training mode, identity in evaluation mode. The mask of each step is a
/// pure function of (network seed, layer name, step), so steps replay exactly.
public final class DropoutLayer: Layer {
    public let name: String
    public let inputs: [ValueID]
    public let output: ValueID
    public let outputShape: TensorShape
    /// Probability of zeroing an element.
    public let rate: Float
    var mask: FloatBuffer?

    /// Creates the layer.
    public init(name: String, input: ValueID, output: ValueID, shape: TensorShape, rate: Float) {
        precondition(rate >= 0 && rate < 1, "\(name): dropout rate must be in [0, 1), got \(rate)")
        self.name = name
        self.inputs = [input]
        self.output = output
        self.outputShape = shape
        self.rate = rate
    }

    public var kind: String { "dropout(\(rate))" }

    public func bind(parameters: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>,
                     buffers: UnsafeMutablePointer<Float>, maxBatch: Int) {
        mask = FloatBuffer(count: maxBatch * outputShape.elementCount)
    }

    public func forward(_ context: ExecutionContext) {
        let count = context.batch * outputShape.elementCount
        let x = context.view(inputs[0]).base, y = context.view(output).base
        guard context.training, rate > 0, let mask = mask?.pointer else {
            y.update(from: x, count: count)
            return
        }
        let seed = RandomStream.derive(context.seed, ParameterArena.hash(name), context.step)
        let rate = self.rate
        // Elements are keyed by their position in the global batch, so a sample gets the same
        // mask on whichever rank it is processed.
        let offset = context.sampleOffset * outputShape.elementCount
        context.pool.chunks(count) { range, _ in
            Dropout.makeMask(seed: seed, rate: rate, range: (range.lowerBound + offset)..<(range.upperBound + offset),
                             mask: mask - offset)
            Dropout.forward(x + range.lowerBound, mask: mask + range.lowerBound, y + range.lowerBound, count: range.count)
        }
    }

    public func backward(_ context: ExecutionContext) {
        context.claimGradientForAdding(inputs[0])
        let dy = context.gradient(output).base, dx = context.gradient(inputs[0]).base
        guard let mask = mask?.pointer else { return }
        let count = context.batch * outputShape.elementCount
        if rate == 0 {
            for i in 0..<count { dx[i] += dy[i] }
            return
        }
        context.pool.chunks(count) { range, _ in
            Dropout.backward(dy + range.lowerBound, mask: mask + range.lowerBound, dx + range.lowerBound, count: range.count)
        }
    }
}
