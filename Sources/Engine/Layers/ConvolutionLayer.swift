/// A 2-D convolution over the channel concatenation of its inputs, optionally preceded by a fused
/// batch norm + ReLU (the pre-activation `BN-ReLU-Conv` unit of DenseNet and SparseNet).
///
/// With `preactivation`, the normalised input is produced while im2col packs it and is never
/// stored; backward recomputes it from the raw input. Parameter names are `<name>.norm.weight`
/// / `.bias` for the fused batch norm and `<name>.weight` / `.bias` for the convolution.
public final class ConvolutionLayer: Layer {
    public let name: String
    public let inputs: [ValueID]
    public let output: ValueID
    /// The convolution's sizes.
    public let geometry: ConvolutionGeometry
    /// Whether a fused BN-ReLU precedes the convolution.
    public let preactivation: Bool
    /// Whether the convolution has a bias.
    public let hasBias: Bool
    /// Whether backward must produce the input gradient (false for a plain convolution reading only
    /// the network input, whose gradient nobody uses).
    public let needsInputGradient: Bool
    let norm: NormalizationState?
    /// The engine's own kernels or im2col + `sgemm` (for the geometries `DirectKernel` covers;
    /// others always use im2col). Fixed at creation: the workspace is sized for it.
    public let algorithm: ConvolutionAlgorithm
    var weight: UnsafeMutablePointer<Float>!
    var bias: UnsafeMutablePointer<Float>?
    var weightGradient: UnsafeMutablePointer<Float>!
    var biasGradient: UnsafeMutablePointer<Float>?

    /// Creates the layer for inputs of spatial size `height × width` and `inChannels` channels in total.
    public init(name: String, inputs: [ValueID], output: ValueID, geometry: ConvolutionGeometry,
                preactivation: Bool, bias: Bool, needsInputGradient: Bool,
                algorithm: ConvolutionAlgorithm = .selected) {
        self.algorithm = algorithm
        self.name = name
        self.inputs = inputs
        self.output = output
        self.geometry = geometry
        self.preactivation = preactivation
        self.hasBias = bias
        self.needsInputGradient = needsInputGradient
        norm = preactivation ? NormalizationState(channels: geometry.inChannels) : nil
    }

    public var kind: String {
        let k = "conv\(geometry.kernel)x\(geometry.kernel)" + (geometry.stride > 1 ? "/\(geometry.stride)" : "")
        return (preactivation ? "bn-relu-" : "") + k + (inputs.count > 1 ? " (\(inputs.count) inputs)" : "")
    }

    public var outputShape: TensorShape { geometry.outShape }
    public var macsPerSample: Int { geometry.macs }

    public var parameters: [ParameterDeclaration] {
        var p = preactivation ? NormalizationState.parameters(name + ".norm", geometry.inChannels) : []
        p.append(ParameterDeclaration(
            name: name + ".weight",
            shape: [geometry.outChannels, geometry.inChannels, geometry.kernel, geometry.kernel],
            role: .convolutionWeight(fanIn: geometry.patchSize)))
        if hasBias {
            p.append(ParameterDeclaration(name: name + ".bias", shape: [geometry.outChannels], role: .convolutionBias))
        }
        return p
    }

    public var buffers: [ParameterDeclaration] {
        preactivation ? NormalizationState.buffers(name + ".norm", geometry.inChannels) : []
    }

    public var workspace: WorkspaceRequirement {
        var w = WorkspaceRequirement()
        w.panel = Self.panelElements(geometry, algorithm: algorithm, segmentCount: preactivation ? 1 : inputs.count)
        w.partial = geometry.weightCount + geometry.outChannels
        w.sharedPerSample = preactivation ? geometry.inChannels * geometry.inPlane : 0
        return w
    }

    /// Floats of each of a worker's two panels for a layer of geometry `g` with `segmentCount`
    /// gradient segments: the own kernels' scratch where `algorithm` runs them, else the im2col
    /// matrix (`patchSize × outPlane`). What a model's footprint counts, too.
    public static func panelElements(_ g: ConvolutionGeometry, algorithm: ConvolutionAlgorithm, segmentCount: Int) -> Int {
        algorithm.kernel(for: g)?.workspaceElements(g, segmentCount: segmentCount) ?? g.patchSize * g.outPlane
    }

    public func bind(parameters: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>,
                     buffers: UnsafeMutablePointer<Float>, maxBatch: Int) {
        var offset = 0
        if let norm {
            norm.bind(parameters: parameters, gradients: gradients, buffers: buffers)
            offset = 2 * geometry.inChannels
        }
        weight = parameters + offset
        weightGradient = gradients + offset
        if hasBias {
            bias = parameters + offset + geometry.weightCount
            biasGradient = gradients + offset + geometry.weightCount
        }
    }

    var activation: InputActivation? {
        norm?.inputActivation
    }

    // MARK: Forward

    public func forward(_ context: ExecutionContext) {
        let x = context.views(inputs)
        norm?.prepare(x, context)
        let y = context.view(output)
        let activation = self.activation
        let g = geometry, w = weight!, b = bias
        let direct = algorithm.kernel(for: g)
        context.pool.chunks(context.batch) { samples, worker in
            let col = context.panels[worker].col.pointer
            direct?.packWeights(w, geometry: g, scratch: col)
            for n in samples {
                if let direct {
                    direct.forward(sample: n, input: x, geometry: g, activation: activation, bias: b, output: y, scratch: col)
                } else {
                    Convolution.forward(sample: n, input: x, geometry: g, activation: activation,
                                        weight: w, bias: b, output: y, col: col)
                }
            }
        }
    }

    // MARK: Backward

    public func backward(_ context: ExecutionContext) {
        let x = context.views(inputs)
        let dy = context.gradient(output)
        let activation = self.activation
        let g = geometry, w = weight!
        // The convolution's input gradient goes to the shared scratch when a batch norm still has
        // to turn it into the raw input's gradient, otherwise straight onto the inputs.
        let inputGradient: [TensorView]?
        var dz: TensorView?
        if preactivation {
            let view = TensorView(base: context.shared.pointer,
                                  shape: TensorShape(channels: g.inChannels, height: g.inHeight, width: g.inWidth))
            dz = view
            inputGradient = [view]
        } else {
            inputGradient = needsInputGradient ? context.gradients(inputs) : nil
        }
        // The shared scratch is overwritten; an input's gradient is overwritten on the backward
        // pass's first write into it.
        let accumulateInput = !preactivation && needsInputGradient && context.claimGradientsTogether(inputs)
        let weightGradient = self.weightGradient!, biasGradient = self.biasGradient
        let hasBias = self.hasBias
        // The own kernels: the weight gradient in the col panel, the input gradient in dcol.
        let direct = algorithm.kernel(for: g)
        let segments = inputGradient?.map(\.shape.channels) ?? []
        context.pool.chunks(context.batch) { samples, worker in
            // Worker 0 adds straight into the arena; the others fill a partial that is added below.
            let wg = worker == 0 ? weightGradient : context.partials[worker].pointer
            let bg = worker == 0 ? biasGradient : (hasBias ? context.partials[worker].pointer + g.weightCount : nil)
            let panel = context.panels[worker]
            guard let direct else {
                for n in samples {
                    Convolution.backward(sample: n, input: x, geometry: g, activation: activation, weight: w,
                                         outputGradient: dy, weightGradient: wg, biasGradient: bg,
                                         accumulateWeights: worker == 0 || n != samples.lowerBound,
                                         inputGradient: inputGradient, accumulateInput: accumulateInput,
                                         col: panel.col.pointer, dcol: panel.dcol.pointer)
                }
                return
            }
            direct.weightGradient(samples: samples, input: x, geometry: g, activation: activation, weight: w,
                                  outputGradient: dy, weightGradient: wg, biasGradient: bg, accumulate: worker == 0,
                                  scratch: panel.col.pointer)
            guard let inputGradient else { return }
            direct.packTransposedWeights(w, geometry: g, segments: segments, scratch: panel.dcol.pointer)
            for n in samples {
                direct.inputGradient(sample: n, outputGradient: dy, geometry: g, inputGradient: inputGradient,
                                     accumulate: accumulateInput, scratch: panel.dcol.pointer)
            }
        }
        context.addWorkerPartials(weightGradient: weightGradient, weightCount: g.weightCount,
                                  biasGradient: biasGradient, biasCount: hasBias ? g.outChannels : 0)
        if let norm, let dz {
            norm.backward(x, dz, relu: true, into: inputs, context)
        }
    }
}
