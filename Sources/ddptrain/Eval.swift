import ArgumentParser
import Checkpoint
import Data
import Engine
import Foundation
import Models
import Training

/// `ddptrain eval`: test-set loss and accuracy of a model.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a model on the CIFAR-10 test set.",
        discussion: "With --checkpoint, evaluates the saved weights (and its model); otherwise the freshly initialised model of the seed.")

    @Option(name: .long, help: "A checkpoint file, or a run directory for its newest usable checkpoint (the one --resume auto would take), whose weights to evaluate.")
    var checkpoint: String?

    @OptionGroup var model: ModelOptions

    @Option(name: .long, help: "Directory with data_batch_1.bin … data_batch_5.bin and test_batch.bin.")
    var data: String

    @Option(name: .long, help: "Samples per evaluation batch.")
    var batchSize: Int = 100

    @Option(name: .long, help: "Seed of the initial weights.")
    var seed: UInt64 = 0

    @Option(name: .long, help: "Worker threads.")
    var threads: Int = 2

    func validate() throws {
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1, got \(threads)") }
    }

    func run() throws {
        var configuration = try model.configuration()
        var saved: ResumePoint?
        if let checkpoint {
            let point = try ResumePoint.load(checkpoint, say: printError).point
            if model.isGiven && configuration != point.state.configuration.model {
                throw ValidationError("--model \(configuration.name) contradicts the checkpoint's model \(point.state.configuration.model.name)")
            }
            configuration = point.state.configuration.model
            saved = point
        }
        let test = try ImageSet.load(directory: data, split: .test)
        let normalization = try saved?.state.configuration.normalization
            ?? Normalization.compute(from: ImageSet.load(directory: data, split: .train))
        let graph = try ModelBuilder.checkedGraph(for: configuration, batch: batchSize, threads: threads,
                                                  availableBytes: SystemMemory.availableBytes())
        let network = Network(graph: graph, maxBatch: batchSize,
                              pool: ComputePool(threads: threads), seed: seed)
        if let saved { try saved.restore(into: network) }
        let augmenter = Augmenter(options: AugmentationOptions(), normalization: normalization, seed: 0)
        let start = Date()
        let result = Evaluation.run(network, on: test, augmenter: augmenter)
        guard result.loss.isFinite else {
            throw TrainingError.nonFiniteOutput(what: saved.map { "the weights of \($0.path)" } ?? "the initial weights")
        }
        print(String(format: "%@ on %d test images: loss %.4f, top-1 accuracy %.2f%% (%.1f s)",
                     configuration.name, result.samples, result.loss, 100 * result.accuracy, Date().timeIntervalSince(start)))
    }
}
