import Data
import Engine
import Foundation
import Models
@testable import Training
import XCTest

/// Runs the training loop in process on tiny generated CIFAR-format files.
final class TrainerTests: TinyDataSetTestCase {
    /// resnet-8 with 4 stem channels for 2 epochs of a cosine schedule, into `run`.
    func tinyConfiguration() -> TrainingConfiguration {
        var model = ModelConfiguration(family: .resnet, depth: 8, stemChannels: 4)
        model.classes = 10
        var c = configuration(model: model, run: "run")
        c.epochs = 2
        c.schedule = LearningRateSchedule(kind: .cosine, baseRate: 0.05, epochs: 2, stepsPerEpoch: 1)
        return c
    }

    func testTrainingWritesConfigurationAndOneMetricsLinePerEpoch() throws {
        let trainer = try Trainer(configuration: tinyConfiguration(), reporter: quietReporter())
        XCTAssertEqual(trainer.configuration.trainingSamples, 20)
        XCTAssertEqual(trainer.configuration.testSamples, 6)
        XCTAssertEqual(trainer.configuration.schedule.stepsPerEpoch, 3)  // 20 samples, batch 8, last batch kept
        let history = try trainer.run()
        XCTAssertEqual(history.map(\.epoch), [1, 2])
        XCTAssertEqual(history.last?.step, 6)

        let run = directory.appendingPathComponent("run")
        let config = try JSONDecoder().decode(TrainingConfiguration.self,
                                              from: Data(contentsOf: run.appendingPathComponent("config.json")))
        XCTAssertEqual(config.model, tinyConfiguration().model)
        XCTAssertEqual(config.normalization, Normalization.compute(from: trainer.trainingSet))
        XCTAssertEqual(config.schedule.stepsPerEpoch, 3)

        let lines = try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
            .split(separator: "\n")
        XCTAssertEqual(lines.count, 2)
        let first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
        for key in ["epoch", "step", "lr", "train_loss", "train_accuracy", "test_loss", "test_accuracy",
                    "images_per_second", "wall_seconds", "data_wait_seconds"] {
            XCTAssertNotNil(first[key], "metrics.jsonl lacks \(key)")
        }
        XCTAssertEqual(first["step"] as? Int, 3)
        XCTAssertTrue((history[0].testLoss).isFinite)
    }

    func testSameSeedReplaysTheSameRunExactly() throws {
        let a = try Trainer(configuration: tinyConfiguration(), reporter: quietReporter())
        try a.run()
        var c = tinyConfiguration()
        c.runDirectory = directory.appendingPathComponent("run-b").path
        let b = try Trainer(configuration: c, reporter: quietReporter())
        try b.run()
        XCTAssertEqual(a.network.parameters.values.toArray(), b.network.parameters.values.toArray())
        XCTAssertEqual(a.network.buffers.values.toArray(), b.network.buffers.values.toArray())
    }

    func testNonFiniteLossStopsTheRunWithAClearError() throws {
        var c = tinyConfiguration()
        c.schedule = LearningRateSchedule(kind: .constant, baseRate: 1e30, epochs: 2, stepsPerEpoch: 1)
        c.optimizer.nesterov = false
        c.optimizer.momentum = 0
        let trainer = try Trainer(configuration: c, reporter: quietReporter())
        XCTAssertThrowsError(try trainer.run()) { error in
            guard case TrainingError.nonFinite = error else { return XCTFail("unexpected error \(error)") }
            XCTAssertTrue("\(error)".contains("NaN or infinite"), "\(error)")
        }
    }

    func testMissingDataStopsWithAnErrorNamingTheFile() throws {
        try FileManager.default.removeItem(at: directory.appendingPathComponent("data/data_batch_3.bin"))
        XCTAssertThrowsError(try Trainer(configuration: tinyConfiguration(), reporter: quietReporter())) { error in
            XCTAssertTrue("\(error)".contains("data_batch_3.bin"), "\(error)")
        }
    }

    func testGradientClippingBoundsTheUpdate() throws {
        var c = tinyConfiguration()
        c.gradientClipNorm = 1e-6
        c.optimizer.weightDecay = 0
        c.optimizer.momentum = 0
        c.optimizer.nesterov = false
        c.epochs = 1
        c.schedule = LearningRateSchedule(kind: .constant, baseRate: 1, epochs: 1, stepsPerEpoch: 1)
        let trainer = try Trainer(configuration: c, reporter: quietReporter())
        let before = trainer.network.parameters.values.toArray()
        try trainer.run()
        let after = trainer.network.parameters.values.toArray()
        // Three steps of plain SGD with lr 1 and a gradient norm of at most 1e-6 move the
        // parameters by at most 3e-6 in L2.
        let moved = zip(before, after).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) }.squareRoot()
        XCTAssertLessThanOrEqual(moved, 3e-6 * 1.01)
        XCTAssertGreaterThan(moved, 0)
    }
}
