/// The shape of one sample's activation: channels × height × width (the batch dimension is
/// kept separately because a network is allocated for a maximum batch and run on any smaller one).
public struct TensorShape: Hashable, Sendable, CustomStringConvertible {
    /// Number of channels.
    public var channels: Int
    /// Height in pixels.
    public var height: Int
    /// Width in pixels.
    public var width: Int

    /// Creates a shape of `channels` planes of `height` × `width`.
    public init(channels: Int, height: Int, width: Int) {
        self.channels = channels
        self.height = height
        self.width = width
    }

    /// Elements in one spatial plane.
    public var planeSize: Int { height * width }
    /// Elements in one sample (channels × height × width).
    public var elementCount: Int { channels * height * width }

    public var description: String { "\(channels)×\(height)×\(width)" }
}

/// A batch of activations in NCHW layout: sample `n`, channel `c` starts at
/// `base + n * sampleStride + c * planeSize`. `sampleStride` may exceed `channels * planeSize`
/// when the view is a channel slice of a larger tensor.
public struct TensorView {
    /// The first element of sample 0, channel 0.
    public var base: UnsafeMutablePointer<Float>
    /// The shape of one sample.
    public var shape: TensorShape
    /// The distance in elements between consecutive samples.
    public var sampleStride: Int

    /// A view of a densely packed NCHW batch.
    public init(base: UnsafeMutablePointer<Float>, shape: TensorShape) {
        self.base = base
        self.shape = shape
        self.sampleStride = shape.elementCount
    }

    /// A view with an explicit sample stride.
    public init(base: UnsafeMutablePointer<Float>, shape: TensorShape, sampleStride: Int) {
        self.base = base
        self.shape = shape
        self.sampleStride = sampleStride
    }

    /// The plane of channel `c` of sample `n`.
    @inline(__always)
    public func plane(_ n: Int, _ c: Int) -> UnsafeMutablePointer<Float> {
        base + n * sampleStride + c * shape.planeSize
    }

    /// The first element of sample `n`.
    @inline(__always)
    public func sample(_ n: Int) -> UnsafeMutablePointer<Float> { base + n * sampleStride }
}
