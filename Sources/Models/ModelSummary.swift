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
    public var parameterCount: Int { rows.reduce(0) { $0 + $1.parameters } }
    /// Total forward multiply-accumulates per sample.
    public var macs: Int { rows.reduce(0) { $0 + $1.macs } }
    /// Convolution layers.
    public let convolutionCount: Int
    /// Batch-norm layers, fused or standalone.
    public let batchNormCount: Int

    /// Summarises `graph`.
    public init(_ graph: Graph) {
        rows = graph.layers.map {
            Row(name: $0.name, kind: $0.kind, outputShape: $0.outputShape, parameters: $0.parameterCount, macs: $0.macsPerSample)
        }
        convolutionCount = graph.layers.filter { $0 is ConvolutionLayer }.count
        batchNormCount = graph.layers.filter {
            ($0 as? ConvolutionLayer)?.preactivation == true || $0 is BatchNormLayer
        }.count
    }

    /// The table as text.
    public func render(title: String) -> String {
        let header = ["layer", "operation", "output", "params", "MACs"]
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

    private func grouped(_ n: Int) -> String {
        let s = String(n)
        var out = ""
        for (i, ch) in s.enumerated() {
            if i > 0 && (s.count - i) % 3 == 0 { out.append(",") }
            out.append(ch)
        }
        return out
    }
}
