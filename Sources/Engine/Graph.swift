/// A network's architecture: its layers in execution order and the shapes of the values between
/// them, with no storage attached. Models build one; `Network` allocates and runs it;
/// `summary` describes it.
public struct Graph {
    /// Per value, the shape of one sample.
    public private(set) var shapes: [TensorShape]
    /// Layers in forward order.
    public private(set) var layers: [any Layer] = []
    /// The network input (value 0).
    public let input: ValueID
    /// How convolutions added from now on compute (`ConvolutionAlgorithm.selected` unless a test
    /// compares the algorithms).
    public var convolutionAlgorithm = ConvolutionAlgorithm.selected

    /// Starts a graph whose input has `shape` per sample.
    public init(input shape: TensorShape) {
        shapes = [shape]
        input = ValueID(index: 0)
    }

    /// The last layer's output, or the input when there are no layers.
    public var output: ValueID { layers.last?.output ?? input }

    /// The shape of `value`.
    public func shape(_ value: ValueID) -> TensorShape { shapes[value.index] }

    /// The shape of the channel concatenation of `values` (which must agree in space).
    public func concatenatedShape(_ values: [ValueID]) -> TensorShape {
        precondition(!values.isEmpty, "a layer needs at least one input")
        var s = shape(values[0])
        for v in values.dropFirst() {
            let t = shape(v)
            precondition(t.height == s.height && t.width == s.width,
                         "cannot concatenate \(t) with \(s): spatial sizes differ")
            s.channels += t.channels
        }
        return s
    }

    /// Total trainable parameters.
    public var parameterCount: Int { layers.reduce(0) { $0 + $1.parameterCount } }
    /// Total forward multiply-accumulates per sample.
    public var macsPerSample: Int { layers.reduce(0) { $0 + $1.macsPerSample } }

    private mutating func append(_ make: (ValueID) -> any Layer) -> ValueID {
        let id = ValueID(index: shapes.count)
        let layer = make(id)
        precondition(!layers.contains { $0.name == layer.name },
                     "two layers are named '\(layer.name)': names key parameters and must be unique")
        shapes.append(layer.outputShape)
        layers.append(layer)
        return id
    }

    // MARK: Building

    /// Adds a convolution over the concatenation of `inputs`; with `preactivation` a batch norm
    /// and ReLU are fused in front of it. Padding defaults to `kernel / 2` ("same" at stride 1).
    @discardableResult
    public mutating func convolution(_ inputs: [ValueID], outChannels: Int, kernel: Int, stride: Int = 1,
                                     padding: Int? = nil, bias: Bool = false, preactivation: Bool = false,
                                     name: String) -> ValueID {
        let s = concatenatedShape(inputs)
        let g = ConvolutionGeometry(inChannels: s.channels, outChannels: outChannels, kernel: kernel, stride: stride,
                                    padding: padding ?? kernel / 2, inHeight: s.height, inWidth: s.width)
        let needsGradient = !(inputs.count == 1 && inputs[0] == input)
        let algorithm = convolutionAlgorithm
        return append { ConvolutionLayer(name: name, inputs: inputs, output: $0, geometry: g, preactivation: preactivation,
                                         bias: bias, needsInputGradient: needsGradient, algorithm: algorithm) }
    }

    /// Adds a depthwise 3×3 convolution with padding 1 and no bias (`DepthwiseConvolutionLayer`)
    /// over the concatenation of `inputs`, optionally behind a fused batch norm + ReLU. Its
    /// parameters are `<name>.depthwise.weight` (and `<name>.norm.*`); a depthwise-separable
    /// convolution follows it with a 1×1 convolution named `<name>.pointwise`.
    @discardableResult
    public mutating func depthwiseConvolution(_ inputs: [ValueID], stride: Int = 1, preactivation: Bool = false,
                                              name: String) -> ValueID {
        let s = concatenatedShape(inputs)
        let g = DepthwiseConvolution.Geometry(channels: s.channels, stride: stride, inHeight: s.height, inWidth: s.width)
        return append { DepthwiseConvolutionLayer(name: name, inputs: inputs, output: $0, geometry: g,
                                                  preactivation: preactivation) }
    }

    /// Adds a fused batch norm + ReLU, 2×2/2 average pooling and 1×1 convolution without bias over
    /// the concatenation of `inputs` (a DenseNet transition with the pooling moved in front of the
    /// convolution; see `PooledConvolutionLayer`).
    @discardableResult
    public mutating func pooledConvolution(_ inputs: [ValueID], outChannels: Int, name: String) -> ValueID {
        let s = concatenatedShape(inputs)
        return append { PooledConvolutionLayer(name: name, inputs: inputs, output: $0, inputShape: s,
                                               outChannels: outChannels) }
    }

    /// Adds batch normalisation (and ReLU) over the concatenation of `inputs`.
    @discardableResult
    public mutating func batchNorm(_ inputs: [ValueID], relu: Bool, name: String) -> ValueID {
        let s = concatenatedShape(inputs)
        return append { BatchNormLayer(name: name, inputs: inputs, output: $0, shape: s, relu: relu) }
    }

    /// Adds 2×2/2 average pooling.
    @discardableResult
    public mutating func averagePool(_ x: ValueID, name: String) -> ValueID {
        let s = shape(x)
        return append { AveragePoolLayer(name: name, input: x, output: $0, shape: s, window: .twoByTwo) }
    }

    /// Adds global average pooling.
    @discardableResult
    public mutating func globalAveragePool(_ x: ValueID, name: String) -> ValueID {
        let s = shape(x)
        return append { AveragePoolLayer(name: name, input: x, output: $0, shape: s, window: .wholePlane) }
    }

    /// Adds a linear layer over the flattened `x`.
    @discardableResult
    public mutating func linear(_ x: ValueID, outFeatures: Int, name: String) -> ValueID {
        let n = shape(x).elementCount
        return append { LinearLayer(name: name, input: x, output: $0, inFeatures: n, outFeatures: outFeatures) }
    }

    /// Adds dropout with probability `rate`.
    @discardableResult
    public mutating func dropout(_ x: ValueID, rate: Float, name: String) -> ValueID {
        let s = shape(x)
        return append { DropoutLayer(name: name, input: x, output: $0, shape: s, rate: rate) }
    }

    /// Adds a squeeze-and-excitation unit over `x` (`SqueezeExcitationLayer`) whose hidden layer
    /// has `hidden` features: each channel of `x` scaled by a gate computed from all channels' means.
    @discardableResult
    public mutating func squeezeExcitation(_ x: ValueID, hidden: Int, name: String) -> ValueID {
        let s = shape(x)
        return append { SqueezeExcitationLayer(name: name, input: x, output: $0, shape: s, hidden: hidden) }
    }

    /// Adds `relu?(x + shortcut(s))`, with an option-A shortcut when the shapes differ.
    @discardableResult
    public mutating func residual(_ x: ValueID, shortcut: ValueID, relu: Bool, name: String) -> ValueID {
        let s = residualShape(x, shortcut: shortcut, name: name)
        return append { ResidualLayer(name: name, x: x, shortcut: shortcut, output: $0, shape: s, relu: relu) }
    }

    /// Adds `relu?(bn(x) + shortcut(s))` as one layer (`NormalizedResidualLayer`): the same result
    /// and parameters as `batchNorm([x], relu: false, name: norm)` followed by `residual`, with
    /// less memory traffic and one activation tensor fewer.
    @discardableResult
    public mutating func normalizedResidual(_ x: ValueID, norm: String, shortcut: ValueID, relu: Bool,
                                            name: String) -> ValueID {
        let s = residualShape(x, shortcut: shortcut, name: name)
        return append { NormalizedResidualLayer(name: name, norm: norm, x: x, shortcut: shortcut, output: $0, shape: s,
                                                relu: relu) }
    }

    /// The shape of a residual sum of `x` and `shortcut`, which must fit as an identity or
    /// option-A shortcut.
    private func residualShape(_ x: ValueID, shortcut: ValueID, name: String) -> TensorShape {
        let s = shape(x), t = shape(shortcut)
        precondition(t.channels <= s.channels && t.height % s.height == 0 && t.height / s.height == t.width / s.width,
                     "\(name): shortcut \(t) does not fit \(s)")
        return s
    }

    /// Adds an explicit channel concatenation.
    @discardableResult
    public mutating func concatenation(_ inputs: [ValueID], name: String) -> ValueID {
        let s = concatenatedShape(inputs)
        return append { ConcatenationLayer(name: name, inputs: inputs, output: $0, shape: s) }
    }
}
