import ArgumentParser
import Checkpoint  // inspect is a file tool: it decodes and re-encodes the checkpoint format itself
import Foundation  // String(format:), file reads
import Training

/// `ddptrain inspect CKPT`: what a checkpoint holds, verified.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify a checkpoint and print its header, progress, schedule, metrics, tensors and value hash.")

    @Argument(help: "The checkpoint file, or a run directory for its newest usable checkpoint (the one --resume auto would take).")
    var path: String

    @Flag(name: .long, help: "Also re-encode the tensors at several zstd levels, plain and byte-shuffled, and print sizes and times.")
    var compareCompression = false

    func run() throws {
        let (bytes, point) = try ResumePoint.load(path, say: printError)
        let file = point.path
        let (metadata, tensors, summary) = try CheckpointFile.decode(bytes, path: file)
        let state = point.state
        let c = state.configuration
        func mib(_ bytes: Int) -> String { String(format: "%.2f MiB", Double(bytes) / 1_048_576) }
        print("checkpoint \(file)")
        print("  format \(summary.formatVersion), written by ddptrain \(summary.softwareVersion) at \(state.savedAt) (\(state.reason))")
        print("  size \(mib(summary.fileBytes)): payload \(mib(summary.rawPayloadBytes)) raw → \(mib(summary.compressedPayloadBytes)) "
              + String(format: "zstd level %d%@ (ratio %.3f)", summary.compressionLevel, summary.shuffled ? ", byte-shuffled" : "",
                       Double(summary.rawPayloadBytes) / Double(max(1, summary.compressedPayloadBytes))))
        print("  content checksum \(String(format: "%016llx", summary.contentChecksum)) (verified)")
        print("  value hash \(String(format: "%016llx", CheckpointFile.valueHash(tensors))) (equal hash = bitwise-equal tensors)")
        print("  weights hash \(ModelWeights(checkpoint: point).hashText) (parameters and buffers only, as ddptrain export and --init-from report it)")
        print("model \(c.model.name): \(tensors.filter { $0.section == "parameters" }.reduce(0) { $0 + $1.values.count }) parameters, "
              + "\(c.model.classes) classes of \(c.dataset)")
        print("progress: epoch \(state.epoch) of \(c.epochs) complete" + (state.batchInEpoch > 0 ? " + \(state.batchInEpoch) batches" : "")
              + ", global step \(state.globalStep), \(state.samplesSeen) samples seen, \(String(format: "%.0f", state.wallSeconds)) s of training")
        print("run: \(state.worldSize) rank(s), global batch \(state.globalBatchSize), seed \(c.seed), batch norm \(c.batchNormSync.rawValue), "
              + "gradients exchanged as \(c.allReduceType.rawValue), "
              + "augment \(c.augmentation.description)")
        let s = state.schedule
        print("schedule: \(s.kind.rawValue), base lr \(s.baseRate), step \(s.step) of \(s.totalSteps), current lr \(s.currentRate), "
              + "warm-up \(s.warmupEpochs) epochs (\(Int(100 * s.warmupProgress))% done)"
              + (s.kind == .multistep ? ", milestones \(s.milestoneEpochs) × \(s.gamma)" : "")
              + (s.batchScaling.map { ", rates × \($0.factor) (\($0.rule.rawValue) scaling from batch \($0.referenceBatch) to \($0.globalBatch))" } ?? "")
              + (c.optimizer.larsTrust.map { ", LARS trust \($0)" } ?? ""))
        for phase in state.phases { print("phase from step \(phase.step): " + phase.changes.joined(separator: ", ")) }
        if let last = state.history.last {
            let best = state.history.max { $0.testAccuracy < $1.testAccuracy }!
            print(String(format: "metrics: %d epochs; last test accuracy %.2f%% (loss %.4f), best %.2f%% at epoch %d",
                         state.history.count, 100 * last.testAccuracy, last.testLoss, 100 * best.testAccuracy, best.epoch))
        } else {
            print("metrics: no completed epoch")
        }
        if compareCompression { try compare(metadata: metadata, tensors: tensors, version: summary.softwareVersion) }
        print("tensors:")
        let width = min(60, tensors.map(\.name.count).max() ?? 0)
        for t in tensors {
            print("  " + t.name.padding(toLength: max(width, t.name.count), withPad: " ", startingAt: 0)
                  + "  " + t.section.padding(toLength: 10, withPad: " ", startingAt: 0)
                  + "  " + t.shape.map(String.init).joined(separator: "×").padding(toLength: 14, withPad: " ", startingAt: 0)
                  + "  \(t.values.count * 4) B")
        }
    }

    /// Re-encodes the checkpoint's content at several settings and prints size, ratio and times.
    func compare(metadata: Data, tensors: [NamedTensor], version: String) throws {
        let raw = tensors.reduce(0) { $0 + $1.values.count * 4 }
        print("compression of the \(raw) payload bytes (sizes are whole files; times are encode / verify+decode):")
        for level: Int32 in [1, 3, 9, 19] {
            for shuffle in [false, true] {
                let t0 = Date()
                let bytes = try CheckpointFile.encode(metadata: metadata, tensors: tensors, softwareVersion: version,
                                                      level: level, shuffle: shuffle)
                let t1 = Date()
                _ = try CheckpointFile.decode(bytes, path: "(re-encoded)")
                let t2 = Date()
                print(String(format: "  level %2d %@  %10d bytes  ratio %.3f  %7.1f ms / %6.1f ms", level,
                             shuffle ? "shuffled" : "plain   ", bytes.count, Double(raw) / Double(bytes.count),
                             1000 * t1.timeIntervalSince(t0), 1000 * t2.timeIntervalSince(t1)))
            }
        }
    }
}
