import KernelsAVX2
import KernelsAVX512

/// Dispatch of the Winograd weight gradient's loops (`WinogradWeightGradient`, and the input
/// transform with the strides it lays the tiles out with) to the module of this kernel set.
extension KernelSet {
    /// Floats per vector of this set's `WinogradWeightGradient.products`: the tile count must be a
    /// multiple of it.
    var winogradGradientLanes: Int {
        switch self {
        case .avx512: KernelsAVX512.WinogradWeightGradient.lanes
        case .avx2: KernelsAVX2.WinogradWeightGradient.lanes
        }
    }

    /// Runs this set's `WinogradTiles.transformInput` for one block, with the given strides.
    @inline(__always)
    func winogradTransformInput(planes: UnsafePointer<Float>, inChannels: Int, height: Int, width: Int, block: Int,
                                into v: UnsafeMutablePointer<Float>, channelStride: Int, elementStride: Int) {
        switch self {
        case .avx512:
            KernelsAVX512.WinogradTiles.transformInput(planes: planes, inChannels: inChannels, height: height,
                                                       width: width, block: block, into: v,
                                                       channelStride: channelStride, elementStride: elementStride)
        case .avx2:
            KernelsAVX2.WinogradTiles.transformInput(planes: planes, inChannels: inChannels, height: height,
                                                     width: width, block: block, into: v,
                                                     channelStride: channelStride, elementStride: elementStride)
        }
    }

    /// Runs this set's `WinogradWeightGradient.transformGradient` for one block.
    @inline(__always)
    func winogradTransformGradient(planes: UnsafePointer<Float>, channels: Int, height: Int, width: Int, block: Int,
                                   into: UnsafeMutablePointer<Float>, channelStride: Int, elementStride: Int) {
        switch self {
        case .avx512:
            KernelsAVX512.WinogradWeightGradient.transformGradient(
                planes: planes, channels: channels, height: height, width: width, block: block, into: into,
                channelStride: channelStride, elementStride: elementStride)
        case .avx2:
            KernelsAVX2.WinogradWeightGradient.transformGradient(
                planes: planes, channels: channels, height: height, width: width, block: block, into: into,
                channelStride: channelStride, elementStride: elementStride)
        }
    }

    /// Runs this set's `WinogradWeightGradient.products`.
    @inline(__always)
    func winogradWeightProducts(gradient: UnsafePointer<Float>, outChannels: Int, input: UnsafePointer<Float>,
                                inChannels: Int, tiles: Int, into m: UnsafeMutablePointer<Float>, accumulate: Bool) {
        switch self {
        case .avx512:
            KernelsAVX512.WinogradWeightGradient.products(gradient: gradient, outChannels: outChannels, input: input,
                                                          inChannels: inChannels, tiles: tiles, into: m,
                                                          accumulate: accumulate)
        case .avx2:
            KernelsAVX2.WinogradWeightGradient.products(gradient: gradient, outChannels: outChannels, input: input,
                                                        inChannels: inChannels, tiles: tiles, into: m,
                                                        accumulate: accumulate)
        }
    }
}
