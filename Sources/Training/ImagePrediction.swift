import Data
import Dispatch
import Engine
import Foundation
import Models

/// `ddptrain predict`: the most probable classes of photos (PNG or JPEG files, or directories of
/// them) under a model's weights. Each image is brought to the input by `ImageFile.planarInput`
/// (shorter side scaled to 32, centre crop), normalised as in training, and run in evaluation
/// mode in batches on all threads; an image that cannot be read or decoded is reported by name
/// and the others still run.
public struct ImagePrediction {
    /// The weights, with their model and normalisation when the file says.
    public var weights: ModelWeights
    /// The model (the weights' own, else from flags).
    public var model: ModelConfiguration
    /// The input normalisation (the weights' own, else computed from a training set).
    public var normalization: Normalization
    /// Class names by label (the weights' own when they record them, else their data set's).
    public var classNames: [String]
    /// Classes reported per image.
    public var top = 3
    /// Images per forward pass.
    public var batch = 100
    /// Worker threads, for decoding and for the network.
    public var threads = 2

    /// A prediction for `weights`, of their model (or `model`, which must agree with it; its
    /// outputs are `dataset`'s classes) and normalisation (or the one of `dataDirectory`'s
    /// training set of `dataset`).
    ///
    /// - Throws: `TrainingError.invalidOption` when the model or the normalisation is unknown or
    ///   `model` contradicts the weights'; data errors as they come.
    public init(weights: ModelWeights, model: ModelConfiguration?, dataDirectory: String?, dataset: Dataset) throws {
        guard var chosen = try weights.model(flags: model) else {
            throw TrainingError.invalidOption(flag: "--model", value: "(none)", rule: "\(weights.path) does not say its model; give the model flags")
        }
        if weights.model == nil { chosen.classes = dataset.classes }
        classNames = weights.classNames ?? dataset.classNames
        if let known = weights.normalization {
            normalization = known
        } else if let dataDirectory {
            normalization = Normalization.compute(from: try ImageSet.load(directory: dataDirectory, split: .train, dataset: dataset))
        } else {
            throw TrainingError.invalidOption(flag: "--data", value: "(none)",
                                              rule: "\(weights.path) does not record the input normalisation; give the training data it was computed from")
        }
        self.weights = weights
        self.model = chosen
    }

    /// The class names of a `batches.meta.txt`-style file: one per non-empty line.
    public static func classNames(in path: String) throws -> [String] {
        do {
            return try String(contentsOfFile: path, encoding: .utf8).split(whereSeparator: \.isNewline)
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        } catch {
            throw TrainingError.invalidOption(flag: "--classes", value: path, rule: "cannot be read: \(error.localizedDescription)")
        }
    }

    /// One class of an image's answer.
    public struct Guess: Sendable, Equatable {
        /// The class label and its name.
        public var label: Int, name: String
        /// Softmax probability.
        public var probability: Double
    }

    /// What became of one image: its guesses, most probable first, or why it could not be read.
    public struct Outcome: Sendable {
        /// The file.
        public var path: String
        /// The top classes, or the error.
        public var guesses: Result<[Guess], ImageError>
    }

    /// The image files of `paths`: files as given, directories as their PNG and JPEG files
    /// (`.png`, `.jpg`, `.jpeg`, any case), sorted by name, not descending into subdirectories.
    public static func imageFiles(_ paths: [String]) -> [String] {
        paths.flatMap { path -> [String] in
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else { return [path] }
            let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            return names.filter { ["png", "jpg", "jpeg"].contains(($0 as NSString).pathExtension.lowercased()) }
                .sorted().map { (path as NSString).appendingPathComponent($0) }
        }
    }

    /// Decodes `files` on `threads` threads and predicts the decodable ones in batches; `progress`
    /// hears (images done, images to do) after each batch.
    public func run(_ files: [String], progress: (Int, Int) -> Void = { _, _ in }) throws -> [Outcome] {
        guard classNames.count == model.classes else {
            throw TrainingError.invalidOption(flag: "--classes", value: "\(classNames.count) names",
                                              rule: "the model has \(model.classes) classes")
        }
        let decoded = Self.decodeAll(files, threads: threads)
        let good = decoded.indices.filter { (try? decoded[$0].get()) != nil }
        var logits: [Float] = []
        if !good.isEmpty {
            var pixels: [UInt8] = []
            pixels.reserveCapacity(good.count * CIFARImage.imageBytes)
            for i in good { pixels += try decoded[i].get() }
            let set = ImageSet(pixels: pixels, labels: [UInt8](repeating: 0, count: good.count))
            let graph = try ModelBuilder.checkedGraph(for: model, batch: batch, threads: threads,
                                                      availableBytes: SystemMemory.availableBytes())
            let network = Network(graph: graph, maxBatch: batch, pool: ComputePool(threads: threads), seed: 0)
            try weights.restore(into: network)
            let augmenter = Augmenter(options: AugmentationOptions(), normalization: normalization, seed: 0)
            var done = 0
            _ = Evaluation.run(network, on: set, augmenter: augmenter, logits: { logits += $0 },
                               afterBatch: { done = min(good.count, done + batch); progress(done, good.count) })
        }
        var outcomes: [Outcome] = []
        var k = 0
        for (i, file) in files.enumerated() {
            switch decoded[i] {
            case .failure(let error): outcomes.append(Outcome(path: file, guesses: .failure(error)))
            case .success:
                let row = logits[(k * model.classes)..<((k + 1) * model.classes)]
                outcomes.append(Outcome(path: file, guesses: .success(guesses(Array(row)))))
                k += 1
            }
        }
        return outcomes
    }

    /// The `top` most probable classes of one image's logits (softmax in double precision).
    func guesses(_ logits: [Float]) -> [Guess] {
        let peak = Double(logits.max() ?? 0)
        let exps = logits.map { exp(Double($0) - peak) }
        let total = exps.reduce(0, +)
        return exps.indices.sorted { exps[$0] > exps[$1] || (exps[$0] == exps[$1] && $0 < $1) }.prefix(top)
            .map { Guess(label: $0, name: classNames[$0], probability: exps[$0] / total) }
    }

    /// Every file decoded and brought to the input, `threads` at a time, in order.
    static func decodeAll(_ files: [String], threads: Int) -> [Result<[UInt8], ImageError>] {
        /// One result per file, in raw storage: each slot is written by exactly one lane, which
        /// Swift cannot see, so it is shared unchecked (an array would be one exclusive access).
        final class Slots: @unchecked Sendable {
            let results: UnsafeMutableBufferPointer<Result<[UInt8], ImageError>>
            init(_ count: Int) {
                results = .allocate(capacity: count)
                results.initialize(repeating: .success([]))
            }
            deinit {
                results.deinitialize()
                results.deallocate()
            }
        }
        let slots = Slots(files.count)
        let lanes = max(1, min(threads, files.count))
        DispatchQueue.concurrentPerform(iterations: lanes) { lane in
            for i in stride(from: lane, to: files.count, by: lanes) {
                slots.results[i] = Result { () throws(ImageError) in ImageFile.planarInput(try ImageFile.decode(files[i])) }
            }
        }
        return Array(slots.results)
    }
}
