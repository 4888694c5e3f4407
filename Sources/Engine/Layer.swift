/// Identifies one activation tensor (a node's output) in a network graph.
public struct ValueID: Hashable, Sendable {
    /// Index into the graph's value list.
    public let index: Int
}

/// Scratch space a layer needs while it runs, in floats.
public struct WorkspaceRequirement: Sendable {
    /// Per worker thread, for each of the two panels (`col` and `dcol`).
    public var panel = 0
    /// Per worker thread, for partial weight gradients.
    public var partial = 0
    /// Shared by all threads, per sample of the batch.
    public var sharedPerSample = 0

    /// No scratch.
    public init() {}

    /// The element-wise maximum of two requirements.
    public func union(_ o: WorkspaceRequirement) -> WorkspaceRequirement {
        var r = WorkspaceRequirement()
        r.panel = max(panel, o.panel)
        r.partial = max(partial, o.partial)
        r.sharedPerSample = max(sharedPerSample, o.sharedPerSample)
        return r
    }
}

/// One node of a network: reads its input values, writes its output value, and in `backward`
/// adds the gradient of its inputs and parameters.
///
/// Each conforming type keeps its forward and backward passes side by side. Layers are classes
/// because they hold per-step state (batch statistics, masks) between forward and backward.
public protocol Layer: AnyObject {
    /// Stable dotted name, the prefix of its parameters' names.
    var name: String { get }
    /// A short description of the operation for summaries, e.g. `bn-relu-conv3x3`.
    var kind: String { get }
    /// Input values (channel-concatenated in order where the layer takes several).
    var inputs: [ValueID] { get }
    /// The output value.
    var output: ValueID { get }
    /// The shape of the output for one sample.
    var outputShape: TensorShape { get }
    /// Trainable parameters, in layout order.
    var parameters: [ParameterDeclaration] { get }
    /// Persistent non-trainable buffers (batch-norm running statistics).
    var buffers: [ParameterDeclaration] { get }
    /// Multiply-accumulates of one sample's forward pass (convolutions and linear layers only), as
    /// the architecture counts them: a layer that computes the same result with fewer (see
    /// `PooledConvolutionLayer`) still reports the architecture's figure.
    var macsPerSample: Int { get }
    /// Scratch the layer needs.
    var workspace: WorkspaceRequirement { get }

    /// Binds the layer to its storage once, after the network has laid out its arenas.
    ///
    /// - Parameters:
    ///   - parameters: the first of this layer's parameters (declaration order, contiguous).
    ///   - gradients: the matching gradients.
    ///   - buffers: the first of this layer's buffers.
    func bind(parameters: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>,
              buffers: UnsafeMutablePointer<Float>, maxBatch: Int)
    /// Computes the output for `context.batch` samples.
    func forward(_ context: ExecutionContext)
    /// Adds input and parameter gradients given the output gradient.
    func backward(_ context: ExecutionContext)
}

extension Layer {
    public var parameters: [ParameterDeclaration] { [] }
    public var buffers: [ParameterDeclaration] { [] }
    public var macsPerSample: Int { 0 }
    public var workspace: WorkspaceRequirement { WorkspaceRequirement() }
    public func bind(parameters: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>,
                     buffers: UnsafeMutablePointer<Float>, maxBatch: Int) {}
    /// The number of trainable parameters.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }
}
