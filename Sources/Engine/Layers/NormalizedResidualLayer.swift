/// The end of a ResNet basic block with its last batch norm fused in: `relu?(bn(x) + shortcut(s))`
/// (`NormalizedResidual`), one layer where a `BatchNormLayer` and a `ResidualLayer` would be two.
///
/// The batch norm keeps its own name for its parameters and running statistics
/// (`<norm>.weight`, `.bias`, `.running_mean`, `.running_var`), in the place the separate layer
/// would hold them, so checkpoints and exports do not change.
public final class NormalizedResidualLayer: Layer {
    public let name: String
    public let inputs: [ValueID]
    public let output: ValueID
    public let outputShape: TensorShape
    /// Whether ReLU follows the sum.
    public let relu: Bool
    /// The batch norm's name: the prefix of its parameters and buffers.
    public let normName: String
    let norm: NormalizationState

    /// Creates the layer; `x` has the output's shape, `shortcut` may be larger in space by the
    /// block's stride and have fewer channels (option A, as in `ResidualLayer`).
    public init(name: String, norm normName: String, x: ValueID, shortcut: ValueID, output: ValueID,
                shape: TensorShape, relu: Bool) {
        self.name = name
        self.normName = normName
        self.inputs = [x, shortcut]
        self.output = output
        self.outputShape = shape
        self.relu = relu
        norm = NormalizationState(channels: shape.channels)
    }

    public var kind: String { relu ? "bn-add-relu" : "bn-add" }
    public var parameters: [ParameterDeclaration] { NormalizationState.parameters(normName, outputShape.channels) }
    public var buffers: [ParameterDeclaration] { NormalizationState.buffers(normName, outputShape.channels) }

    public func bind(parameters: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>,
                     buffers: UnsafeMutablePointer<Float>, maxBatch: Int) {
        norm.bind(parameters: parameters, gradients: gradients, buffers: buffers)
    }

    public func forward(_ context: ExecutionContext) {
        let x = context.view(inputs[0]), s = context.view(inputs[1]), y = context.view(output), relu = self.relu
        norm.prepare([x], context)
        let scale = UnsafePointer(norm.scale), shift = UnsafePointer(norm.shift)
        context.pool.chunks(context.batch) { samples, _ in
            for n in samples {
                NormalizedResidual.forward(x: x, scale: scale, shift: shift, shortcut: s, relu: relu, output: y, sample: n)
            }
        }
    }

    public func backward(_ context: ExecutionContext) {
        let x = context.view(inputs[0]), y = context.view(output), dy = context.gradient(output)
        let dx = context.gradient(inputs[0]), ds = context.gradient(inputs[1])
        let accumulateInput = context.claimGradient(inputs[0]), accumulateShortcut = context.claimGradient(inputs[1])
        NormalizedResidual.gradientSums(x: x, output: y, outputGradient: dy, relu: relu, batch: context.batch,
                                        mean: norm.mean, invStd: norm.invStd, shortcutGradient: ds,
                                        accumulateShortcut: accumulateShortcut, into: norm.sums, pool: context.pool)
        BatchNorm.parameterGradients(sums: norm.sums, channels: norm.channels, gammaGradient: norm.gammaGradient,
                                     betaGradient: norm.betaGradient)
        context.statisticsReducer?.sumAcrossRanks(norm.sums, count: 2 * norm.channels)
        // An identity shortcut's fresh gradient is the masked gradient itself: read it back.
        let masked = ds.shape == y.shape && !accumulateShortcut ? ds : nil
        NormalizedResidual.inputGradient(x: x, output: y, outputGradient: dy, relu: relu, masked: masked, into: dx,
                                         accumulate: accumulateInput, batch: context.batch, count: norm.count,
                                         sums: norm.sums, mean: norm.mean, invStd: norm.invStd, scale: norm.scale,
                                         pool: context.pool)
    }
}
