import Foundation
import Engine

/// A Keras-style table of a graph: one row per layer with its output shape, parameters and
/// multiply-accumulates, then the totals.
public struct ModelSummary {
    /// One table row.
    public struct Row: Sendable {
        /// Layer name.
        public var name: String
        /// Operation.
        public var kind: String
        /// Output shape of one sample.
        public var outputShape: TensorShape
        /// Trainable parameters.
        public var parameters: Int
        /// Forward multiply-accumulates per sample.
        public var macs: Int
    }

    /// Rows in forward order.
    public let rows: [Row]
    /// Total trainable parameters.
    public let parameterCount: Int
    /// Total forward multiply-accumulates per sample.
    public let macs: Int
    /// Convolution layers (a separable convolution's depthwise and pointwise halves count as two).
    public let convolutionCount: Int
    /// Batch-norm layers, fused or standalone.
    public let batchNormCount: Int

    /// Summarises `graph`, adding up its totals with checked arithmetic: a total that does not fit
    /// in `Int` is shown as `Int.max`, which the graph of a configuration that
    /// `ModelConfiguration.validate()` accepts never reaches (validation counts the same totals).
    public init(_ graph: Graph) {
        rows = graph.layers.map {
            Row(name: $0.name, kind: $0.kind, outputShape: $0.outputShape, parameters: $0.parameterCount, macs: $0.macsPerSample)
        }
        parameterCount = (try? SizeArithmetic.sum(rows.map(\.parameters))) ?? .max
        macs = (try? SizeArithmetic.sum(rows.map(\.macs))) ?? .max
        convolutionCount = graph.layers.filter { $0 is ConvolutionLayer || $0 is PooledConvolutionLayer || $0 is DepthwiseConvolutionLayer }.count
        batchNormCount = graph.layers.filter {
            ($0 as? ConvolutionLayer)?.preactivation == true || ($0 as? DepthwiseConvolutionLayer)?.preactivation == true
                || $0 is BatchNormLayer || $0 is PooledConvolutionLayer || $0 is NormalizedResidualLayer
        }.count
    }

    /// The table as text.
    public func render(title: String) -> String {
        let header = ["layer", "operation", "output", "params", "MACs"]
        let grouped = ModelError.grouped
        var table = rows.map { [$0.name, $0.kind, $0.outputShape.description, grouped($0.parameters), grouped($0.macs)] }
        table.insert(header, at: 0)
        let widths = (0..<header.count).map { col in table.map { $0[col].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                return i >= 3 ? pad + cell : cell + pad
            }.joined(separator: "  ")
        }
        let rule = String(repeating: "─", count: widths.reduce(0, +) + 2 * (widths.count - 1))
        var out = [title, rule, line(table[0]), rule]
        out += table.dropFirst().map(line)
        out.append(rule)
        out.append("total parameters: \(grouped(parameterCount))")
        out.append("forward MACs per 32×32 sample: \(grouped(macs)) (\(String(format: "%.1f", Double(macs) / 1e6)) M)")
        out.append("convolutions: \(convolutionCount), batch norms: \(batchNormCount), layers in graph: \(rows.count)")
        return out.joined(separator: "\n")
    }
}
