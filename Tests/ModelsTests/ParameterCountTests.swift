import Engine
@testable import Models
import XCTest

/// The named models must match `shared/reference/models.md`, counted from independent PyTorch
/// implementations of the same architectures.
final class ParameterCountTests: XCTestCase {
    /// (name, parameters, forward MACs in millions to 0.1, conv layers, BN layers) from the reference table.
    static let reference: [(String, Int, Double, Int, Int)] = [
        ("resnet-20", 269_722, 40.6, 19, 19),
        ("resnet-56", 853_018, 125.5, 55, 55),
        ("resnet-110", 1_727_962, 252.9, 109, 109),
        ("densenet-40-12", 1_019_722, 264.8, 39, 39),
        ("densenet-100-12", 6_979_642, 1769.5, 99, 99),
        ("densenet-bc-100-12", 769_162, 287.9, 99, 99),
        ("sparsenet-40-24", 748_522, 312.1, 39, 39),
        ("sparsenet-100-24", 2_509_354, 1050.1, 99, 99),
        ("sparsenet-bc-100-24", 1_450_234, 641.0, 99, 99),
    ]

    /// (name, parameters) of squeeze-and-excitation models, counted by PyTorch from the independent
    /// definition in Scripts/ddptrain_torch.py (`sum(p.numel() for p in
    /// build_model(model_config(name)).parameters())`, PyTorch 2.13, 2026-12-08), not by ddptrain.
    static let squeezeExcitationReference: [(String, Int)] = [
        ("se-resnet-20", 272_095),
        ("se-resnet-56", 860_137),
        ("se-resnet-110", 1_742_200),
        ("se-densenet-40-12", 1_021_054),
        ("se-densenet-bc-100-12", 770_938),
        ("se-sparsenet-40-24", 751_150),
        ("se-sparsenet-bc-100-24", 1_453_738),
    ]

    /// (name, parameters) of separable models, counted by PyTorch from the independent definition in
    /// Scripts/ddptrain_torch.py (`nn.Conv2d(C, C, 3, groups=C)` then a 1×1 `nn.Conv2d`; the same
    /// `sum(p.numel() ...)`, PyTorch 2.13, 2026-12-07), not by ddptrain: one of each family, and
    /// separable with SE units.
    static let separableReference: [(String, Int)] = [
        ("sep-resnet-20", 37_770),
        ("sep-densenet-40-12", 311_890),
        ("sep-densenet-bc-100-12", 568_714),
        ("sep-sparsenet-40-24", 138_034),
        ("sep-sparsenet-bc-100-24", 606_970),
        ("se-sep-resnet-20", 40_143),
        ("se-sep-sparsenet-40-24", 140_662),
    ]

    /// A separable model has PyTorch's parameter count; every 3×3 convolution after the stem is a
    /// depthwise 3×3 (with its stride and fused batch norm) and a pointwise 1×1, so it has one
    /// more convolution per 3×3, the same batch norms, and per 3×3 over C inputs to C' outputs
    /// `9·C + C·C'` MACs per output pixel instead of `9·C·C'`.
    func testSeparableModelsMatchPyTorchsParameterCountsAndCountTheirUnits() throws {
        for (name, parameters) in Self.separableReference {
            let graph = try ModelBuilder.graph(named: name)
            let summary = ModelSummary(graph)
            XCTAssertEqual(summary.parameterCount, parameters, "\(name) parameters")
            let plainName = name.replacingOccurrences(of: "sep-", with: "")
            let plainGraph = try ModelBuilder.graph(named: plainName)
            let plain = ModelSummary(plainGraph)
            let depthwise = graph.layers.compactMap { $0 as? DepthwiseConvolutionLayer }
            let replaced = plainGraph.layers.compactMap { $0 as? ConvolutionLayer }.filter { $0.geometry.kernel == 3 }.dropFirst()
            XCTAssertEqual(depthwise.count, replaced.count, "\(name): every 3×3 after the stem")
            XCTAssertEqual(summary.convolutionCount, plain.convolutionCount + depthwise.count, name)
            XCTAssertEqual(summary.batchNormCount, plain.batchNormCount, name)
            let saved = replaced.reduce(0) { total, conv in
                let g = conv.geometry
                return total + g.macs - (9 * g.inChannels * g.outPlane + g.inChannels * g.outChannels * g.outPlane)
            }
            XCTAssertEqual(summary.macs, plain.macs - saved, "\(name) MACs")
            for layer in depthwise {
                let pointwise = graph.layers.first { $0.name == layer.name + ".pointwise" }
                XCTAssertEqual(pointwise?.inputs, [layer.output], "\(layer.name): the pointwise 1×1 follows directly")
                XCTAssertEqual(pointwise?.kind, "conv1x1")
            }
        }
        let resnet = try ModelBuilder.graph(named: "sep-resnet-20")
        XCTAssertEqual(resnet.layers.compactMap { ($0 as? DepthwiseConvolutionLayer)?.geometry.stride }.filter { $0 == 2 }.count, 2,
                       "the two downsampling 3×3s become stride-2 depthwise convolutions")
    }

    /// An SE model has its plain model's parameters plus PyTorch's count of the units, its
    /// convolutions and batch norms, and its plain model's MACs plus two products of C × hidden
    /// per unit (the only MACs a unit counts).
    func testSqueezeExcitationModelsMatchPyTorchsParameterCounts() throws {
        for (name, parameters) in Self.squeezeExcitationReference {
            let graph = try ModelBuilder.graph(named: name)
            let summary = ModelSummary(graph)
            XCTAssertEqual(summary.parameterCount, parameters, "\(name) parameters")
            let plain = ModelSummary(try ModelBuilder.graph(named: String(name.dropFirst(3))))
            XCTAssertEqual(summary.convolutionCount, plain.convolutionCount, name)
            XCTAssertEqual(summary.batchNormCount, plain.batchNormCount, name)
            let units = graph.layers.compactMap { $0 as? SqueezeExcitationLayer }
            XCTAssertEqual(units.count, try ModelConfiguration(name: name).unitsPerStage * 3, "\(name): one unit per block or layer")
            let unitMACs = units.reduce(0) { $0 + 2 * $1.shape.channels * max(1, $1.shape.channels / 16) }
            XCTAssertEqual(summary.macs, plain.macs + unitMACs, "\(name) MACs")
        }
    }

    func testEveryNamedModelMatchesTheReferenceTable() throws {
        XCTAssertEqual(Set(Self.reference.map(\.0)), Set(ModelConfiguration.namedModels))
        for (name, parameters, macs, convs, norms) in Self.reference {
            let summary = ModelSummary(try ModelBuilder.graph(named: name))
            XCTAssertEqual(summary.parameterCount, parameters, "\(name) parameters")
            XCTAssertEqual((Double(summary.macs) / 1e5).rounded() / 10, macs, "\(name) forward MACs (M)")
            XCTAssertEqual(summary.convolutionCount, convs, "\(name) convolutions")
            XCTAssertEqual(summary.batchNormCount, norms, "\(name) batch norms")
        }
    }
}
