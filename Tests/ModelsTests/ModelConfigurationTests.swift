import Foundation
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

    // MARK: Squeeze-and-excitation

    func testSEPrefixAddsUnitsWithRatioSixteenToEveryFamily() throws {
        for name in ["se-resnet-20", "se-resnet-56", "se-densenet-40-12", "se-densenet-bc-100-12", "se-sparsenet-40-24",
                     "se-sparsenet-bc-100-24"] {
            let c = try ModelConfiguration(name: name)
            XCTAssertEqual(c.seRatio, 16, name)
            XCTAssertEqual(c.name, name, "the name round-trips")
            var plain = c
            plain.seRatio = nil
            XCTAssertEqual(plain, try ModelConfiguration(name: String(name.dropFirst(3))), "\(name) is its plain model plus units")
        }
        XCTAssertNil(try ModelConfiguration(name: "resnet-20").seRatio)
    }

    func testSEFlagSetsTheRatioOnAnyFamilyAndRefusesRatiosBelowOne() throws {
        let resnet = try ModelConfiguration(name: "resnet-20").applying(ModelOverrides(seRatio: 4))
        XCTAssertEqual(resnet.seRatio, 4)
        XCTAssertEqual(resnet.name, "se-resnet-20")
        let units = try ModelBuilder.graph(for: resnet).layers.compactMap { $0 as? SqueezeExcitationLayer }
        XCTAssertEqual(units.map(\.shape.hidden), [4, 4, 4, 8, 8, 8, 16, 16, 16], "hidden width ⌊C/4⌋")
        let sparse = try ModelConfiguration(name: "se-sparsenet-40-24").applying(ModelOverrides(seRatio: 100))
        let hidden = try ModelBuilder.graph(for: sparse).layers.compactMap { ($0 as? SqueezeExcitationLayer)?.shape.hidden }
        XCTAssertEqual(Set(hidden), [1], "max(1, ⌊24/100⌋)")
        XCTAssertEqual(hidden.count, 36)
        for ratio in [0, -3] {
            XCTAssertThrowsError(try ModelConfiguration(name: "densenet-40-12").applying(ModelOverrides(seRatio: ratio))) {
                XCTAssertEqual("\($0)", "squeeze-and-excitation ratio \(ratio) is not valid: must be at least 1")
            }
        }
        for bad in ["se-", "se", "se-se-resnet-20", "resnet-se-20", "se-resnet"] {
            XCTAssertThrowsError(try ModelConfiguration(name: bad), bad) {
                XCTAssertEqual($0 as? ModelError, .unknownName(bad), bad)
            }
        }
    }

    /// Configurations written before the SE ratio existed decode with no units, and one without
    /// units is written without the key, so old config.json files and checkpoints read unchanged.
    func testConfigurationsWithoutTheSERatioDecodeAndEncodeAsBefore() throws {
        let plain = try ModelConfiguration(name: "resnet-20")
        let json = try JSONEncoder().encode(plain)
        XCTAssertFalse(String(decoding: json, as: UTF8.self).contains("seRatio"))
        let old = #"{"family":"resnet","depth":20,"growthRate":12,"bottleneck":false,"compression":1,"stemChannels":16,"#
            + #""dropout":0,"classes":10,"inputChannels":3,"inputHeight":32,"inputWidth":32}"#
        XCTAssertEqual(try JSONDecoder().decode(ModelConfiguration.self, from: Data(old.utf8)), plain)
        let se = try ModelConfiguration(name: "se-resnet-20")
        XCTAssertEqual(try JSONDecoder().decode(ModelConfiguration.self, from: JSONEncoder().encode(se)), se)
    }

    // MARK: Depthwise-separable convolutions

    func testSepPrefixMakesConvolutionsSeparableAndCombinesWithSE() throws {
        for name in ["sep-resnet-20", "sep-densenet-40-12", "sep-densenet-bc-100-12", "sep-sparsenet-40-24",
                     "se-sep-resnet-20", "se-sep-sparsenet-bc-100-24"] {
            let c = try ModelConfiguration(name: name)
            XCTAssertTrue(c.isSeparable, name)
            XCTAssertEqual(c.name, name, "the name round-trips")
            var plain = c
            plain.separable = nil
            XCTAssertEqual(plain, try ModelConfiguration(name: name.replacingOccurrences(of: "sep-", with: "")), name)
        }
        XCTAssertEqual(try ModelConfiguration(name: "sep-se-resnet-20").name, "se-sep-resnet-20", "either order, one canonical name")
        XCTAssertEqual(try ModelConfiguration(name: "sep-se-resnet-20").seRatio, 16)
        XCTAssertFalse(try ModelConfiguration(name: "resnet-20").isSeparable)
        for bad in ["sep-", "sep", "sep-sep-resnet-20", "resnet-sep-20", "se-sep-se-resnet-20", "sep-resnet"] {
            XCTAssertThrowsError(try ModelConfiguration(name: bad), bad) {
                XCTAssertEqual($0 as? ModelError, .unknownName(bad), bad)
            }
        }
    }

    func testSeparableFlagAppliesToAnyFamilyAndNamesTheModel() throws {
        let resnet = try ModelConfiguration(name: "se-resnet-20").applying(ModelOverrides(separable: true))
        XCTAssertEqual(resnet.name, "se-sep-resnet-20")
        XCTAssertEqual(resnet, try ModelConfiguration(name: "se-sep-resnet-20"))
        let dense = try ModelConfiguration(name: "densenet-bc-100-12").applying(ModelOverrides(separable: true))
        XCTAssertEqual(dense.name, "sep-densenet-bc-100-12")
        XCTAssertEqual(try ModelConfiguration(name: "sep-resnet-20").applying(ModelOverrides(separable: false)),
                       try ModelConfiguration(name: "resnet-20"), "false is the plain model, written without the key")
        let graph = try ModelBuilder.graph(for: dense)
        let names = Set(graph.layers.flatMap { $0.parameters.map(\.name) })
        XCTAssertTrue(names.isSuperset(of: ["block1.layer1.conv.norm.weight", "block1.layer1.conv.depthwise.weight",
                                            "block1.layer1.conv.pointwise.weight", "block1.layer1.bottleneck.weight",
                                            "stem.weight"]))
        XCTAssertFalse(names.contains("block1.layer1.conv.weight"))
        let summary = ModelSummary(graph).render(title: dense.name)
        XCTAssertTrue(summary.contains("bn-relu-depthwise3x3"), summary)
        XCTAssertTrue(summary.contains("block1.layer1.conv.pointwise"), summary)
    }

    /// A configuration that is not separable is written without the key, and one written before
    /// the key existed decodes as not separable.
    func testConfigurationsWithoutTheSeparableFlagDecodeAndEncodeAsBefore() throws {
        let plain = try ModelConfiguration(name: "sparsenet-40-24")
        XCTAssertFalse(String(decoding: try JSONEncoder().encode(plain), as: UTF8.self).contains("separable"))
        let old = #"{"family":"resnet","depth":20,"growthRate":12,"bottleneck":false,"compression":1,"stemChannels":16,"#
            + #""dropout":0,"classes":10,"inputChannels":3,"inputHeight":32,"inputWidth":32}"#
        XCTAssertFalse(try JSONDecoder().decode(ModelConfiguration.self, from: Data(old.utf8)).isSeparable)
        let sep = try ModelConfiguration(name: "se-sep-resnet-20")
        XCTAssertTrue(String(decoding: try JSONEncoder().encode(sep), as: UTF8.self).contains(#""separable":true"#))
        XCTAssertEqual(try JSONDecoder().decode(ModelConfiguration.self, from: JSONEncoder().encode(sep)), sep)
    }
}
