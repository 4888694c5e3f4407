/// Batch normalisation (optionally followed by ReLU) over the channel concatenation of its
/// inputs, writing a dense output. Parameters are `<name>.weight` / `.bias`, buffers
/// `<name>.running_mean` / `.running_var`.
public final class BatchNormLayer: Layer {
    public let name: String
    public let inputs: [ValueID]
    public let output: ValueID
    public let outputShape: TensorShape
    /// Whether ReLU follows the normalisation.
    public let relu: Bool
    let norm: NormalizationState

    /// Creates the layer; `shape` is the concatenated input (and output) shape.
    public init(name: String, inputs: [ValueID], output: ValueID, shape: TensorShape, relu: Bool) {
        self.name = name
        self.inputs = inputs
        self.output = output
        self.outputShape = shape
        self.relu = relu
        norm = NormalizationState(channels: shape.channels)
    }

    public var kind: String { relu ? "bn-relu" : "bn" }
    public var parameters: [ParameterDeclaration] { NormalizationState.parameters(name, outputShape.channels) }
    public var buffers: [ParameterDeclaration] { NormalizationState.buffers(name, outputShape.channels) }

    public func bind(parameters: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>,
                     buffers: UnsafeMutablePointer<Float>, maxBatch: Int) {
        norm.bind(parameters: parameters, gradients: gradients, buffers: buffers)
    }

    public func forward(_ context: ExecutionContext) {
        let x = context.views(inputs)
        norm.prepare(x, context)
        BatchNorm.apply(input: x, batch: context.batch, scale: norm.scale, shift: norm.shift, relu: relu,
                        output: context.view(output), pool: context.pool)
    }

    public func backward(_ context: ExecutionContext) {
        norm.backward(context.views(inputs), context.gradient(output), relu: relu, into: inputs, context)
    }
}
