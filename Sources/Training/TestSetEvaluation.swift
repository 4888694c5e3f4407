import Data
import Engine
import Foundation
import Models

/// `ddptrain eval`: the test-set loss and accuracy of a checkpoint's weights, of a weights file
/// (safetensors), or of a freshly initialised model. A checkpoint brings its model and the
/// normalisation it was trained with, and so does an exported weights file; without them the
/// model flags say the model and the normalisation is computed from the training set, as a new
/// run would.
public struct TestSetEvaluation {
    /// A checkpoint file, or a run directory for its newest usable checkpoint.
    public var checkpoint: String?
    /// A weights file (`ModelWeights.load`: safetensors, or a checkpoint) to evaluate instead.
    public var weights: String?
    /// Where to write every test image's logits, as a `.npy` float32 array (images × classes).
    public var logitsPath: String?
    /// The model named by flags, if any: it must be the checkpoint's when both are given.
    public var model: ModelConfiguration?
    /// The model evaluated without a checkpoint or model flags.
    public var defaultModel: ModelConfiguration
    /// The data directory.
    public var dataDirectory: String
    /// `--dataset` and `--labels`, when given; otherwise the weights' data set, else CIFAR-10.
    public var datasetName: Dataset.Name?, labels: Dataset.Labels?
    /// Samples per evaluation batch.
    public var batch = 100
    /// Worker threads.
    public var threads = 2
    /// Seed of the initial weights (without a checkpoint).
    public var seed: UInt64 = 0

    /// An evaluation of the data in `dataDirectory`, of `defaultModel` unless a checkpoint or
    /// `model` says otherwise.
    public init(dataDirectory: String, defaultModel: ModelConfiguration) {
        self.dataDirectory = dataDirectory
        self.defaultModel = defaultModel
    }

    /// What an evaluation measured.
    public struct Outcome {
        /// The model evaluated.
        public var model: ModelConfiguration
        /// The data set whose test split it was evaluated on.
        public var dataset: Dataset
        /// Loss, accuracy, samples.
        public var result: EvaluationResult
        /// Wall seconds of the evaluation itself.
        public var seconds: Double
    }

    /// Loads the checkpoint (reporting what it reads through `say`) and the data, builds the
    /// model and evaluates it.
    ///
    /// - Throws: `TrainingError.invalidOption` when `model` contradicts the checkpoint's,
    ///   `nonFiniteOutput` when the weights give a NaN or infinite loss; data, checkpoint and model
    ///   errors as they come.
    public func run(say: (String) -> Void) throws -> Outcome {
        if let logitsPath { try PathCheck.checkNewFile(logitsPath, flag: "--logits", dataDirectory: dataDirectory, runDirectory: nil) }
        var configuration = model ?? defaultModel
        var saved: ModelWeights?
        if let checkpoint {
            saved = ModelWeights(checkpoint: try ResumePoint.load(checkpoint, say: say).point)
        } else if let weights {
            saved = try ModelWeights.load(weights, say: say)
        }
        if let saved, let chosen = try saved.model(flags: model) { configuration = chosen }
        let dataset = try Dataset.choose(name: datasetName, labels: labels, base: saved?.dataset ?? .cifar10)
        if saved?.model == nil { configuration.classes = dataset.classes }
        guard configuration.classes == dataset.classes else {
            throw TrainingError.invalidOption(flag: "--dataset", value: dataset.name.rawValue,
                                              rule: "\(dataset) has \(dataset.classes) classes, but the model of \(saved?.path ?? "the flags") has \(configuration.classes) outputs")
        }
        let test = try ImageSet.load(directory: dataDirectory, split: .test, dataset: dataset)
        let normalization = try saved?.normalization
            ?? Normalization.compute(from: ImageSet.load(directory: dataDirectory, split: .train, dataset: dataset))
        let graph = try ModelBuilder.checkedGraph(for: configuration, batch: batch, threads: threads,
                                                  availableBytes: SystemMemory.availableBytes())
        let network = Network(graph: graph, maxBatch: batch, pool: ComputePool(threads: threads), seed: seed)
        if let saved { try saved.restore(into: network) }
        let augmenter = Augmenter(options: AugmentationOptions(), normalization: normalization, seed: 0)
        let start = Date()
        var logits: [Float] = []
        let result = Evaluation.run(network, on: test, augmenter: augmenter,
                                    logits: { batch in if logitsPath != nil { logits += batch } })
        guard result.loss.isFinite else {
            throw TrainingError.nonFiniteOutput(what: saved.map { "the weights of \($0.path)" } ?? "the initial weights")
        }
        if let logitsPath {
            try NumpyFile.write(logits, shape: [result.samples, network.outputCount], to: logitsPath)
        }
        return Outcome(model: configuration, dataset: dataset, result: result, seconds: Date().timeIntervalSince(start))
    }
}
