/// DenseNet: G. Huang, Z. Liu, L. van der Maaten and K. Q. Weinberger, "Densely Connected
/// Convolutional Networks", CVPR 2017. Every layer of a block reads the concatenation of the
/// block input and all earlier layers' outputs (k channels each), so a block's width grows
/// linearly. `densenet-40-12` has a 16-channel stem; the BC variant (`densenet-bc-100-12`) adds a
/// 1×1 bottleneck of 4k channels to each layer, halves the channels at each transition, and starts
/// from 2k channels. Depth 3n + 4 (6n + 4 with the bottleneck).
enum DenseNet: AggregatingFamily {
    static let family = ModelFamily.densenet

    static func defaultStemChannels(bc: Bool, growthRate k: Int) -> Int { bc ? 2 * k : 16 }

    /// All of them.
    static func aggregation<Value>(_ outputs: [Value]) -> [Value] { outputs }
}
