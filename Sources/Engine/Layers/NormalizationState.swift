/// Per-channel batch-norm state for one layer: parameters and running buffers in the arenas, plus
/// the batch statistics and fused transform a forward pass leaves for its backward pass.
final class NormalizationState {
    let channels: Int
    var gamma: UnsafeMutablePointer<Float>!
    var beta: UnsafeMutablePointer<Float>!
    var gammaGradient: UnsafeMutablePointer<Float>!
    var betaGradient: UnsafeMutablePointer<Float>!
    var runningMean: UnsafeMutablePointer<Float>!
    var runningVariance: UnsafeMutablePointer<Float>!
    /// mean, 1/σ, scale, shift — four rows of `channels`.
    let transform: FloatBuffer
    /// Σ and Σ² (forward) or Σdz and Σdz·x̂ (backward) per channel, then the value count.
    let sums: UnsafeMutablePointer<Double>
    /// Values per channel behind the last training forward's statistics (global when synchronised).
    var count = 0

    init(channels: Int) {
        self.channels = channels
        transform = FloatBuffer(count: 4 * channels)
        sums = .allocate(capacity: 2 * channels + 1)
        sums.initialize(repeating: 0, count: 2 * channels + 1)
    }

    deinit { sums.deallocate() }

    var mean: UnsafeMutablePointer<Float> { transform.pointer }
    var invStd: UnsafeMutablePointer<Float> { transform.pointer + channels }
    var scale: UnsafeMutablePointer<Float> { transform.pointer + 2 * channels }
    var shift: UnsafeMutablePointer<Float> { transform.pointer + 3 * channels }
    /// The fused BN-ReLU a convolution applies to its input as it reads it.
    var inputActivation: InputActivation { InputActivation(scale: scale, shift: shift) }

    static func parameters(_ prefix: String, _ channels: Int) -> [ParameterDeclaration] {
        [ParameterDeclaration(name: prefix + ".weight", shape: [channels], role: .normScale),
         ParameterDeclaration(name: prefix + ".bias", shape: [channels], role: .normShift)]
    }

    static func buffers(_ prefix: String, _ channels: Int) -> [ParameterDeclaration] {
        [ParameterDeclaration(name: prefix + ".running_mean", shape: [channels], role: .runningMean),
         ParameterDeclaration(name: prefix + ".running_var", shape: [channels], role: .runningVariance)]
    }

    /// Binds γ, β (and their gradients) at `parameters`, and the running statistics at `buffers`.
    func bind(parameters: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>,
              buffers: UnsafeMutablePointer<Float>) {
        gamma = parameters
        beta = parameters + channels
        gammaGradient = gradients
        betaGradient = gradients + channels
        runningMean = buffers
        runningVariance = buffers + channels
    }

    /// Sets `scale`/`shift` from the batch (training, updating running statistics) or from the
    /// running statistics (evaluation).
    func prepare(_ input: [TensorView], _ context: ExecutionContext) {
        if context.training {
            BatchNorm.statisticSums(of: input, batch: context.batch, shift: runningMean, into: sums, pool: context.pool)
            sums[2 * channels] = Double(context.batch * (input.first?.shape.planeSize ?? 0))
            context.statisticsReducer?.sumAcrossRanks(sums, count: 2 * channels + 1)
            count = Int(sums[2 * channels])
            BatchNorm.finalizeTraining(sums: sums, count: count, channels: channels, gamma: gamma, beta: beta,
                                       mean: mean, invStd: invStd, scale: scale, shift: shift,
                                       runningMean: runningMean, runningVariance: runningVariance)
        } else {
            BatchNorm.inferenceTransform(channels: channels, gamma: gamma, beta: beta,
                                         runningMean: runningMean, runningVariance: runningVariance,
                                         scale: scale, shift: shift)
        }
    }

    /// Back-propagates `dz` (the gradient of the normalised output) into the gradients of
    /// `values` (whose activations are `input`), claiming them (`ExecutionContext.claimGradient`).
    func backward(_ input: [TensorView], _ dz: TensorView, relu: Bool, into values: [ValueID],
                  _ context: ExecutionContext) {
        BatchNorm.gradientSums(input: input, outputGradient: dz, batch: context.batch, mean: mean, invStd: invStd,
                               scale: scale, shift: shift, relu: relu, into: sums, pool: context.pool)
        BatchNorm.parameterGradients(sums: sums, channels: channels, gammaGradient: gammaGradient, betaGradient: betaGradient)
        context.statisticsReducer?.sumAcrossRanks(sums, count: 2 * channels)
        BatchNorm.inputGradient(input: input, inputGradient: context.gradients(values),
                                accumulate: context.claimGradients(values), outputGradient: dz,
                                batch: context.batch, count: count, sums: sums, mean: mean, invStd: invStd,
                                scale: scale, shift: shift, relu: relu, pool: context.pool)
    }
}
