/// Accumulated wall time per layer, for finding where a step's time goes (`ddptrain bench --profile`).
public final class LayerProfile {
    /// Nanoseconds spent in each layer's forward pass, by layer index.
    public var forward: [UInt64]
    /// Nanoseconds spent in each layer's backward pass, by layer index.
    public var backward: [UInt64]

    /// An empty profile for a graph of `layers` layers.
    public init(layers: Int) {
        forward = Array(repeating: 0, count: layers)
        backward = Array(repeating: 0, count: layers)
    }

    /// Forward and backward seconds summed by layer kind, largest total first.
    public func byKind(_ graph: Graph) -> [(kind: String, forward: Double, backward: Double)] {
        var totals: [String: (Double, Double)] = [:]
        for (i, layer) in graph.layers.enumerated() {
            let key = layer.kind.split(separator: " ").first.map(String.init) ?? layer.kind
            let t = totals[key] ?? (0, 0)
            totals[key] = (t.0 + Double(forward[i]) / 1e9, t.1 + Double(backward[i]) / 1e9)
        }
        return totals.map { (kind: $0.key, forward: $0.value.0, backward: $0.value.1) }
            .sorted { $0.forward + $0.backward > $1.forward + $1.backward }
    }
}
