/// What this module's build of the shared kernel sources (`ThreeByThreeTiles`, `WinogradTiles`)
/// may use with AVX-512: 32 zmm registers, so a tile holds 12 output channels of 16 pixels (one pass over the
/// input for DenseNet's growth rate 12) or 8 (whole blocks for ResNet's 16, 32 and 64). This file
/// is this module's own; KernelsAVX2 has its own copy with its own values.
enum InstructionSet {
    /// The tile channel blocks this build may pick from, preferred first.
    static let channelBlocks = [12, 8]

    /// How `WinogradTiles.interleave` spells its shuffle: by four even/odd splits, because with
    /// the setters LLVM turns the output transform into gathers for this target.
    static let interleavesBySplitting = true
}
