import Checkpoint
import Data
import Engine
import Foundation
import Models
@testable import Training
import XCTest

/// Resuming from a checkpoint continues a run bit for bit (single process; the MPI case is in
/// DistributedTrainingTests).
final class ResumeTests: TinyDataSetTestCase {
    /// resnet-8 with 4 stem channels: small, and without dropout.
    static let resnet8 = ModelConfiguration(family: .resnet, depth: 8, stemChannels: 4)

    func configuration(run: String, schedule: LearningRateSchedule, model: ModelConfiguration = resnet8) -> TrainingConfiguration {
        var c = configuration(model: model, run: run)
        c.epochs = 3
        c.schedule = schedule
        c.checkpoint.everySteps = 1
        c.checkpoint.keep = 100
        return c
    }

    func steps(_ path: URL) throws -> [String] {
        try String(contentsOf: path, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    /// Every tensor a checkpoint of `trainer` would hold now: parameters, buffers and momentum.
    static func tensors(_ trainer: Trainer) -> [NamedTensor] {
        CheckpointTensors.snapshot(of: trainer.network, momentum: trainer.optimizer.velocity.pointer)
    }

    /// Runs straight through once, then resumes from its checkpoints at `stops` (global steps) and
    /// checks that parameters, buffers, momentum and the per-step lr/loss sequence match.
    func checkResume(schedule: LearningRateSchedule, stops: [Int], model: ModelConfiguration = resnet8) throws {
        // Each call trains into run directories of its own (one run per directory).
        let tag = schedule.kind.rawValue
        let straight = try Trainer(configuration: configuration(run: "straight-\(tag)", schedule: schedule, model: model),
                                   reporter: quietReporter())
        let straightLog = directory.appendingPathComponent("straight-\(tag).steps")
        try straight.run(stepLogPath: straightLog.path)
        let expected = Self.tensors(straight)
        let expectedSteps = try steps(straightLog)
        XCTAssertEqual(expectedSteps.count, 9)

        let checkpoints = CheckpointDirectory.candidates(in: straight.configuration.runDirectory)
        for stop in stops {
            let path = try XCTUnwrap(checkpoints.first { $0.hasSuffix(String(format: "-s%09d.ddpt", stop)) },
                                     "no checkpoint at step \(stop) among \(checkpoints)")
            let point = try ResumePoint(bytes: Data(contentsOf: URL(fileURLWithPath: path)), path: path)
            XCTAssertEqual(point.state.globalStep, stop)
            var c = point.state.configuration
            c.runDirectory = directory.appendingPathComponent("resumed-\(tag)-\(stop)").path
            let resumed = try Trainer(configuration: c, reporter: quietReporter(), resume: point)
            let log = directory.appendingPathComponent("resumed-\(tag)-\(stop).steps")
            try resumed.run(stepLogPath: log.path)
            XCTAssertEqual(Self.tensors(resumed), expected, "resumed at step \(stop): tensors differ from the straight run")
            XCTAssertEqual(try steps(log), Array(expectedSteps[stop...]), "resumed at step \(stop): lr or loss sequence differs")
            XCTAssertEqual(resumed.history.map(\.testAccuracy), straight.history.map(\.testAccuracy))
        }
    }

    func testResumingMidEpochAndAtAnEpochBoundaryContinuesBitForBit() throws {
        // Step 4 is inside epoch 2; step 3 ends epoch 1; step 8 is in the last epoch.
        try checkResume(schedule: LearningRateSchedule(kind: .constant, baseRate: 0.05, epochs: 3, stepsPerEpoch: 1),
                        stops: [3, 4, 8])
    }

    /// Dropout masks are a function of (seed, the layer's step counter, sample): a resumed run
    /// whose counters were not restored would draw other masks and drift from the first step.
    func testResumingAModelWithDropoutDrawsTheSameMasksAndContinuesBitForBit() throws {
        let model = ModelConfiguration(family: .sparsenet, depth: 13, growthRate: 4, stemChannels: 8, dropout: 0.2)
        try checkResume(schedule: LearningRateSchedule(kind: .constant, baseRate: 0.05, epochs: 3, stepsPerEpoch: 1),
                        stops: [4], model: model)
    }

    func testLearningRateSchedulesContinueAcrossAResume() throws {
        try checkResume(schedule: LearningRateSchedule(kind: .multistep, baseRate: 0.05, milestones: [0.34, 0.67], gamma: 0.5,
                                                       warmupEpochs: 1, epochs: 3, stepsPerEpoch: 1), stops: [2, 5])
        try checkResume(schedule: LearningRateSchedule(kind: .cosine, baseRate: 0.05, warmupEpochs: 0.67, epochs: 3,
                                                       stepsPerEpoch: 1), stops: [1, 7])
    }

    func testResumeRejectsAnotherModelAndContradictingFlags() throws {
        let run = try Trainer(configuration: configuration(run: "a", schedule: .init(kind: .constant, baseRate: 0.05, epochs: 3, stepsPerEpoch: 1)),
                              reporter: quietReporter())
        try run.run()
        let path = try XCTUnwrap(CheckpointDirectory.candidates(in: run.configuration.runDirectory).first)
        let point = try ResumePoint(bytes: Data(contentsOf: URL(fileURLWithPath: path)), path: path)
        var other = point.state.configuration
        other.model = ModelConfiguration(family: .resnet, depth: 14, stemChannels: 4)
        XCTAssertThrowsError(try point.reconcile(other, worldSize: 1, explicitBatchSize: nil)) { error in
            XCTAssertTrue("\(error)".contains("model.depth"), "\(error)")
        }
        var faster = point.state.configuration
        faster.schedule.baseRate = 0.5
        XCTAssertThrowsError(try point.reconcile(faster, worldSize: 1, explicitBatchSize: nil)) { error in
            XCTAssertTrue("\(error)".contains("schedule.baseRate"), "\(error)")
        }
        // The global batch of 8 cannot be split over 3 ranks; over 2 it can, 4 per rank.
        XCTAssertThrowsError(try point.reconcile(point.state.configuration, worldSize: 3, explicitBatchSize: nil)) { error in
            XCTAssertTrue("\(error)".contains("global batch 8"), "\(error)")
        }
        XCTAssertEqual(try point.reconcile(point.state.configuration, worldSize: 2, explicitBatchSize: nil).batchSize, 4)
        // A checkpoint of another model does not load into this one.
        var bigger = point.state.configuration
        bigger.model = ModelConfiguration(family: .resnet, depth: 8, stemChannels: 8)
        let network = Network(graph: try ModelBuilder.graph(for: bigger.model), maxBatch: 2, pool: ComputePool(threads: 1))
        XCTAssertThrowsError(try point.restore(into: network)) { error in
            XCTAssertTrue("\(error)".contains("different model"), "\(error)")
        }
    }
}
