import ArgumentParser
import Foundation  // JSONSerialization, String(format:), Date
import Training

/// `ddptrain predict`: the most probable classes of PNG and JPEG photos.
struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Classify PNG and JPEG images (files or directories of them) with a model's weights.",
        discussion: """
            Each image is scaled so that its shorter side is 32 pixels (area-averaged when shrinking, \
            bilinear when enlarging), its centre 32×32 cut out, and normalised as in training. An image \
            that cannot be read or decoded is reported by name on standard error and the others still \
            run; the command then exits 65.
            """)

    @Argument(help: ArgumentHelp("Image files, or directories whose .png, .jpg and .jpeg files are classified.", valueName: "image"))
    var images: [String]

    @Option(name: .long, help: "A checkpoint file, or a run directory for its newest usable checkpoint.")
    var checkpoint: String?

    @Option(name: .long, help: ArgumentHelp("A weights file: ddptrain export's safetensors, or one saved from Scripts/ddptrain_torch.py's model (then give the model flags and --data).", valueName: "file"))
    var weights: String?

    @OptionGroup var model: ModelOptions

    @Option(name: .long, help: ArgumentHelp("A data directory whose training set gives the normalisation, for weights that do not record it.", valueName: "dir"))
    var data: String?

    @OptionGroup var dataset: DatasetOptions

    @Option(name: .long, help: ArgumentHelp("Class names, one per line (batches.meta.txt, fine_label_names.txt); default: the names the weights record, else --data's names file if there is one, else the data set's.", valueName: "file"))
    var classes: String?

    @Option(name: .long, help: "Classes to report per image.")
    var top: Int = 3

    @Flag(name: .long, help: "Print one JSON object per image (path, and top classes or error) instead of text.")
    var json = false

    @Option(name: .long, help: "Images per forward pass.")
    var batchSize: Int = 100

    @Option(name: .long, help: "Worker threads, for decoding and for the network.")
    var threads: Int = 2

    func validate() throws {
        guard (checkpoint == nil) != (weights == nil) else { throw ValidationError("give the weights to use: --checkpoint or --weights (one of them)") }
        guard top >= 1 else { throw ValidationError("--top must be at least 1, got \(top)") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1, got \(threads)") }
    }

    func run() throws {
        let loaded = try checkpoint.map { ModelWeights(checkpoint: try ResumePoint.load($0, say: printError).point) }
            ?? ModelWeights.load(weights!, say: printError)
        let chosen = try dataset.choice(base: loaded.dataset ?? .cifar10)
        var prediction = try ImagePrediction(weights: loaded, model: model.isGiven ? model.configuration() : nil,
                                             dataDirectory: data, dataset: chosen)
        let meta = loaded.classNames == nil ? data.map { ($0 as NSString).appendingPathComponent(chosen.classNamesFile) } : nil
        if let names = classes ?? meta.flatMap({ FileManager.default.fileExists(atPath: $0) ? $0 : nil }) {
            prediction.classNames = try ImagePrediction.classNames(in: names)
        }
        prediction.top = min(top, prediction.model.classes)
        prediction.batch = batchSize
        prediction.threads = threads
        let files = ImagePrediction.imageFiles(images)
        let start = Date()
        let showProgress = files.count > batchSize
        let outcomes = try prediction.run(files) { done, total in
            if showProgress { printError(String(format: "predict: %d/%d images (%.0f images/s)", done, total, Double(done) / Date().timeIntervalSince(start))) }
        }
        var failed = 0
        for outcome in outcomes {
            switch outcome.guesses {
            case .success(let guesses):
                Self.emit(json ? Self.json(["path": outcome.path, "top": guesses.map { ["class": $0.name, "label": $0.label, "probability": $0.probability] }])
                           : "\(outcome.path): " + guesses.map { String(format: "%@ %.1f%%", $0.name, 100 * $0.probability) }.joined(separator: ", "))
            case .failure(let error):
                failed += 1
                if json { Self.emit(Self.json(["path": outcome.path, "error": "\(error)"])) }
                printError("predict: \(error)")
            }
        }
        let seconds = Date().timeIntervalSince(start)
        printError(String(format: "predict: %d image(s) classified, %d failed, in %.1f s (%.0f images/s)",
                          outcomes.count - failed, failed, seconds, Double(outcomes.count) / max(seconds, 1e-9)))
        if failed > 0 { throw ExitCode(ExitStatus.badInput.rawValue) }
    }

    /// Writes `line` to standard output in one write, so lines never interleave with the messages
    /// on standard error when both go to one file.
    static func emit(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

    /// `object` as one line of JSON with sorted keys.
    static func json(_ object: [String: Any]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
