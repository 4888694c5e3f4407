import ArgumentParser
import Training

/// `ddptrain export`: a checkpoint's weights in a format other tools read.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a checkpoint's weights for other tools: safetensors, for PyTorch and the Hugging Face tools.",
        discussion: """
            The file holds every parameter and batch-norm buffer under its ddptrain name, which is \
            the state_dict key of the model in Scripts/ddptrain_torch.py (load it with \
            ddptrain_torch.load_safetensors, or load_state_dict(strict=True)), a num_batches_tracked \
            counter per batch norm, and in its metadata the model configuration, the input \
            normalisation and the class names. The output file must not exist.
            """)

    @Argument(help: "A checkpoint file, or a run directory for its newest usable checkpoint.")
    var checkpoint: String

    @Option(name: .long, help: "Format of the output file: safetensors (weights, for PyTorch) or onnx (the inference graph, opset 13, for onnxruntime and other runtimes).")
    var format: ExportFormat = .safetensors

    @Option(name: [.customShort("o"), .long], help: ArgumentHelp("The file to write (a new file: an existing one is refused).", valueName: "file"))
    var output: String

    func run() throws {
        try PathCheck.checkNewFile(output, flag: "--output", dataDirectory: nil, runDirectory: nil)
        let weights = ModelWeights(checkpoint: try ResumePoint.load(checkpoint, say: printError).point)
        try weights.write(format, to: output)
        print("wrote \(output): \(weights.tensors.count) tensors of \(weights.model?.name ?? "the model") from \(weights.path), "
              + "weights hash \(weights.hashText)")
    }
}

extension ExportFormat: ExpressibleByArgument {}
