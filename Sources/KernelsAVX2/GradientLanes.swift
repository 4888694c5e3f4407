// The AVX2 build's choices for `ThreeByThreeWeightGradient` (a per-module file, not shared with
// KernelsAVX512, which has its own).

/// The vector of the weight-gradient loops: one ymm register (8 floats). With 16 vector
/// registers, a tile of 4 output channels × 3 taps (12 accumulators, 3 input vectors and one
/// gradient vector) is the largest that does not spill.
typealias GradientLanes = SIMD8<Float>

/// Whether the weight gradient runs tiles of 8 output channels (24 accumulators): no, they would
/// spill with 16 registers.
let gradientEightChannelTiles = false

/// Folds a gradient vector to 8 partial sums (it already has 8 lanes).
@inline(__always)
func foldToEight(_ v: GradientLanes) -> SIMD8<Float> { v }

/// Input channels per tile of the channel products (`ChannelProducts`, the 1×1 and Winograd
/// weight gradients): 2, so that 4 × 2 accumulators and 6 operand vectors fit
/// the 16 registers.
let channelProductInputChannels = 2

/// Input channels per tile of the broadcast weight gradient (`BroadcastWeightGradient`): 4, so
/// that 4 × 3 accumulators, the gradient vector and a broadcast input fit the 16 registers.
let broadcastGradientInputChannels = 4

/// Whether the broadcast weight gradient takes two blocks of output channels per tile: no: 24 accumulators would spill the 16 registers.
let broadcastGradientBlockPairs = false
