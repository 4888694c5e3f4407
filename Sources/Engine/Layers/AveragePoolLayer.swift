/// 2×2 average pooling with stride 2 (DenseNet and SparseNet transitions).
public final class AveragePoolLayer: Layer {
    public let name: String
    public let inputs: [ValueID]
    public let output: ValueID
    public let outputShape: TensorShape
    let inputShape: TensorShape

    /// Creates the layer for an input of `shape` (even height and width).
    public init(name: String, input: ValueID, output: ValueID, shape: TensorShape) {
        precondition(shape.height % 2 == 0 && shape.width % 2 == 0, "\(name): 2×2 pooling needs an even size, got \(shape)")
        self.name = name
        self.inputs = [input]
        self.output = output
        self.inputShape = shape
        self.outputShape = TensorShape(channels: shape.channels, height: shape.height / 2, width: shape.width / 2)
    }

    public var kind: String { "avgpool2x2" }

    public func forward(_ context: ExecutionContext) {
        let x = context.view(inputs[0]), y = context.view(output), s = inputShape
        context.pool.chunks(context.batch * s.channels) { planes, _ in
            for p in planes {
                Pooling.average2x2Forward(x.plane(p / s.channels, p % s.channels), y.plane(p / s.channels, p % s.channels),
                                          height: s.height, width: s.width)
            }
        }
    }

    public func backward(_ context: ExecutionContext) {
        context.claimGradientForAdding(inputs[0])
        let dy = context.gradient(output), dx = context.gradient(inputs[0])
        let s = inputShape
        context.pool.chunks(context.batch * s.channels) { planes, _ in
            for p in planes {
                Pooling.average2x2Backward(dy.plane(p / s.channels, p % s.channels), dx.plane(p / s.channels, p % s.channels),
                                           height: s.height, width: s.width)
            }
        }
    }
}

/// Global average pooling: each channel's plane becomes its mean (output `C × 1 × 1`).
public final class GlobalAveragePoolLayer: Layer {
    public let name: String
    public let inputs: [ValueID]
    public let output: ValueID
    public let outputShape: TensorShape
    let inputShape: TensorShape

    /// Creates the layer for an input of `shape`.
    public init(name: String, input: ValueID, output: ValueID, shape: TensorShape) {
        self.name = name
        self.inputs = [input]
        self.output = output
        self.inputShape = shape
        self.outputShape = TensorShape(channels: shape.channels, height: 1, width: 1)
    }

    public var kind: String { "global-avgpool" }

    public func forward(_ context: ExecutionContext) {
        let x = context.view(inputs[0]), y = context.view(output), s = inputShape
        for n in 0..<context.batch {
            for c in 0..<s.channels { y.plane(n, c)[0] = Pooling.globalAverageForward(x.plane(n, c), count: s.planeSize) }
        }
    }

    public func backward(_ context: ExecutionContext) {
        context.claimGradientForAdding(inputs[0])
        let dy = context.gradient(output), dx = context.gradient(inputs[0])
        let s = inputShape
        for n in 0..<context.batch {
            for c in 0..<s.channels { Pooling.globalAverageBackward(dy.plane(n, c)[0], dx.plane(n, c), count: s.planeSize) }
        }
    }
}
