@testable import Engine
@testable import Models
import XCTest

final class ModelConfigurationTests: XCTestCase {
    func testNamesParseIntoThePapersDefaults() throws {
        let sparse = try ModelConfiguration(name: "sparsenet-40-24")
        XCTAssertEqual(sparse.family, .sparsenet)
        XCTAssertEqual(sparse.depth, 40)
        XCTAssertEqual(sparse.growthRate, 24)
        XCTAssertEqual(sparse.stemChannels, 48)
        XCTAssertFalse(sparse.bottleneck)
        XCTAssertEqual(sparse.compression, 1)
        XCTAssertEqual(sparse.unitsPerStage, 12)

        let dense = try ModelConfiguration(name: "densenet-40-12")
        XCTAssertEqual(dense.stemChannels, 16)
        XCTAssertEqual(dense.unitsPerStage, 12)

        let bc = try ModelConfiguration(name: "densenet-bc-100-12")
        XCTAssertTrue(bc.bottleneck)
        XCTAssertEqual(bc.compression, 0.5)
        XCTAssertEqual(bc.stemChannels, 24)
        XCTAssertEqual(bc.unitsPerStage, 16)

        let resnet = try ModelConfiguration(name: "ResNet-56")
        XCTAssertEqual(resnet.family, .resnet)
        XCTAssertEqual(resnet.unitsPerStage, 9)
    }

    func testCanonicalNamesRoundTrip() throws {
        for name in ModelConfiguration.namedModels {
            XCTAssertEqual(try ModelConfiguration(name: name).name, name)
        }
    }

    func testBadNamesAndDepthsAreRejectedWithActionableMessages() {
        for name in ["", "vgg-16", "sparsenet", "sparsenet-40", "resnet-20-12", "resnet-bc-20", "densenet-x-12"] {
            XCTAssertThrowsError(try ModelConfiguration(name: name), name) { error in
                XCTAssertEqual(error as? ModelError, .unknownName(name))
                XCTAssertTrue("\(error)".contains("sparsenet-40-24"), "the message lists valid names: \(error)")
            }
        }
        XCTAssertThrowsError(try ModelConfiguration(name: "resnet-21")) { error in
            XCTAssertTrue("\(error)".contains("6n+2"), "\(error)")
        }
        XCTAssertThrowsError(try ModelConfiguration(name: "densenet-41-12")) { error in
            XCTAssertTrue("\(error)".contains("3n+4"), "\(error)")
        }
        XCTAssertThrowsError(try ModelConfiguration(name: "densenet-bc-43-12")) { error in
            XCTAssertTrue("\(error)".contains("6n+4"), "\(error)")
        }
        var c = ModelConfiguration(family: .sparsenet, depth: 40, growthRate: 24)
        c.compression = 0
        XCTAssertThrowsError(try c.validate())
        c.compression = 1
        c.dropout = 1
        XCTAssertThrowsError(try c.validate())
    }

    func testSparseAggregationTakesOutputsAtPowerOfTwoOffsets() {
        let outputs = (0..<13).map { ValueID(index: $0) }
        // With 13 outputs (block input + 12 layers) the offsets 1, 2, 4, 8 pick indices 12, 11, 9, 5.
        XCTAssertEqual(ModelBuilder.aggregation(.sparsenet, outputs).map(\.index), [12, 11, 9, 5])
        XCTAssertEqual(ModelBuilder.aggregation(.sparsenet, Array(outputs.prefix(1))).map(\.index), [0])
        XCTAssertEqual(ModelBuilder.aggregation(.sparsenet, Array(outputs.prefix(4))).map(\.index), [3, 2, 0])
        XCTAssertEqual(ModelBuilder.aggregation(.densenet, outputs).map(\.index), Array(0..<13))
    }

    func testSparseNetChannelCountsGrowLogarithmically() throws {
        // SparseNet-40-24, block 1: layer n reads ⌊log2 n⌋ + 1 earlier outputs.
        let graph = try ModelBuilder.graph(named: "sparsenet-40-24")
        let firstBlock = graph.layers.compactMap { $0 as? ConvolutionLayer }.filter { $0.name.hasPrefix("block1.") }
        XCTAssertEqual(firstBlock.map(\.inputs.count), [1, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 4])
        XCTAssertEqual(firstBlock.first?.geometry.inChannels, 48)
        XCTAssertEqual(firstBlock.last?.geometry.inChannels, 4 * 24)
    }

    func testSummaryTableListsEveryLayerAndTheTotals() throws {
        let summary = ModelSummary(try ModelBuilder.graph(named: "resnet-20"))
        let text = summary.render(title: "resnet-20")
        XCTAssertTrue(text.contains("total parameters: 269,722"), text)
        XCTAssertTrue(text.contains("stage3.block3.conv2"), text)
        XCTAssertTrue(text.contains("64×8×8"), text)
        XCTAssertTrue(text.contains("head.fc"), text)
        XCTAssertEqual(summary.rows.count, text.split(separator: "\n").count - 8)
    }

    func testFlagsChangeTheArchitecture() throws {
        var c = try ModelConfiguration(name: "sparsenet-40-24")
        c.growthRate = 12
        c.stemChannels = 24
        let smaller = ModelSummary(try ModelBuilder.graph(for: c)).parameterCount
        XCTAssertLessThan(smaller, 748_522)
        c.dropout = 0.2
        let withDropout = try ModelBuilder.graph(for: c)
        XCTAssertEqual(withDropout.layers.filter { $0 is DropoutLayer }.count, 36)
        XCTAssertEqual(ModelSummary(withDropout).parameterCount, smaller)
    }
}
