import Checkpoint
import Data
import Engine
import Foundation
import Models

/// A model's weights outside a checkpoint: what `ddptrain export` writes for PyTorch and other
/// tools, and what `train --init-from` and `eval --weights` read. The tensors are the
/// parameters and batch-norm buffers under their checkpoint names, which the PyTorch
/// definition in Scripts/ddptrain_torch.py uses as its `state_dict` keys.
public struct ModelWeights {
    /// Parameters and buffers (section `parameters` or `buffers`), in the model's order.
    public var tensors: [NamedTensor]
    /// The model they belong to, when the file says.
    public var model: ModelConfiguration?
    /// The input normalisation the model was trained with, when the file says.
    public var normalization: Normalization?
    /// The data set the model was trained on, when the file says.
    public var dataset: Dataset?
    /// The class names by label, when the file says (a checkpoint: its data set's).
    public var classNames: [String]?
    /// Optimizer steps behind the weights (PyTorch's `num_batches_tracked`), when known.
    public var steps: Int?
    /// The file read.
    public var path: String

    /// Keys of the safetensors `__metadata__` that ddptrain writes and reads.
    public enum MetadataKey {
        /// The `ModelConfiguration` as JSON (`ddptrain_torch.config_from_ddptrain` reads it).
        public static let model = "ddptrain.model"
        /// The normalisation's three means and three standard deviations, as JSON arrays.
        public static let mean = "ddptrain.normalization.mean", std = "ddptrain.normalization.std"
        /// The class names by label, as a JSON array.
        public static let classes = "ddptrain.classes"
        /// The data set trained on (`Dataset` as JSON: name, and labels for CIFAR-100).
        public static let dataset = "ddptrain.dataset"
    }

    /// The suffix of PyTorch's batch-norm step counters, which ddptrain writes and ignores on reading.
    static let stepCounterSuffix = ".num_batches_tracked"

    /// The weights of a checkpoint (or a run directory's newest usable one).
    public init(checkpoint: ResumePoint) {
        tensors = checkpoint.tensors.filter { $0.section != "optimizer" }
        model = checkpoint.state.configuration.model
        normalization = checkpoint.state.configuration.normalization
        dataset = checkpoint.state.configuration.dataset
        classNames = checkpoint.state.configuration.dataset.classNames
        steps = checkpoint.state.globalStep
        path = checkpoint.path
    }

    /// The weights of `path`: a ddptrain checkpoint (by its magic bytes) or run directory, or a
    /// safetensors file (float tensors; `*.num_batches_tracked` ignored; the model and
    /// normalisation from ddptrain's metadata when present).
    public static func load(_ path: String, say: (String) -> Void = { _ in }) throws -> ModelWeights {
        if POSIXFile.isDirectory(path) || isCheckpoint(path) || CheckpointDirectory.pointerTarget(path) != nil {
            return ModelWeights(checkpoint: try ResumePoint.load(path, say: say).point)
        }
        let (tensors, metadata) = try SafetensorsFile.decode(try POSIXFile.readAll(path), path: path)
        var weights: [NamedTensor] = []
        for t in tensors where !t.name.hasSuffix(stepCounterSuffix) {
            guard case .float32(let values) = t.values else {
                throw SafetensorsError.unsupportedDType(path: path, name: t.name, dtype: "I64")
            }
            weights.append(NamedTensor(name: t.name, shape: t.shape, section: t.name.contains(".running_") ? "buffers" : "parameters",
                                       values: values))
        }
        var result = ModelWeights(tensors: weights, path: path)
        let decoder = JSONDecoder()
        if let text = metadata[MetadataKey.model] {
            do { result.model = try decoder.decode(ModelConfiguration.self, from: Data(text.utf8)) } catch {
                throw SafetensorsError.invalid(path: path, reason: "its metadata \(MetadataKey.model) is not a ddptrain model configuration (\(error))")
            }
        }
        if let mean = metadata[MetadataKey.mean], let std = metadata[MetadataKey.std],
           let m = try? decoder.decode([Float].self, from: Data(mean.utf8)),
           let s = try? decoder.decode([Float].self, from: Data(std.utf8)) {
            guard m.count == 3, s.count == 3, (m + s).allSatisfy({ $0.isFinite }), s.allSatisfy({ $0 > 0 }) else {
                throw SafetensorsError.invalid(path: path, reason: "its normalisation metadata is not three finite means and three positive standard deviations")
            }
            result.normalization = Normalization(mean: m, std: s)
        }
        if let text = metadata[MetadataKey.dataset] {
            do {
                let dataset = try decoder.decode(Dataset.self, from: Data(text.utf8))
                try dataset.validate()
                result.dataset = dataset
            } catch {
                throw SafetensorsError.invalid(path: path, reason: "its metadata \(MetadataKey.dataset) is not a ddptrain data set (\(error))")
            }
        }
        if let text = metadata[MetadataKey.classes] {
            guard let names = try? decoder.decode([String].self, from: Data(text.utf8)) else {
                throw SafetensorsError.invalid(path: path, reason: "its metadata \(MetadataKey.classes) is not a JSON array of class names")
            }
            result.classNames = names
        }
        return result
    }

    /// Weights read from `path`, of no known model, normalisation or steps.
    init(tensors: [NamedTensor], path: String) {
        self.tensors = tensors
        self.path = path
    }

    /// The model to run the weights as: their own, which `flags` (the model flags, when given)
    /// must equal, else `flags`; nil when neither says. The model flags do not set the class
    /// count (the data set does), so it is not compared.
    ///
    /// - Throws: `TrainingError.invalidOption` naming both models when `flags` contradicts the file.
    public func model(flags: ModelConfiguration?) throws -> ModelConfiguration? {
        if let stored = model, var flags {
            flags.classes = stored.classes
            guard flags == stored else {
                throw TrainingError.invalidOption(flag: "--model", value: flags.name, rule: "contradicts the model \(stored.name) of \(path)")
            }
        }
        return model ?? flags
    }

    /// Whether `path` starts with a checkpoint's magic bytes.
    static func isCheckpoint(_ path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        return (try? handle.read(upToCount: CheckpointFile.magic.count)).map { Array($0) == CheckpointFile.magic } ?? false
    }

    /// Copies the weights into `network`: every parameter and buffer must be there with the
    /// model's shape, and no other tensor may be; the first that differs is named.
    public func restore(into network: Network) throws(ResumeError) {
        let expected = Set(CheckpointTensors.snapshot(of: network, momentum: nil).map(\.name))
        if let extra = tensors.first(where: { !expected.contains($0.name) }) {
            throw .tensorMismatch(path: path, name: extra.name, reason: "is not a tensor of the model")
        }
        try CheckpointTensors.restore(tensors, from: path, into: network, momentum: nil)
    }

    /// DDPT-64 of the weights' values in order (`CheckpointFile.valueHash`): equal for bitwise-equal weights.
    public var hash: UInt64 { CheckpointFile.valueHash(tensors) }
    /// `hash` as 16 hex digits, as the `started` event's `weightsHash` gives it.
    public var hashText: String { String(format: "%016llx", hash) }

    /// Writes the weights as the new file `path` (never replacing one) in `format`.
    public func write(_ format: ExportFormat, to path: String) throws {
        switch format {
        case .safetensors: try POSIXFile.createNewFile(path, try safetensors(path: path))
        case .onnx: try POSIXFile.createNewFile(path, try onnx())
        }
    }

    /// The weights as a safetensors file: each tensor under its name, plus an int64
    /// `<norm>.num_batches_tracked` for every batch norm (the steps behind the weights, as PyTorch
    /// counts them), so that `load_state_dict(strict=True)` of the PyTorch definition takes it;
    /// the model, normalisation and class names in the metadata.
    public func safetensors(path output: String) throws -> [UInt8] {
        var out: [SafetensorsFile.Tensor] = []
        for t in tensors {
            out.append(.float32(t.name, shape: t.shape, t.values))
            if t.name.hasSuffix(".running_var") {
                let norm = String(t.name.dropLast(".running_var".count))
                out.append(.int64(norm + Self.stepCounterSuffix, shape: [], [Int64(steps ?? 0)]))
            }
        }
        var metadata = try metadata()
        metadata["format"] = "pt"
        return try SafetensorsFile.encode(out, metadata: metadata, path: output)
    }

    /// The weights as an ONNX inference graph of their model (`ONNXExport`), with the same
    /// metadata as the safetensors file.
    public func onnx() throws -> [UInt8] {
        guard let model else { throw ModelError.invalidSetting(name: "model", value: "unknown", rule: "an ONNX export needs the weights' model") }
        let byName = Dictionary(tensors.map { ($0.name, (shape: $0.shape, values: $0.values)) }, uniquingKeysWith: { first, _ in first })
        return try ONNXExport.model(model, weights: byName, metadata: metadata(), producerVersion: TrainingConfiguration.currentVersion)
    }

    /// What both export formats record besides the weights: model, normalisation, data set and
    /// class names.
    func metadata() throws -> [String: String] {
        var metadata: [String: String] = [:]
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        if let names = classNames ?? dataset?.classNames {
            metadata[MetadataKey.classes] = String(decoding: try encoder.encode(names), as: UTF8.self)
        }
        if let dataset {
            metadata[MetadataKey.dataset] = String(decoding: try encoder.encode(dataset), as: UTF8.self)
        }
        if let model {
            metadata[MetadataKey.model] = String(decoding: try encoder.encode(model), as: UTF8.self)
        }
        if let normalization {
            metadata[MetadataKey.mean] = Self.jsonArray(normalization.mean.map { "\($0)" })
            metadata[MetadataKey.std] = Self.jsonArray(normalization.std.map { "\($0)" })
        }
        return metadata
    }

    /// `items` (JSON texts) as a JSON array.
    static func jsonArray(_ items: [String]) -> String { "[" + items.joined(separator: ",") + "]" }
}

/// The file formats `ddptrain export` writes.
public enum ExportFormat: String, CaseIterable, Sendable {
    /// Hugging Face's safetensors: named little-endian tensors after a JSON header.
    case safetensors
    /// An ONNX inference graph (opset 13) with the weights as initializers.
    case onnx
}
