/// A depthwise 3×3 convolution (`DepthwiseConvolution`, padding 1, no bias) over the channel
/// concatenation of its inputs, optionally preceded by a fused batch norm + ReLU: the first half
/// of a depthwise-separable convolution, which a 1×1 `ConvolutionLayer` named
/// `<name>.pointwise` completes.
///
/// Parameters are `<name>.norm.weight` / `.bias` for the fused batch norm (where the 3×3
/// convolution it replaces had it) and `<name>.depthwise.weight`, shaped `[C, 1, 3, 3]` as
/// PyTorch's `Conv2d(C, C, 3, groups: C)` weight.
///
/// Forward splits the batch over the workers and runs each sample's channels one padded plane at
/// a time (the col panel). Backward recomputes each padded plane for the weight gradient (worker
/// 0 into the arena, the others into their partials) and scatters the input gradient through the
/// dcol panel: into the shared scratch when the batch norm still has to be differentiated, else
/// straight onto the inputs' gradients.
public final class DepthwiseConvolutionLayer: Layer {
    public let name: String
    public let inputs: [ValueID]
    public let output: ValueID
    /// The convolution's sizes.
    public let geometry: DepthwiseConvolution.Geometry
    /// Whether a fused BN-ReLU precedes the convolution.
    public let preactivation: Bool
    let norm: NormalizationState?
    var weight: UnsafeMutablePointer<Float>!
    var weightGradient: UnsafeMutablePointer<Float>!

    /// Creates the layer over inputs with `geometry.channels` channels in total.
    public init(name: String, inputs: [ValueID], output: ValueID, geometry: DepthwiseConvolution.Geometry,
                preactivation: Bool) {
        self.name = name
        self.inputs = inputs
        self.output = output
        self.geometry = geometry
        self.preactivation = preactivation
        norm = preactivation ? NormalizationState(channels: geometry.channels) : nil
    }

    public var kind: String {
        (preactivation ? "bn-relu-" : "") + "depthwise3x3" + (geometry.stride > 1 ? "/\(geometry.stride)" : "")
            + (inputs.count > 1 ? " (\(inputs.count) inputs)" : "")
    }

    public var outputShape: TensorShape { geometry.outShape }
    public var macsPerSample: Int { geometry.macs }

    public var parameters: [ParameterDeclaration] {
        var p = preactivation ? NormalizationState.parameters(name + ".norm", geometry.channels) : []
        p.append(ParameterDeclaration(name: name + ".depthwise.weight", shape: [geometry.channels, 1, 3, 3],
                                      role: .convolutionWeight(fanIn: 9)))
        return p
    }

    public var buffers: [ParameterDeclaration] {
        preactivation ? NormalizationState.buffers(name + ".norm", geometry.channels) : []
    }

    /// One padded plane per panel, the weight gradient per worker, and with the fused batch norm
    /// the convolution's input gradient per sample.
    public var workspace: WorkspaceRequirement {
        Self.workspace(geometry, preactivation: preactivation)
    }

    /// The scratch of a layer of `geometry` (what a model's footprint counts, too).
    public static func workspace(_ geometry: DepthwiseConvolution.Geometry, preactivation: Bool) -> WorkspaceRequirement {
        var w = WorkspaceRequirement()
        w.panel = geometry.paddedPlaneCount
        w.partial = geometry.weightCount
        w.sharedPerSample = preactivation ? geometry.channels * geometry.inPlane : 0
        return w
    }

    public func bind(parameters: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>,
                     buffers: UnsafeMutablePointer<Float>, maxBatch: Int) {
        var offset = 0
        if let norm {
            norm.bind(parameters: parameters, gradients: gradients, buffers: buffers)
            offset = 2 * geometry.channels
        }
        weight = parameters + offset
        weightGradient = gradients + offset
    }

    var activation: InputActivation? {
        norm?.inputActivation
    }

    // MARK: Forward

    public func forward(_ context: ExecutionContext) {
        let x = context.views(inputs)
        norm?.prepare(x, context)
        let y = context.view(output)
        let activation = self.activation, g = geometry, w = weight!
        context.pool.chunks(context.batch) { samples, worker in
            let padded = context.panels[worker].col.pointer
            for n in samples {
                var c = 0
                for segment in x {
                    for k in 0..<segment.shape.channels {
                        DepthwiseConvolution.pad(segment.plane(n, k), channel: c, activation: activation, geometry: g, into: padded)
                        DepthwiseConvolution.forward(padded: padded, weight: w + 9 * c, geometry: g, output: y.plane(n, c))
                        c += 1
                    }
                }
            }
        }
    }

    // MARK: Backward

    public func backward(_ context: ExecutionContext) {
        let x = context.views(inputs), dy = context.gradient(output)
        let activation = self.activation, g = geometry, w = weight!
        // The gradient of the activated input: the shared scratch when the batch norm is still to
        // be differentiated, else the inputs' own gradients.
        let inputGradient: [TensorView]
        if preactivation {
            inputGradient = [TensorView(base: context.shared.pointer,
                                        shape: TensorShape(channels: g.channels, height: g.inHeight, width: g.inWidth))]
        } else {
            inputGradient = context.gradients(inputs)
        }
        let accumulate = !preactivation && context.claimGradientsTogether(inputs)
        let weightGradient = self.weightGradient!
        context.pool.chunks(context.batch) { samples, worker in
            // Worker 0 adds straight into the arena; the others fill a partial added below.
            let dw = worker == 0 ? weightGradient : context.partials[worker].pointer
            if worker != 0 { dw.update(repeating: 0, count: g.weightCount) }
            let panel = context.panels[worker]
            for n in samples {
                var c = 0
                for segment in x {
                    for k in 0..<segment.shape.channels {
                        DepthwiseConvolution.pad(segment.plane(n, k), channel: c, activation: activation, geometry: g,
                                                 into: panel.col.pointer)
                        let d = dy.plane(n, c)
                        DepthwiseConvolution.weightGradient(padded: panel.col.pointer, outputGradient: d, geometry: g,
                                                            weightGradient: dw + 9 * c)
                        c += 1
                    }
                }
                c = 0
                for segment in inputGradient {
                    for k in 0..<segment.shape.channels {
                        DepthwiseConvolution.inputGradient(outputGradient: dy.plane(n, c), weight: w + 9 * c, geometry: g,
                                                           padded: panel.dcol.pointer, inputGradient: segment.plane(n, k),
                                                           accumulate: accumulate)
                        c += 1
                    }
                }
            }
        }
        context.addWorkerPartials(weightGradient: weightGradient, weightCount: g.weightCount, biasGradient: nil, biasCount: 0)
        if let norm, preactivation {
            norm.backward(x, inputGradient[0], relu: true, into: inputs, context)
        }
    }
}
