import Checkpoint  // DecodingErrorDescription names the field a decoding error is about
import Foundation
import Models

extension TrainingState {
    /// Decodes a checkpoint's JSON metadata and checks it as strictly as the command line checks
    /// flags: the configuration meets `TrainingConfiguration.validate()`, and the position
    /// (epoch, batch, step, history) is consistent with it. A checkpoint from another tool, or
    /// one edited by hand, is refused with the file and the field named, before anything uses it.
    public static func decode(_ metadata: Data, path: String) throws(ResumeError) -> TrainingState {
        let state: TrainingState
        do {
            state = try JSONDecoder().decode(TrainingState.self, from: metadata)
        } catch let error as DecodingError {
            throw .unreadableState(path: path, reason: DecodingErrorDescription.sentence(error, document: "the metadata"))
        } catch {
            throw .unreadableState(path: path, reason: "\(error)")
        }
        do {
            try state.configuration.validate()
        } catch let problem as ConfigurationProblem {
            throw .invalidState(path: path, reason: problem.described(in: path))
        } catch {
            throw .invalidState(path: path, reason: "\(path): field 'configuration.model' is not valid: \(error)")
        }
        if let reason = state.inconsistency() { throw .invalidState(path: path, reason: "\(path): \(reason)") }
        return state
    }

    /// The first way the position contradicts itself or the configuration, or nil.
    func inconsistency() -> String? {
        let c = configuration
        let steps = schedule.stepsPerEpoch
        func field(_ name: String, _ value: Any, _ rule: String) -> String { "field '\(name)' is \(value), but it \(rule)" }
        let stated = self.stated ?? StatedPosition(epoch: epoch, batchInEpoch: batchInEpoch, globalStep: globalStep,
                                                   samplesSeen: samplesSeen, worldSize: worldSize, globalBatchSize: globalBatchSize)
        guard stated.worldSize == c.worldSize else {
            return field("worldSize", stated.worldSize, "must equal configuration.worldSize (\(c.worldSize))")
        }
        guard stated.globalBatchSize == c.globalBatchSize else {
            return field("globalBatchSize", stated.globalBatchSize,
                         "must equal batchSize × worldSize × accumulateSteps (\(c.globalBatchSize))")
        }
        guard steps >= 1, c.trainingSamples == 0 || steps <= c.trainingSamples else {
            return field("schedule.stepsPerEpoch", steps, "must be between 1 and the \(c.trainingSamples) training samples")
        }
        guard schedule.epochs == c.epochs else { return field("schedule.epochs", schedule.epochs, "must equal configuration.epochs (\(c.epochs))") }
        do { try schedule.validate() } catch { return field(error.field, error.value, error.rule) }
        guard (0...c.epochs).contains(stated.epoch) else {
            return field("epoch", stated.epoch, "must be between 0 and the run's \(c.epochs) epochs")
        }
        guard (0...steps).contains(stated.batchInEpoch), stated.epoch < c.epochs || stated.batchInEpoch == 0 else {
            return field("batchInEpoch", stated.batchInEpoch, "must be between 0 and the \(steps) steps of an epoch (0 once the run is over)")
        }
        // epoch ≤ 100,000 and steps ≤ 2³¹, so the product fits.
        let expected = stated.epoch * steps + stated.batchInEpoch
        guard stated.globalStep == expected, schedule.step == expected else {
            return field("globalStep", stated.globalStep,
                         "must equal epoch × steps per epoch + batchInEpoch = \(expected), as schedule.step (\(schedule.step)) must")
        }
        guard stated.samplesSeen == samplesSeen, samplesSeen != .max else {
            return field("samplesSeen", stated.samplesSeen, "must equal globalStep × globalBatchSize (\(samplesSeen))")
        }
        guard history.count == stated.epoch else {
            return field("history", "\(history.count) entries", "must hold one entry per completed epoch (\(stated.epoch))")
        }
        guard wallSeconds.isFinite, wallSeconds >= 0 else { return field("wallSeconds", wallSeconds, "must be a number ≥ 0") }
        if let p = partialEpoch {
            let values = [p.lossSum, p.correct, p.seen, p.seconds, p.dataWaitSeconds, p.communicationWaitSeconds]
            guard values.allSatisfy({ $0.isFinite && $0 >= 0 }), p.correct <= p.seen else {
                return field("partialEpoch", values.map { "\($0)" }.joined(separator: ", "), "must hold numbers ≥ 0 (correct ≤ seen)")
            }
        }
        return nil
    }
}
