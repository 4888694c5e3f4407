/// A DenseNet/SparseNet transition as one layer: batch norm + ReLU at full resolution, 2×2/2
/// average pooling, then a 1×1 convolution without bias over the concatenation of its inputs.
///
/// The architecture's order is BN-ReLU-Conv1×1 then pooling; a 1×1 convolution commutes with
/// average pooling, so pooling first gives the same output with a quarter of the convolution's
/// work (the ReLU does not commute, and stays in front of the pooling). The normalised,
/// rectified, pooled input is formed per sample while packing (`PooledActivation.pack`) and never
/// stored at full resolution; backward recomputes it. The batch-norm statistics are those of the
/// full-resolution input.
///
/// Parameters are named and laid out as a preactivated `ConvolutionLayer` of the same name
/// (`<name>.norm.weight`, `.norm.bias`, `<name>.weight` of shape `[out, in, 1, 1]`), so
/// checkpoints of the unfused transition load unchanged.
public final class PooledConvolutionLayer: Layer {
    public let name: String
    public let inputs: [ValueID]
    public let output: ValueID
    /// The convolution as it runs: 1×1 over the pooled input (`inHeight`/`inWidth` are half the
    /// input's size).
    public let geometry: ConvolutionGeometry
    /// The shape of the (concatenated) input, before pooling.
    public let inputShape: TensorShape
    let norm: NormalizationState
    var weight: UnsafeMutablePointer<Float>!
    var weightGradient: UnsafeMutablePointer<Float>!

    /// Creates the layer for inputs of `inputShape` in total (even height and width).
    public init(name: String, inputs: [ValueID], output: ValueID, inputShape: TensorShape, outChannels: Int) {
        precondition(inputShape.height % 2 == 0 && inputShape.width % 2 == 0,
                     "\(name): 2×2 pooling needs an even size, got \(inputShape)")
        self.name = name
        self.inputs = inputs
        self.output = output
        self.inputShape = inputShape
        geometry = ConvolutionGeometry(inChannels: inputShape.channels, outChannels: outChannels, kernel: 1, stride: 1,
                                       padding: 0, inHeight: inputShape.height / 2, inWidth: inputShape.width / 2)
        norm = NormalizationState(channels: inputShape.channels)
    }

    public var kind: String { "bn-relu-avgpool-conv1x1" + (inputs.count > 1 ? " (\(inputs.count) inputs)" : "") }

    public var outputShape: TensorShape { geometry.outShape }

    /// The architecture's multiply-accumulates, as the DenseNet and SparseNet papers count them:
    /// the 1×1 convolution at full resolution before pooling. The layer executes a quarter of
    /// these; reporting the architecture's figure keeps a model's MACs (and `ddptrain bench`'s
    /// GFLOP/s, a throughput of the model rather than of this engine's shortcuts) comparable with
    /// the reference tables and with the unfused transition.
    public var macsPerSample: Int { geometry.weightCount * inputShape.planeSize }

    public var parameters: [ParameterDeclaration] {
        NormalizationState.parameters(name + ".norm", geometry.inChannels) + [
            ParameterDeclaration(name: name + ".weight", shape: [geometry.outChannels, geometry.inChannels, 1, 1],
                                 role: .convolutionWeight(fanIn: geometry.inChannels)),
        ]
    }

    public var buffers: [ParameterDeclaration] { NormalizationState.buffers(name + ".norm", geometry.inChannels) }

    public var workspace: WorkspaceRequirement {
        var w = WorkspaceRequirement()
        // `col`: the pooled input of one sample; `dcol`: its gradient.
        w.panel = geometry.inChannels * geometry.outPlane
        w.partial = geometry.weightCount
        // The gradient of the normalised input, at full resolution.
        w.sharedPerSample = inputShape.elementCount
        return w
    }

    public func bind(parameters: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>,
                     buffers: UnsafeMutablePointer<Float>, maxBatch: Int) {
        norm.bind(parameters: parameters, gradients: gradients, buffers: buffers)
        weight = parameters + 2 * geometry.inChannels
        weightGradient = gradients + 2 * geometry.inChannels
    }

    /// One worker's pooled input (or its gradient) seen as every sample of a batch (sample stride
    /// 0), so that `Convolution`'s pointwise paths read and write it in place for any sample index.
    func perWorker(_ buffer: FloatBuffer) -> [TensorView] {
        [TensorView(base: buffer.pointer, shape: TensorShape(channels: geometry.inChannels, height: geometry.inHeight,
                                                           width: geometry.inWidth),
                    sampleStride: 0)]
    }

    // MARK: Forward

    public func forward(_ context: ExecutionContext) {
        let x = context.views(inputs), y = context.view(output)
        norm.prepare(x, context)
        let activation = norm.inputActivation
        let g = geometry, w = weight!
        context.pool.chunks(context.batch) { samples, worker in
            let panel = context.panels[worker], pooled = perWorker(panel.col)
            for n in samples {
                PooledActivation.pack(sample: n, input: x, activation: activation, into: panel.col.pointer)
                Convolution.forward(sample: n, input: pooled, geometry: g, activation: nil, weight: w, bias: nil,
                                    output: y, col: panel.dcol.pointer)
            }
        }
    }

    // MARK: Backward

    public func backward(_ context: ExecutionContext) {
        let x = context.views(inputs), dy = context.gradient(output)
        let activation = norm.inputActivation
        let g = geometry, w = weight!, weightGradient = self.weightGradient!
        // The gradient of the normalised, rectified input at full resolution, for the batch norm.
        let dz = TensorView(base: context.shared.pointer, shape: inputShape)
        context.pool.chunks(context.batch) { samples, worker in
            // Worker 0 adds straight into the arena; the others fill a partial that is added below.
            let wg = worker == 0 ? weightGradient : context.partials[worker].pointer
            let panel = context.panels[worker]
            let pooled = perWorker(panel.col), pooledGradient = perWorker(panel.dcol)
            for n in samples {
                PooledActivation.pack(sample: n, input: x, activation: activation, into: panel.col.pointer)
                Convolution.backward(sample: n, input: pooled, geometry: g, activation: nil, weight: w,
                                     outputGradient: dy, weightGradient: wg, biasGradient: nil,
                                     accumulateWeights: worker == 0 || n != samples.lowerBound,
                                     inputGradient: pooledGradient, accumulateInput: false,
                                     col: panel.col.pointer, dcol: panel.dcol.pointer)
                PooledActivation.spread(panel.dcol.pointer, sample: n, into: dz)
            }
        }
        context.addWorkerPartials(weightGradient: weightGradient, weightCount: g.weightCount,
                                  biasGradient: nil, biasCount: 0)
        norm.backward(x, dz, relu: true, into: inputs, context)
    }
}
