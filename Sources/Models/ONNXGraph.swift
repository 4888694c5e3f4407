import Engine

/// A model as an ONNX inference graph (opset 13, IR version 7), described by the family's own
/// definition (`ArchitectureFamily.describe`), so the export follows the built network layer by
/// layer. Batch norm stays a `BatchNormalization` node (running statistics, epsilon 1e-5) rather
/// than being folded into the convolutions, so the file's weights are the checkpoint's, bit for
/// bit; a fused pre-activation is `BatchNormalization` + `Relu` before the `Conv`; a
/// concatenation is a `Concat` on the channel axis; a transition is BN-ReLU, 2×2 `AveragePool`,
/// 1×1 `Conv` (the order ddptrain computes it in); ResNet's option-A shortcut is a strided
/// `Slice` and a channel `Pad`; dropout is the identity; a depthwise convolution is a `Conv` with
/// `group` = its channels (its pointwise half an ordinary 1×1 `Conv`); a squeeze-and-excitation unit is
/// `GlobalAveragePool`, `Flatten`, `Gemm`, `Relu`, `Gemm`, `Sigmoid`, `Unsqueeze` to N × C × 1 × 1
/// and a broadcasting `Mul`. The input `input` is the normalised
/// image, `N × 3 × 32 × 32` float (`N` free); the output `logits` is `N × classes`.
public enum ONNXExport {
    /// The ONNX operator set the graph uses.
    public static let opset: Int64 = 13

    /// The bytes of an ONNX model of `model` with the weights `weights` (by ddptrain tensor name,
    /// every parameter and batch-norm buffer), and `metadata` as the model's `metadata_props`.
    ///
    /// - Throws: `ModelError.invalidSetting` naming a tensor the graph needs that `weights`
    ///   lacks, or whose element count differs from the layer's.
    public static func model(_ model: ModelConfiguration, weights: [String: (shape: [Int], values: [Float])],
                             metadata: [String: String], producerVersion: String) throws -> [UInt8] {
        try model.validate()
        var graph = ONNXGraph(input: model.inputShape, weights: weights)
        try ModelBuilder.describe(model, into: &graph)
        var file = ProtobufMessage()
        file.integer(1, 7)  // ir_version
        file.string(2, "ddptrain")  // producer_name
        file.string(3, producerVersion)
        file.message(7, try graph.proto(name: model.name, output: graph.last))
        var opset = ProtobufMessage()
        opset.string(1, "")
        opset.integer(2, Self.opset)
        file.message(8, opset)
        for key in metadata.keys.sorted() {
            var entry = ProtobufMessage()
            entry.string(1, key)
            entry.string(2, metadata[key]!)
            file.message(14, entry)  // metadata_props
        }
        return file.bytes
    }
}

/// The ONNX graph being described: nodes, initializers (the weights and a few constants) and the
/// shape of every value. Field numbers are onnx.proto's.
struct ONNXGraph: ModelGraph {
    /// A value: its name in the graph and its shape.
    private var values: [(name: String, shape: TensorShape)] = []
    private var nodes: [ProtobufMessage] = []
    private var initializers: [ProtobufMessage] = []
    private var initialized: Set<String> = []
    private let weights: [String: (shape: [Int], values: [Float])]
    let input = 0
    /// The last value described (the logits once the description is complete).
    var last: Int { values.count - 1 }

    init(input shape: TensorShape, weights: [String: (shape: [Int], values: [Float])]) {
        self.weights = weights
        values.append(("input", shape))
    }

    func channels(_ values: [Int]) throws -> Int { values.reduce(0) { $0 + self.values[$1].shape.channels } }

    // MARK: ModelGraph

    mutating func convolution(_ inputs: [Int], outChannels: Int, kernel: Int, stride: Int, preactivation: Bool,
                              name: String) throws -> Int {
        var x = try concatenated(inputs, name: name)
        if preactivation { x = try normalized(x, norm: name + ".norm", relu: true, name: name) }
        return try convolved(x, weight: name + ".weight", outChannels: outChannels, kernel: kernel, stride: stride, name: name)
    }

    mutating func depthwiseConvolution(_ inputs: [Int], stride: Int, preactivation: Bool, name: String) throws -> Int {
        var x = try concatenated(inputs, name: name)
        if preactivation { x = try normalized(x, norm: name + ".norm", relu: true, name: name) }
        let s = values[x].shape, c = s.channels
        let w = try weight(name + ".depthwise.weight", count: c * 9, dims: [c, 1, 3, 3])
        let out = TensorShape(channels: c, height: (s.height - 1) / stride + 1, width: (s.width - 1) / stride + 1)
        return node("Conv", [x], extra: [w], name: name + ".depthwise", shape: out,
                    attributes: [.ints("kernel_shape", [3, 3]), .ints("pads", [1, 1, 1, 1]),
                                 .ints("strides", [Int64(stride), Int64(stride)]), .int("group", Int64(c))])
    }

    mutating func batchNorm(_ inputs: [Int], relu: Bool, name: String) throws -> Int {
        try normalized(try concatenated(inputs, name: name), norm: name, relu: relu, name: name)
    }

    mutating func pooledConvolution(_ inputs: [Int], outChannels: Int, name: String) throws -> Int {
        let x = try normalized(try concatenated(inputs, name: name), norm: name + ".norm", relu: true, name: name)
        let s = values[x].shape
        let pooled = node("AveragePool", [x], name: name + ".pool", shape: TensorShape(channels: s.channels, height: s.height / 2, width: s.width / 2),
                          attributes: [.ints("kernel_shape", [2, 2]), .ints("strides", [2, 2])])
        return try convolved(pooled, weight: name + ".weight", outChannels: outChannels, kernel: 1, stride: 1, name: name)
    }

    mutating func globalAveragePool(_ x: Int, name: String) throws -> Int {
        node("GlobalAveragePool", [x], name: name, shape: TensorShape(channels: values[x].shape.channels, height: 1, width: 1))
    }

    mutating func linear(_ x: Int, outFeatures: Int, name: String) throws -> Int {
        let inFeatures = values[x].shape.elementCount
        let flat = node("Flatten", [x], name: name + ".flatten", shape: TensorShape(channels: inFeatures, height: 1, width: 1),
                        attributes: [.int("axis", 1)])
        let w = try weight(name + ".weight", count: outFeatures * inFeatures, dims: [outFeatures, inFeatures])
        let b = try weight(name + ".bias", count: outFeatures, dims: [outFeatures])
        return node("Gemm", [flat], extra: [w, b], name: name, shape: TensorShape(channels: outFeatures, height: 1, width: 1),
                    attributes: [.int("transB", 1)], outputName: "logits")
    }

    mutating func dropout(_ x: Int, rate: Float, name: String) throws -> Int { x }

    mutating func residual(_ x: Int, shortcut: Int, relu: Bool, name: String) throws -> Int {
        let target = values[x].shape
        var s = shortcut
        let source = values[s].shape
        if source.height != target.height || source.width != target.width {
            let stride = Int64(source.height / target.height)
            let starts = constant(name + ".shortcut.starts", [0, 0]), ends = constant(name + ".shortcut.ends", [Int64.max, Int64.max])
            let axes = constant(name + ".shortcut.axes", [2, 3]), steps = constant(name + ".shortcut.steps", [stride, stride])
            s = node("Slice", [s], extra: [starts, ends, axes, steps], name: name + ".shortcut.subsample",
                     shape: TensorShape(channels: source.channels, height: target.height, width: target.width))
        }
        if source.channels != target.channels {
            let added = Int64(target.channels - source.channels), before = added / 2
            let pads = constant(name + ".shortcut.pads", [0, before, 0, 0, 0, added - before, 0, 0])
            s = node("Pad", [s], extra: [pads], name: name + ".shortcut.pad", shape: target)
        }
        let sum = node("Add", [x, s], name: name, shape: target)
        return relu ? node("Relu", [sum], name: name + ".relu", shape: target) : sum
    }

    mutating func squeezeExcitation(_ x: Int, hidden: Int, name: String) throws -> Int {
        let s = values[x].shape, c = s.channels
        let pooled = node("GlobalAveragePool", [x], name: name + ".pool", shape: TensorShape(channels: c, height: 1, width: 1))
        let flat = node("Flatten", [pooled], name: name + ".flatten", shape: TensorShape(channels: c, height: 1, width: 1),
                        attributes: [.int("axis", 1)])
        let fc1 = node("Gemm", [flat], extra: [try weight(name + ".fc1.weight", count: hidden * c, dims: [hidden, c]),
                                               try weight(name + ".fc1.bias", count: hidden, dims: [hidden])],
                       name: name + ".fc1", shape: TensorShape(channels: hidden, height: 1, width: 1), attributes: [.int("transB", 1)])
        let relu = node("Relu", [fc1], name: name + ".relu", shape: TensorShape(channels: hidden, height: 1, width: 1))
        let fc2 = node("Gemm", [relu], extra: [try weight(name + ".fc2.weight", count: c * hidden, dims: [c, hidden]),
                                               try weight(name + ".fc2.bias", count: c, dims: [c])],
                       name: name + ".fc2", shape: TensorShape(channels: c, height: 1, width: 1), attributes: [.int("transB", 1)])
        let gate = node("Sigmoid", [fc2], name: name + ".sigmoid", shape: TensorShape(channels: c, height: 1, width: 1))
        // N × C back to N × C × 1 × 1, which `Mul` broadcasts over each plane.
        let planes = node("Unsqueeze", [gate], extra: [constant(name + ".axes", [2, 3])], name: name + ".unsqueeze",
                          shape: TensorShape(channels: c, height: 1, width: 1))
        return node("Mul", [x, planes], name: name, shape: s)
    }

    // MARK: Nodes

    /// The channel concatenation of `inputs` (the value itself for one).
    private mutating func concatenated(_ inputs: [Int], name: String) throws -> Int {
        guard inputs.count > 1 else { return inputs[0] }
        let s = values[inputs[0]].shape
        return node("Concat", inputs, name: name + ".concat",
                    shape: TensorShape(channels: try channels(inputs), height: s.height, width: s.width), attributes: [.int("axis", 1)])
    }

    /// `relu?(BatchNormalization(x))` with the batch norm `norm`'s tensors.
    private mutating func normalized(_ x: Int, norm: String, relu: Bool, name: String) throws -> Int {
        let s = values[x].shape, c = s.channels
        let inputs = try ["weight", "bias", "running_mean", "running_var"].map { try weight(norm + "." + $0, count: c, dims: [c]) }
        let y = node("BatchNormalization", [x], extra: inputs, name: norm, shape: s, attributes: [.float("epsilon", 1e-5)])
        return relu ? node("Relu", [y], name: norm + ".relu", shape: s) : y
    }

    /// A convolution with "same" padding and no bias.
    private mutating func convolved(_ x: Int, weight name: String, outChannels: Int, kernel: Int, stride: Int,
                                    name layer: String) throws -> Int {
        let s = values[x].shape, p = Int64(kernel / 2)
        let w = try weight(name, count: outChannels * s.channels * kernel * kernel, dims: [outChannels, s.channels, kernel, kernel])
        let out = TensorShape(channels: outChannels, height: (s.height + 2 * Int(p) - kernel) / stride + 1,
                              width: (s.width + 2 * Int(p) - kernel) / stride + 1)
        return node("Conv", [x], extra: [w], name: layer, shape: out,
                    attributes: [.ints("kernel_shape", [Int64(kernel), Int64(kernel)]), .ints("pads", [p, p, p, p]),
                                 .ints("strides", [Int64(stride), Int64(stride)])])
    }

    /// An attribute of a node.
    private enum Attribute {
        case int(String, Int64), ints(String, [Int64]), float(String, Float)

        var proto: ProtobufMessage {
            var a = ProtobufMessage()
            switch self {
            case let .int(name, v):
                a.string(1, name)
                a.integer(3, v)
                a.integer(20, 2)  // INT
            case let .ints(name, v):
                a.string(1, name)
                a.packedIntegers(8, v)
                a.integer(20, 7)  // INTS
            case let .float(name, v):
                a.string(1, name)
                a.float(2, v)
                a.integer(20, 1)  // FLOAT
            }
            return a
        }
    }

    /// Appends a node of `op` reading `inputs` (values) and then `extra` (initializer names),
    /// and returns its output value, named `outputName` or after the node.
    private mutating func node(_ op: String, _ inputs: [Int], extra: [String] = [], name: String, shape: TensorShape,
                               attributes: [Attribute] = [], outputName: String? = nil) -> Int {
        let output = outputName ?? name + ":" + op
        var n = ProtobufMessage()
        for i in inputs { n.string(1, values[i].name) }
        for e in extra { n.string(1, e) }
        n.string(2, output)
        n.string(3, name + ":" + op)
        n.string(4, op)
        for a in attributes { n.message(5, a.proto) }
        nodes.append(n)
        values.append((output, shape))
        return values.count - 1
    }

    /// The initializer of weight `name` (a ddptrain tensor), checked to hold `count` elements.
    private mutating func weight(_ name: String, count: Int, dims: [Int]) throws -> String {
        guard let w = weights[name] else {
            throw ModelError.invalidSetting(name: "tensor \(name)", value: "missing", rule: "every parameter and batch-norm buffer of the model is needed")
        }
        guard w.values.count == count else {
            throw ModelError.invalidSetting(name: "tensor \(name)", value: "\(w.values.count) elements",
                                            rule: "the layer needs \(count) (shape \(dims))")
        }
        if initialized.insert(name).inserted {
            var t = ProtobufMessage()
            t.packedIntegers(1, dims.map(Int64.init))
            t.integer(2, 1)  // FLOAT
            t.string(8, name)
            var raw: [UInt8] = []
            raw.reserveCapacity(4 * count)
            for v in w.values { withUnsafeBytes(of: v.bitPattern.littleEndian) { raw.append(contentsOf: $0) } }
            t.data(9, raw)
            initializers.append(t)
        }
        return name
    }

    /// An int64 vector initializer (the parameters of `Slice` and `Pad`).
    private mutating func constant(_ name: String, _ values: [Int64]) -> String {
        var t = ProtobufMessage()
        t.packedIntegers(1, [Int64(values.count)])
        t.integer(2, 7)  // INT64
        t.string(8, name)
        var raw: [UInt8] = []
        for v in values { withUnsafeBytes(of: v.littleEndian) { raw.append(contentsOf: $0) } }
        t.data(9, raw)
        initializers.append(t)
        return name
    }

    /// The GraphProto: nodes, initializers, the input and the output `output`.
    func proto(name: String, output: Int) throws -> ProtobufMessage {
        var g = ProtobufMessage()
        for n in nodes { g.message(1, n) }
        g.string(2, name)
        for t in initializers { g.message(5, t) }
        let x = values[input].shape, y = values[output].shape
        g.message(11, Self.valueInfo(values[input].name, dims: [nil, x.channels, x.height, x.width]))
        g.message(12, Self.valueInfo(values[output].name, dims: [nil, y.channels]))
        return g
    }

    /// A float tensor's ValueInfoProto; a nil dimension is the free batch size `N`.
    static func valueInfo(_ name: String, dims: [Int?]) -> ProtobufMessage {
        var shape = ProtobufMessage()
        for d in dims {
            var dim = ProtobufMessage()
            if let d { dim.integer(1, Int64(d)) } else { dim.string(2, "N") }
            shape.message(1, dim)
        }
        var tensor = ProtobufMessage()
        tensor.integer(1, 1)  // FLOAT
        tensor.message(2, shape)
        var type = ProtobufMessage()
        type.message(1, tensor)
        var info = ProtobufMessage()
        info.string(1, name)
        info.message(2, type)
        return info
    }
}
