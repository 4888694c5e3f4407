import KernelsAVX2
import KernelsAVX512

extension KernelSet {
    /// Floats per vector of this set's weight-gradient loops: the flattened length they run over
    /// must be a multiple of it.
    var weightGradientLanes: Int {
        switch self {
        case .avx512: KernelsAVX512.ThreeByThreeWeightGradient.lanes
        case .avx2: KernelsAVX2.ThreeByThreeWeightGradient.lanes
        }
    }

    /// Runs this set's 3×3 weight-gradient dot products (`ThreeByThreeWeightGradient.weightGradient`).
    @inline(__always)
    func weightGradient3x3(inputs: UnsafePointer<Float>, inputStride: Int, inChannels: Int,
                           outputGradient: UnsafePointer<Float>, outputGradientStride: Int, outChannels: Int,
                           taps: UnsafePointer<Int>, length: Int, weightGradient: UnsafeMutablePointer<Float>,
                           accumulate: Bool) {
        switch self {
        case .avx512:
            KernelsAVX512.ThreeByThreeWeightGradient.weightGradient(
                inputs: inputs, inputStride: inputStride, inChannels: inChannels, outputGradient: outputGradient,
                outputGradientStride: outputGradientStride, outChannels: outChannels, taps: taps,
                length: length, weightGradient: weightGradient, accumulate: accumulate)
        case .avx2:
            KernelsAVX2.ThreeByThreeWeightGradient.weightGradient(
                inputs: inputs, inputStride: inputStride, inChannels: inChannels, outputGradient: outputGradient,
                outputGradientStride: outputGradientStride, outChannels: outChannels, taps: taps,
                length: length, weightGradient: weightGradient, accumulate: accumulate)
        }
    }

    /// Output channels per block of this set's broadcast weight gradient (its vector width).
    var broadcastGradientLanes: Int {
        switch self {
        case .avx512: KernelsAVX512.BroadcastWeightGradient.lanes
        case .avx2: KernelsAVX2.BroadcastWeightGradient.lanes
        }
    }

    /// Runs this set's 3×3 stride-1 weight gradient with output channels in the vector lanes
    /// (`BroadcastWeightGradient.weightGradient`).
    @inline(__always)
    func broadcastWeightGradient3x3(inputs: UnsafePointer<Float>, inputStride: Int, inChannels: Int,
                                    gradients: UnsafePointer<Float>, blockStride: Int, outChannels: Int,
                                    taps: UnsafePointer<Int>, length: Int, weightGradient: UnsafeMutablePointer<Float>,
                                    accumulate: Bool) {
        switch self {
        case .avx512:
            KernelsAVX512.BroadcastWeightGradient.weightGradient(
                inputs: inputs, inputStride: inputStride, inChannels: inChannels, gradients: gradients,
                blockStride: blockStride, outChannels: outChannels, taps: taps, length: length,
                weightGradient: weightGradient, accumulate: accumulate)
        case .avx2:
            KernelsAVX2.BroadcastWeightGradient.weightGradient(
                inputs: inputs, inputStride: inputStride, inChannels: inChannels, gradients: gradients,
                blockStride: blockStride, outChannels: outChannels, taps: taps, length: length,
                weightGradient: weightGradient, accumulate: accumulate)
        }
    }

    /// Runs this set's channel products `m[co][ci] = Σ_t gradient[co][t] · input[ci][t]`
    /// (`ChannelProducts.products`; `length` a multiple of `weightGradientLanes`).
    @inline(__always)
    func channelProducts(gradient: UnsafePointer<Float>, gradientStride: Int, outChannels: Int,
                         input: UnsafePointer<Float>, inputStride: Int, inChannels: Int, length: Int,
                         into m: UnsafeMutablePointer<Float>, accumulate: Bool) {
        switch self {
        case .avx512:
            KernelsAVX512.ChannelProducts.products(
                gradient: gradient, gradientStride: gradientStride, outChannels: outChannels, input: input,
                inputStride: inputStride, inChannels: inChannels, length: length, into: m, accumulate: accumulate)
        case .avx2:
            KernelsAVX2.ChannelProducts.products(
                gradient: gradient, gradientStride: gradientStride, outChannels: outChannels, input: input,
                inputStride: inputStride, inChannels: inChannels, length: length, into: m, accumulate: accumulate)
        }
    }
}
