/// The sizes of a 2-D convolution over one sample: square kernel, equal stride and zero padding
/// in both directions.
public struct ConvolutionGeometry: Hashable, Sendable {
    /// Input channels (the sum over all input segments).
    public var inChannels: Int
    /// Output channels.
    public var outChannels: Int
    /// Kernel side (1 for 1×1, 3 for 3×3).
    public var kernel: Int
    /// Stride in both directions.
    public var stride: Int
    /// Zero padding on every side.
    public var padding: Int
    /// Input height.
    public var inHeight: Int
    /// Input width.
    public var inWidth: Int

    /// Creates the geometry and checks that it yields at least one output pixel.
    public init(inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int,
                inHeight: Int, inWidth: Int) {
        precondition(kernel >= 1 && stride >= 1 && padding >= 0, "invalid convolution geometry")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.inHeight = inHeight
        self.inWidth = inWidth
        precondition(outHeight >= 1 && outWidth >= 1, "convolution produces an empty output")
    }

    /// Output height.
    public var outHeight: Int { (inHeight + 2 * padding - kernel) / stride + 1 }
    /// Output width.
    public var outWidth: Int { (inWidth + 2 * padding - kernel) / stride + 1 }
    /// Rows of the im2col matrix: one per (input channel, kernel row, kernel column).
    public var patchSize: Int { inChannels * kernel * kernel }
    /// Columns of the im2col matrix: one per output pixel.
    public var outPlane: Int { outHeight * outWidth }
    /// Input pixels per channel.
    public var inPlane: Int { inHeight * inWidth }
    /// Elements of the weight tensor (out × in × k × k).
    public var weightCount: Int { outChannels * patchSize }
    /// Multiply-accumulates for one sample's forward pass.
    public var macs: Int { outChannels * patchSize * outPlane }
    /// True when the convolution is a plain matrix product over channels (1×1, stride 1, no padding).
    public var isPointwise: Bool { kernel == 1 && stride == 1 && padding == 0 }

    /// The output shape for one sample.
    public var outShape: TensorShape {
        TensorShape(channels: outChannels, height: outHeight, width: outWidth)
    }
}
