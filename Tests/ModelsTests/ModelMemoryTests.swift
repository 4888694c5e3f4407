import Engine
@testable import Models
import XCTest

/// A model's footprint is counted from its settings before its graph exists, and a model that does
/// not fit in the memory available is refused before anything large is allocated.
final class ModelMemoryTests: XCTestCase {
    static let gibibyte = 1 << 30

    func testFootprintCountedFromTheSettingsEqualsTheBuiltGraphs() throws {
        var configurations = try ModelConfiguration.namedModels.map { try ModelConfiguration(name: $0) }
        var sparseBC = try ModelConfiguration(name: "sparsenet-bc-40-8")
        sparseBC.dropout = 0.2
        var dense = ModelConfiguration(family: .densenet, depth: 22, growthRate: 6, compression: 0.7, dropout: 0.1, classes: 100)
        dense.inputChannels = 1
        var resnet = ModelConfiguration(family: .resnet, depth: 14, stemChannels: 5, classes: 7)
        resnet.inputHeight = 8
        resnet.inputWidth = 16
        configurations += [sparseBC, dense, resnet]
        // Squeeze-and-excitation units on every family, with a ratio that leaves one hidden feature.
        configurations += try ["se-resnet-20", "se-densenet-bc-40-12", "se-sparsenet-40-24"].map { try ModelConfiguration(name: $0) }
        var wideRatio = resnet
        wideRatio.seRatio = 1_000
        configurations.append(wideRatio)
        // Depthwise-separable convolutions on every family, with SE units on one.
        configurations += try ["sep-resnet-20", "sep-densenet-bc-40-12", "sep-densenet-40-12", "se-sep-sparsenet-40-24"]
            .map { try ModelConfiguration(name: $0) }
        for c in configurations {
            let counted = try c.footprint()
            XCTAssertEqual(counted, NetworkFootprint(graph: try ModelBuilder.graph(for: c)), c.name)
            XCTAssertGreaterThan(counted.layers, 0)
        }
    }

    func testCheckedGraphRefusesAModelThatDoesNotFitNamingTheMemoryNeededAndAvailable() throws {
        let model = try ModelConfiguration(name: "resnet-1994")
        let needed = try XCTUnwrap(model.footprint().totalBytes(maxBatch: 256, threads: 2))
        XCTAssertGreaterThan(needed, 23 * Self.gibibyte)
        XCTAssertThrowsError(try ModelBuilder.checkedGraph(for: model, batch: 256, threads: 2,
                                                           availableBytes: 23 * Self.gibibyte)) { error in
            XCTAssertEqual(error as? ModelError,
                           .tooLarge(model: "resnet-1994", batch: 256, neededBytes: needed, availableBytes: 23 * Self.gibibyte))
            let message = "\(error)"
            XCTAssertTrue(message.hasPrefix("resnet-1994 with batch 256 needs about "), message)
            XCTAssertTrue(message.hasSuffix(" GiB; this machine has 23.0 GiB available: choose a smaller model or --batch-size"),
                          message)
        }
    }

    func testCheckedGraphRefusesAModelBeforeBuildingLayersThatWouldNotFit() throws {
        // Building this graph would allocate about 32 GiB of batch-norm state in its layers alone (and
        // its parameters need about 140 TiB): the refusal must come from the count, before any layer.
        let model = try ModelConfiguration(name: "densenet-1000-4096")
        XCTAssertGreaterThan(try XCTUnwrap(model.footprint().layerStateBytes), 30 * Self.gibibyte)
        XCTAssertThrowsError(try ModelBuilder.checkedGraph(for: model, availableBytes: 23 * Self.gibibyte)) { error in
            guard case .tooLarge("densenet-1000-4096", nil, _?, _)? = error as? ModelError else { return XCTFail("\(error)") }
            XCTAssertTrue("\(error)".contains(" TiB for its layers and parameters alone; this machine has 23.0 GiB available: choose a smaller model"),
                          "\(error)")
        }
        XCTAssertThrowsError(try ModelBuilder.checkedGraph(for: model, batch: 1, threads: 1, availableBytes: 23 * Self.gibibyte))
    }

    func testCheckedGraphBuildsAModelThatFitsExactly() throws {
        let model = try ModelConfiguration(name: "resnet-20")
        let footprint = try model.footprint()
        let training = try XCTUnwrap(footprint.totalBytes(maxBatch: 64, threads: 2))
        let graph = try ModelBuilder.checkedGraph(for: model, batch: 64, threads: 2, availableBytes: training)
        XCTAssertEqual(NetworkFootprint(graph: graph), footprint)
        XCTAssertThrowsError(try ModelBuilder.checkedGraph(for: model, batch: 64, threads: 2, availableBytes: training - 1))
        XCTAssertNoThrow(try ModelBuilder.checkedGraph(for: model, batch: 64, threads: 2, availableBytes: nil))

        let described = try XCTUnwrap(footprint.layerStateBytes) + 4 * 269_722
        XCTAssertNoThrow(try ModelBuilder.checkedGraph(for: model, availableBytes: described))
        XCTAssertThrowsError(try ModelBuilder.checkedGraph(for: model, availableBytes: described - 1))
    }

    func testCheckedGraphRefusesBatchesAndThreadsOutOfRange() throws {
        let model = try ModelConfiguration(name: "resnet-20")
        let cases: [(Int, Int, ModelError)] = [
            (0, 1, .invalidSetting(name: "batch size", value: "0", rule: "must be at least 1")),
            (1, 0, .invalidSetting(name: "threads", value: "0", rule: "must be at least 1")),
            (.max, 1, .tooLarge(model: "resnet-20", batch: .max, neededBytes: nil, availableBytes: Self.gibibyte)),
        ]
        for (batch, threads, expected) in cases {
            XCTAssertThrowsError(try ModelBuilder.checkedGraph(for: model, batch: batch, threads: threads,
                                                               availableBytes: Self.gibibyte)) { error in
                XCTAssertEqual(error as? ModelError, expected)
            }
        }
        XCTAssertTrue("\(ModelError.tooLarge(model: "m", batch: 3, neededBytes: nil, availableBytes: 1024))"
            .contains("m with batch 3 needs more than 8 EiB; this machine has 1.0 KiB available"))
    }
}
