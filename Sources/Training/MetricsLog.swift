import Foundation

/// One line of `metrics.jsonl`: the state of the run at the end of an epoch.
public struct EpochMetrics: Codable, Hashable, Sendable {
    /// Epoch number, starting at 1.
    public var epoch: Int
    /// Optimizer steps taken so far.
    public var step: Int
    /// Learning rate of the epoch's last step.
    public var lr: Double
    /// Mean training loss over the epoch (with label smoothing, as optimised).
    public var trainLoss: Double
    /// Training top-1 accuracy over the epoch (on augmented samples, in training mode).
    public var trainAccuracy: Double
    /// Test-set loss.
    public var testLoss: Double
    /// Test-set top-1 accuracy.
    public var testAccuracy: Double
    /// Training images per second over the epoch (excluding evaluation).
    public var imagesPerSecond: Double
    /// Seconds of the epoch's training steps.
    public var epochSeconds: Double
    /// Of those, seconds the training loop waited for the input pipeline (data time not hidden).
    public var dataWaitSeconds: Double
    /// Of those, seconds spent waiting for gradient all-reduces after backward (communication not hidden).
    public var communicationWaitSeconds: Double
    /// Seconds of the evaluation.
    public var evalSeconds: Double
    /// Seconds since the run started.
    public var wallSeconds: Double

    enum CodingKeys: String, CodingKey {
        case epoch, step, lr
        case trainLoss = "train_loss", trainAccuracy = "train_accuracy"
        case testLoss = "test_loss", testAccuracy = "test_accuracy"
        case imagesPerSecond = "images_per_second", epochSeconds = "epoch_seconds"
        case dataWaitSeconds = "data_wait_seconds", communicationWaitSeconds = "allreduce_wait_seconds", evalSeconds = "eval_seconds", wallSeconds = "wall_seconds"
    }
}

/// Appends one JSON object per line to a file, flushed after every line so that a crash loses
/// nothing already reported.
public final class MetricsLog {
    private let handle: FileHandle
    private let encoder: JSONEncoder
    /// The file written.
    public let path: String

    /// Creates (or truncates) `path`, or with `append` continues it.
    public init(path: String, append: Bool = false) throws {
        self.path = path
        let exists = FileManager.default.fileExists(atPath: path)
        guard (append && exists) || FileManager.default.createFile(atPath: path, contents: nil),
              let handle = FileHandle(forWritingAtPath: path) else {
            throw TrainingError.runDirectory(path: path, reason: "cannot create the metrics file")
        }
        if append { _ = try? handle.seekToEnd() }
        self.handle = handle
        encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
    }

    /// Continues a per-step log at step `bound`: keeps the lines of earlier steps (a session that
    /// died after its last checkpoint may have logged steps that the resumed run repeats) and
    /// appends after them, so the log has each step once and in order. Step 0 starts it afresh.
    public convenience init(path: String, keepingStepsBelow bound: Int) throws {
        if bound > 0, let data = FileManager.default.contents(atPath: path) {
            let kept = data.split(separator: 0x0A).filter { line in
                guard let record = try? JSONDecoder().decode(StepRecord.self, from: Data(line)) else { return false }
                return record.step < bound
            }
            var text = Data()
            for line in kept { text.append(contentsOf: line); text.append(0x0A) }
            do { try text.write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
                throw TrainingError.runDirectory(path: path, reason: "rewriting the step log failed: \(error.localizedDescription)")
            }
        }
        try self.init(path: path, append: bound > 0)
    }

    deinit { try? handle.close() }

    /// Writes one record as a line.
    public func append<T: Encodable>(_ record: T) throws {
        var data = try encoder.encode(record)
        data.append(0x0A)
        do {
            try handle.write(contentsOf: data)
            try handle.synchronize()
        } catch {
            throw TrainingError.runDirectory(path: path, reason: "writing metrics failed: \(error.localizedDescription)")
        }
    }
}
