import Foundation
import Models
import TestSupport
import Training
import XCTest

/// The base of the in-process training tests: each test gets a fresh temporary directory whose
/// `data` subdirectory holds a tiny CIFAR-format data set (`CIFARFixture`: five training files of
/// four records and a test file of six), and runs go beside the data, never inside it.
class TinyDataSetTestCase: XCTestCase {
    /// The test's scratch directory, removed in `tearDown`.
    var directory: URL!

    override func setUpWithError() throws {
        try super.setUpWithError()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ddptrain-training-\(UUID().uuidString)")
        try CIFARFixture(at: directory.appendingPathComponent("data"))
            .writeAll(trainingCounts: Array(repeating: 4, count: 5), testCount: 6)
    }

    override func tearDownWithError() throws {
        if let directory { try? FileManager.default.removeItem(at: directory) }
        try super.tearDownWithError()
    }

    /// A configuration that trains `model` on the tiny set into `run` (inside the scratch
    /// directory): batch 8 (20 samples: 3 steps per epoch, the last one short), 2 threads.
    func configuration(model: ModelConfiguration, run: String) -> TrainingConfiguration {
        var c = TrainingConfiguration(model: model, dataDirectory: directory.appendingPathComponent("data").path,
                                      runDirectory: directory.appendingPathComponent(run).path)
        c.batchSize = 8
        c.threads = 2
        return c
    }

    /// A reporter that prints nothing.
    func quietReporter() -> ProgressReporter { ProgressReporter(output: { _ in }) }
}
