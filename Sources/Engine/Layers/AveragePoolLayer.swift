/// Average pooling of each plane: over 2×2 windows with stride 2 (DenseNet and SparseNet
/// transitions) or over the whole plane (global average pooling before the classifier).
public final class AveragePoolLayer: Layer {
    /// The window one output element averages.
    public enum Window: Sendable {
        /// 2×2 windows with stride 2: an even `H × W` plane becomes `H/2 × W/2`.
        case twoByTwo
        /// The whole plane: `H × W` becomes `1 × 1`, its mean.
        case wholePlane
    }

    public let name: String
    public let inputs: [ValueID]
    public let output: ValueID
    public let outputShape: TensorShape
    /// What each output element averages.
    public let window: Window
    let inputShape: TensorShape

    /// Creates the layer for an input of `shape` (even height and width for 2×2 windows).
    public init(name: String, input: ValueID, output: ValueID, shape: TensorShape, window: Window) {
        switch window {
        case .twoByTwo:
            precondition(shape.height % 2 == 0 && shape.width % 2 == 0, "\(name): 2×2 pooling needs an even size, got \(shape)")
            outputShape = TensorShape(channels: shape.channels, height: shape.height / 2, width: shape.width / 2)
        case .wholePlane:
            outputShape = TensorShape(channels: shape.channels, height: 1, width: 1)
        }
        self.name = name
        self.inputs = [input]
        self.output = output
        self.inputShape = shape
        self.window = window
    }

    public var kind: String {
        switch window {
        case .twoByTwo: "avgpool2x2"
        case .wholePlane: "global-avgpool"
        }
    }

    public func forward(_ context: ExecutionContext) {
        let x = context.view(inputs[0]), y = context.view(output), s = inputShape
        switch window {
        case .twoByTwo:
            eachPlane(context) { n, c in Pooling.average2x2Forward(x.plane(n, c), y.plane(n, c), height: s.height, width: s.width) }
        case .wholePlane:
            eachPlane(context) { n, c in y.plane(n, c)[0] = Pooling.globalAverageForward(x.plane(n, c), count: s.planeSize) }
        }
    }

    public func backward(_ context: ExecutionContext) {
        context.claimGradientForAdding(inputs[0])
        let dy = context.gradient(output), dx = context.gradient(inputs[0]), s = inputShape
        switch window {
        case .twoByTwo:
            eachPlane(context) { n, c in Pooling.average2x2Backward(dy.plane(n, c), dx.plane(n, c), height: s.height, width: s.width) }
        case .wholePlane:
            eachPlane(context) { n, c in Pooling.globalAverageBackward(dy.plane(n, c)[0], dx.plane(n, c), count: s.planeSize) }
        }
    }

    /// Calls `body(sample, channel)` for every plane of the batch, the planes split across the
    /// pool's workers (one closure call a plane, not an element).
    private func eachPlane(_ context: ExecutionContext, _ body: (_ sample: Int, _ channel: Int) -> Void) {
        let channels = inputShape.channels
        context.pool.chunks(context.batch * channels) { planes, _ in
            for p in planes { body(p / channels, p % channels) }
        }
    }
}
