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
