// The AVX-512 build's choices for `ThreeByThreeWeightGradient` (a per-module file, not shared
// with KernelsAVX2, which has its own).

/// The vector of the weight-gradient loops: one zmm register (16 floats).
typealias GradientLanes = SIMD16<Float>

/// Whether the weight gradient runs tiles of 8 output channels × 3 taps: yes, 24 accumulators,
/// 3 input vectors and one gradient vector fit the 32 vector registers, and each input vector
/// then feeds 8 FMAs instead of 4 (11 loads per 24 FMAs instead of 7 per 12). On AMD Zen 4,
/// which splits 512-bit FMAs in two, 8- and 4-channel tiles measured the same; the fewer loads
/// are for CPUs with two 512-bit FMA units.
let gradientEightChannelTiles = true

/// Folds a gradient vector to 8 partial sums (its two 8-lane halves added).
@inline(__always)
func foldToEight(_ v: GradientLanes) -> SIMD8<Float> { v.lowHalf + v.highHalf }

/// Input channels per tile of the channel products (`ChannelProducts`, the 1×1 and Winograd
/// weight gradients): 4, so that each of the 8 operand vectors feeds 4 FMAs
/// (16 accumulators and 8 operands in the 32 registers).
let channelProductInputChannels = 4

/// Input channels per tile of the broadcast weight gradient (`BroadcastWeightGradient`): 8, so
/// that each gradient vector feeds 24 FMAs (8 × 3 accumulators in the 32 registers).
let broadcastGradientInputChannels = 8

/// Whether the broadcast weight gradient takes two blocks of output channels per tile: yes: 4 inputs × 3 taps × 2 blocks are 24 accumulators, and each broadcast input feeds 2 FMAs.
let broadcastGradientBlockPairs = true
