import Data
import Foundation
import Models
import TestSupport
import Training
import XCTest

/// The data set in a run's configuration: recorded in `config.json` and checkpoints, read as
/// CIFAR-10 from files written before CIFAR-100 support, checked against the model's classes,
/// and trained on in process.
final class DatasetConfigurationTests: TinyDataSetTestCase {
    func testAConfigurationWithoutADatasetFieldReadsAsCIFAR10() throws {
        let c = configuration(model: ModelConfiguration(family: .resnet, depth: 8), run: "run")
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: JSONEncoder().encode(c)) as? [String: Any])
        XCTAssertEqual(object["dataset"] as? [String: String], ["name": "cifar10"], "a new configuration records its data set")
        object["dataset"] = nil
        let old = try JSONDecoder().decode(TrainingConfiguration.self, from: JSONSerialization.data(withJSONObject: object))
        XCTAssertEqual(old.dataset, .cifar10)
        XCTAssertEqual(old, c)
    }

    func testCIFAR100WithItsLabelsRoundTrips() throws {
        var c = configuration(model: ModelConfiguration(family: .resnet, depth: 8, classes: 20), run: "run")
        c.dataset = .cifar100(.coarse)
        XCTAssertNoThrow(try c.validate())
        let back = try JSONDecoder().decode(TrainingConfiguration.self, from: JSONEncoder().encode(c))
        XCTAssertEqual(back.dataset, .cifar100(.coarse))
        XCTAssertEqual(back, c)
    }

    func testAModelWhoseClassesAreNotTheDatasetsIsRefused() throws {
        var c = configuration(model: ModelConfiguration(family: .resnet, depth: 8), run: "run")
        c.dataset = .cifar100(.fine)
        XCTAssertThrowsError(try c.validate()) { error in
            XCTAssertEqual((error as? ConfigurationProblem)?.field, "model.classes")
            XCTAssertTrue("\(error)".contains("100 classes of CIFAR-100"), "\(error)")
        }
        c.dataset.labels = nil
        XCTAssertThrowsError(try c.validate()) { error in
            XCTAssertEqual((error as? ConfigurationProblem)?.field, "dataset.labels")
        }
    }

    func testATrainerLearnsCIFAR100sCoarseLabelsWithATwentyClassHead() throws {
        let data = directory.appendingPathComponent("cifar100")
        try CIFARFixture(at: data).writeCIFAR100(training: 40, test: 10)
        var c = configuration(model: ModelConfiguration(family: .resnet, depth: 8, stemChannels: 4, classes: 20), run: "run")
        c.dataDirectory = data.path
        c.dataset = .cifar100(.coarse)
        c.epochs = 1
        c.checkpoint.enabled = false
        let trainer = try Trainer(configuration: c, reporter: quietReporter())
        XCTAssertEqual(trainer.trainingSet.count, 40)
        XCTAssertEqual(Set(trainer.trainingSet.labels), Set((0..<40).map { CIFARFixture.coarseLabel(fine: UInt8($0)) }))
        XCTAssertEqual(trainer.network.outputCount, 20)
        let history = try trainer.run()
        XCTAssertEqual(history.count, 1)
        XCTAssertTrue(history[0].testLoss.isFinite)
    }
}
