import KernelsAVX2
import KernelsAVX512

/// Dispatch of the Winograd F(2×2, 3×3) loops (`WinogradTiles`, compiled once per instruction
/// set like the direct tiles) to the module of this kernel set.
extension KernelSet {
    /// Runs this set's `WinogradTiles.transformInput` for one block of 16 tiles.
    @inline(__always)
    func winogradTransformInput(planes: UnsafePointer<Float>, inChannels: Int, height: Int, width: Int,
                                block: Int, into v: UnsafeMutablePointer<Float>) {
        switch self {
        case .avx512:
            KernelsAVX512.WinogradTiles.transformInput(planes: planes, inChannels: inChannels, height: height,
                                                       width: width, block: block, into: v)
        case .avx2:
            KernelsAVX2.WinogradTiles.transformInput(planes: planes, inChannels: inChannels, height: height,
                                                     width: width, block: block, into: v)
        }
    }

    /// Runs this set's `WinogradTiles.multiply` (element products and output transform) for one
    /// block of 16 tiles.
    @inline(__always)
    func winogradMultiply(transformed v: UnsafePointer<Float>, inChannels: Int, outChannels: Int,
                          weights u: UnsafePointer<Float>, bias: UnsafePointer<Float>?, height: Int, width: Int,
                          block: Int, output: UnsafeMutablePointer<Float>, accumulate: Bool,
                          products: UnsafeMutablePointer<Float>) {
        switch self {
        case .avx512:
            KernelsAVX512.WinogradTiles.multiply(
                transformed: v, inChannels: inChannels, outChannels: outChannels, weights: u, bias: bias,
                height: height, width: width, block: block, output: output, accumulate: accumulate, products: products)
        case .avx2:
            KernelsAVX2.WinogradTiles.multiply(
                transformed: v, inChannels: inChannels, outChannels: outChannels, weights: u, bias: bias,
                height: height, width: width, block: block, output: output, accumulate: accumulate, products: products)
        }
    }
}
