/// A fully connected layer over the flattened input (`<name>.weight` is out × in, `<name>.bias` out).
public final class LinearLayer: Layer {
    public let name: String
    public let inputs: [ValueID]
    public let output: ValueID
    /// Flattened input features.
    public let inFeatures: Int
    /// Output features.
    public let outFeatures: Int
    var weight: UnsafeMutablePointer<Float>!
    var weightGradient: UnsafeMutablePointer<Float>!

    /// Creates the layer.
    public init(name: String, input: ValueID, output: ValueID, inFeatures: Int, outFeatures: Int) {
        self.name = name
        self.inputs = [input]
        self.output = output
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
    }

    public var kind: String { "linear" }
    public var outputShape: TensorShape { TensorShape(channels: outFeatures, height: 1, width: 1) }
    public var macsPerSample: Int { inFeatures * outFeatures }

    public var parameters: [ParameterDeclaration] {
        [ParameterDeclaration(name: name + ".weight", shape: [outFeatures, inFeatures], role: .linearWeight(fanIn: inFeatures)),
         ParameterDeclaration(name: name + ".bias", shape: [outFeatures], role: .linearBias(fanIn: inFeatures))]
    }

    public func bind(parameters: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>,
                     buffers: UnsafeMutablePointer<Float>, maxBatch: Int) {
        weight = parameters
        weightGradient = gradients
    }

    public func forward(_ context: ExecutionContext) {
        Linear.forward(x: context.view(inputs[0]).base, weight: weight, bias: weight + outFeatures * inFeatures,
                       y: context.view(output).base, batch: context.batch, inFeatures: inFeatures, outFeatures: outFeatures)
    }

    public func backward(_ context: ExecutionContext) {
        context.claimGradientForAdding(inputs[0])
        let dy = context.gradient(output)
        Linear.backward(x: context.view(inputs[0]).base, weight: weight, dy: dy.base, weightGradient: weightGradient,
                        biasGradient: weightGradient + outFeatures * inFeatures, dx: context.gradient(inputs[0]).base,
                        batch: context.batch, inFeatures: inFeatures, outFeatures: outFeatures)
    }
}
