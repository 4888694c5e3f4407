/// The end of a ResNet basic block: `relu?(x + shortcut(s))` with an identity or option-A shortcut.
public final class ResidualLayer: Layer {
    public let name: String
    public let inputs: [ValueID]
    public let output: ValueID
    public let outputShape: TensorShape
    /// Whether ReLU follows the sum.
    public let relu: Bool

    /// Creates the layer; `x` has the output's shape, `shortcut` may be larger in space by the
    /// block's stride and have fewer channels.
    public init(name: String, x: ValueID, shortcut: ValueID, output: ValueID, shape: TensorShape, relu: Bool) {
        self.name = name
        self.inputs = [x, shortcut]
        self.output = output
        self.outputShape = shape
        self.relu = relu
    }

    public var kind: String { relu ? "add-relu" : "add" }

    public func forward(_ context: ExecutionContext) {
        let x = context.view(inputs[0]), s = context.view(inputs[1]), y = context.view(output), relu = self.relu
        context.pool.chunks(context.batch) { samples, _ in
            for n in samples { Residual.forward(x: x, shortcut: s, relu: relu, output: y, sample: n) }
        }
    }

    public func backward(_ context: ExecutionContext) {
        let dy = context.gradient(output), dx = context.gradient(inputs[0])
        let y = context.view(output), ds = context.gradient(inputs[1]), relu = self.relu
        let accumulateInput = context.claimGradient(inputs[0]), accumulateShortcut = context.claimGradient(inputs[1])
        context.pool.chunks(context.batch) { samples, _ in
            for n in samples {
                Residual.backward(output: y, outputGradient: dy, relu: relu, inputGradient: dx, accumulateInput: accumulateInput,
                                  shortcutGradient: ds, accumulateShortcut: accumulateShortcut, sample: n)
            }
        }
    }
}
