/// What this module's build of the shared kernel sources (`ThreeByThreeTiles`, `WinogradTiles`)
/// may use with AVX2: 16 ymm registers, so a tile holds at most 6 output channels of 16 pixels (12 registers) next
/// to the input vector and a broadcast weight. This file is this module's own; KernelsAVX512 has
/// its own copy with its own values.
enum InstructionSet {
    /// The tile channel blocks this build may pick from, preferred first.
    static let channelBlocks = [6]

    /// How `WinogradTiles.interleave` spells its shuffle: with the `evenHalf`/`oddHalf` setters,
    /// which LLVM compiles best for this target.
    static let interleavesBySplitting = false
}
