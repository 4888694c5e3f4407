import ArgumentParser
import Training

/// `ddptrain eval`: test-set loss and accuracy of a model.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a model on the CIFAR-10 or CIFAR-100 test set.",
        discussion: "With --checkpoint, evaluates the saved weights (and its model); with --weights, those of a safetensors file (its model from the file's ddptrain metadata, else from the model flags); otherwise the freshly initialised model of the seed.")

    @Option(name: .long, help: "A checkpoint file, or a run directory for its newest usable checkpoint (the one --resume auto would take), whose weights to evaluate.")
    var checkpoint: String?

    @Option(name: .long, help: ArgumentHelp("A safetensors file (from ddptrain export, or saved from Scripts/ddptrain_torch.py's model) whose weights to evaluate.", valueName: "file"))
    var weights: String?

    @Option(name: .long, help: ArgumentHelp("Also write every test image's logits to this new file, as a NumPy .npy float32 array of images × classes.", valueName: "file"))
    var logits: String?

    @OptionGroup var model: ModelOptions

    @Option(name: .long, help: "Directory with the data set's files (data_batch_1.bin … test_batch.bin for CIFAR-10, train.bin and test.bin for CIFAR-100).")
    var data: String

    @OptionGroup var dataset: DatasetOptions

    @Option(name: .long, help: "Samples per evaluation batch.")
    var batchSize: Int = 100

    @Option(name: .long, help: "Seed of the initial weights.")
    var seed: UInt64 = 0

    @Option(name: .long, help: "Worker threads.")
    var threads: Int = 2

    func validate() throws {
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1, got \(threads)") }
        guard checkpoint == nil || weights == nil else {
            throw ValidationError("--checkpoint and --weights each name the weights to evaluate; give one of them")
        }
    }

    func run() throws {
        var evaluation = TestSetEvaluation(dataDirectory: data, defaultModel: try model.configuration())
        evaluation.checkpoint = checkpoint
        evaluation.weights = weights
        evaluation.logitsPath = logits
        evaluation.datasetName = dataset.dataset
        evaluation.labels = dataset.labels
        evaluation.model = model.isGiven ? try model.configuration() : nil
        evaluation.batch = batchSize
        evaluation.threads = threads
        evaluation.seed = seed
        let outcome = try evaluation.run(say: printError)
        let r = outcome.result
        print("\(outcome.model.name) on \(r.samples) \(outcome.dataset) test images: loss \(Self.fixed(r.loss, 4)), "
              + "top-1 accuracy \(Self.fixed(100 * r.accuracy, 2))% (\(Self.fixed(outcome.seconds, 1)) s)")
    }

    /// `value` with `digits` decimals.
    static func fixed(_ value: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", value) }
}
