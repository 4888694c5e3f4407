import Checkpoint
import Engine
import Foundation

/// Saving the run's state: checkpoints (rank 0 writes them in the background) and state dumps.
extension Trainer {
    /// How the run ended, judged from rank 0's checkpoint ledger: a failed last checkpoint, or a
    /// stop asked for by a failed write, makes it `checkpointFailed`.
    func endOfRun(stopped: Bool) -> RunOutcome {
        let (written, failure, lastFailed) = ledger.state
        let onDisk = written ?? (directory.flatMap { CheckpointDirectory.candidates(in: $0.path).first })
        if let failure, lastFailed || (stopped && writeFailed.isSet) {
            return .checkpointFailed(name: failure.name, reason: failure.reason, onDisk: onDisk, stopped: stopped)
        }
        return stopped ? .stoppedBySignal(checkpoint: configuration.checkpoint.enabled ? onDisk : nil) : .finished
    }

    /// Takes a checkpoint at the current position (`schedule.step`). Every rank calls this at the
    /// same point (with local or grouped batch norm the running statistics are averaged first, a collective);
    /// rank 0 snapshots the state into memory and compresses and writes it on a background
    /// thread, so training stalls only for the copy. `wait` blocks until the file is on disk.
    /// With `best`, the run directory's `best` names the file once it is written (the highest test
    /// accuracy so far), and pruning by `--keep` never deletes it.
    func saveCheckpoint(reason: String, wallSeconds: Double, wait: Bool, best: Bool = false) throws {
        guard configuration.checkpoint.enabled else { return }
        if runner.runningStatisticsDiffer { averageRunningStatistics() }
        guard let writer else { return }
        let stallStart = Date()
        writer.waitForPending()
        let c = configuration
        var state = TrainingState(
            configuration: c, schedule: schedule, networkStep: network.context.step, history: history, partialEpoch: partial,
            wallSeconds: wallSeconds, savedAt: ISO8601DateFormatter().string(from: Date()), reason: reason)
        if state.batchInEpoch == 0 { state.partialEpoch = nil }
        state.phases = phases
        let epoch = state.epoch
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let metadata = try encoder.encode(state)
        let tensors = CheckpointTensors.snapshot(of: network, momentum: optimizer.velocity.pointer)
        let name = CheckpointDirectory.fileName(epoch: epoch, globalStep: schedule.step)
        let settings = c.checkpoint
        let reporter = self.reporter, failed = writeFailed, ledger = self.ledger, events = self.events
        let path = (c.runDirectory as NSString).appendingPathComponent(name), step = schedule.step
        let size = SizeBox()
        let writeStart = Date()
        writer.writeInBackground(name: name, best: best, make: {
            let bytes = try CheckpointFile.encode(metadata: metadata, tensors: tensors,
                                                  softwareVersion: TrainingConfiguration.currentVersion,
                                                  level: settings.zstdLevel, shuffle: settings.shuffle)
            size.bytes = bytes.count
            return bytes
        }, completion: { result in
            ledger.record(name, result)
            switch result {
            case .success:
                var event = RunEvent(.checkpoint, rank: 0)
                event.path = path
                event.step = step
                event.trainingEpoch = epoch
                events?.record(event)
                reporter.line(String(format: "checkpoint %@: %.2f MiB, compressed and written in %.0f ms in the background",
                                     name, Double(size.bytes) / 1_048_576, 1000 * Date().timeIntervalSince(writeStart)))
            case .failure(let error):
                reporter.line("warning: checkpoint \(name) could not be written: \(error). Any earlier checkpoint is kept; "
                              + (settings.onFailure == .stop ? "stopping after this step (--on-checkpoint-failure stop)."
                                                             : "training continues (--on-checkpoint-failure continue)."))
                if settings.onFailure == .stop { failed.set() }
            }
        })
        let stall = Date().timeIntervalSince(stallStart)
        checkpointStalls.append(stall)
        reporter.line(String(format: "checkpoint %@ (%@): training stalled %.1f ms for the snapshot", name, reason, 1000 * stall))
        if wait { writer.waitForPending() }
    }

    /// Writes the parameters and then the batch-norm buffers as raw native-endian float32 to `path`
    /// (for tests that compare ranks or runs bit for bit).
    public func dumpState(to path: String) throws {
        var data = Data(buffer: UnsafeBufferPointer(network.parameters.values.buffer))
        data.append(Data(buffer: UnsafeBufferPointer(network.buffers.values.buffer)))
        do { try data.write(to: URL(fileURLWithPath: path)) } catch {
            throw TrainingError.runDirectory(path: path, reason: "writing the state dump failed: \(error.localizedDescription)")
        }
    }
}


/// The size of a checkpoint, filled in by the background writer.
final class SizeBox: @unchecked Sendable {
    var bytes = 0
}
