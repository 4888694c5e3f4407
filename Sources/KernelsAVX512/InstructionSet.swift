/// What this module's build of the shared kernel sources (`ThreeByThreeTiles`) may use with
/// AVX-512: 32 zmm registers, so a tile holds 12 output channels of 16 pixels (one pass over the
/// input for DenseNet's growth rate 12) or 8 (whole blocks for ResNet's 16, 32 and 64). This file
/// is this module's own; KernelsAVX2 has its own copy with its own values.
enum InstructionSet {
    /// The tile channel blocks this build may pick from, preferred first.
    static let channelBlocks = [12, 8]
}
