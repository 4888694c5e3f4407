/// Materialises the channel concatenation of its inputs as one dense tensor.
public final class ConcatenationLayer: Layer {
    public let name: String
    public let inputs: [ValueID]
    public let output: ValueID
    public let outputShape: TensorShape

    /// Creates the layer; `shape` is the concatenated shape.
    public init(name: String, inputs: [ValueID], output: ValueID, shape: TensorShape) {
        self.name = name
        self.inputs = inputs
        self.output = output
        self.outputShape = shape
    }

    public var kind: String { "concat" }

    public func forward(_ context: ExecutionContext) {
        let x = context.views(inputs), y = context.view(output)
        context.pool.chunks(context.batch) { samples, _ in
            for n in samples { Concatenation.forward(x, into: y, sample: n) }
        }
    }

    public func backward(_ context: ExecutionContext) {
        for value in inputs { context.claimGradientForAdding(value) }
        let dy = context.gradient(output), dx = context.gradients(inputs)
        context.pool.chunks(context.batch) { samples, _ in
            for n in samples { Concatenation.backward(dy, into: dx, sample: n) }
        }
    }
}
