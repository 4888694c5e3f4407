/// SparseNet: L. Zhu, R. Deng, M. Maire, Z. Deng, G. Mori and P. Tan, "Sparsely Aggregated
/// Convolutional Networks", ECCV 2018. DenseNet's blocks, but layer i reads only the outputs 1, 2,
/// 4, 8, … layers back (exponential aggregation), so a layer's input grows as O(log n) instead of
/// O(n) and deeper, wider blocks stay affordable. The stem has 2k channels; `-bc` adds the
/// bottleneck and 0.5 compression as in DenseNet-BC.
enum SparseNet: AggregatingFamily {
    static let family = ModelFamily.sparsenet

    static func defaultStemChannels(bc: Bool, growthRate k: Int) -> Int { 2 * k }

    /// Those at offsets 1, 2, 4, 8, … back from the end, nearest first.
    static func aggregation<Value>(_ outputs: [Value]) -> [Value] {
        var picked: [Value] = []
        var offset = 1
        while offset <= outputs.count {
            picked.append(outputs[outputs.count - offset])
            offset *= 2
        }
        return picked
    }
}
