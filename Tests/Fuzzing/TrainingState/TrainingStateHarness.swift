import Foundation
import FuzzSupport
import Training

/// Turns a checkpoint's metadata into the training state a resumed run continues from.
///
/// TODO(issue 10): when `TrainingState.decode(_:path:)` is on main, replace this body with
/// `try TrainingState.decode(metadata, path: path)`.
func decodeState(_ metadata: Data, path: String) throws -> TrainingState {
    let state = try JSONDecoder().decode(TrainingState.self, from: metadata)
    try state.configuration.validate()
    return state
}

/// Fuzz target (b): arbitrary bytes as a checkpoint's JSON metadata.
///
/// Decoding must throw or give a state whose numbers can be used: the harness then reads what
/// a resumed run and `ddptrain inspect` derive from it (schedule length, current rate and
/// warm-up progress, the global batch, milestones), none of which may trap.
func decodeTrainingState(_ input: UnsafeRawBufferPointer) {
    guard let state = try? decodeState(Data(input), path: "fuzz-input.ddpt") else { return }
    let schedule = state.schedule
    _ = schedule.totalSteps
    _ = schedule.epoch
    _ = schedule.currentRate
    _ = Int(100 * schedule.warmupProgress)
    _ = schedule.milestoneEpochs
    _ = state.configuration.globalBatchSize
    _ = state.configuration.model.name
}

/// libFuzzer's entry point: runs `decodeTrainingState` on one input; always returns 0.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTrainingState(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FuzzMain.withBytes(data, size, decodeTrainingState)
    return 0
}

/// Starts libFuzzer, or replays the named inputs in a build without it (see `FuzzMain`).
@main
enum TrainingStateHarness {
    static func main() { FuzzMain.run(harness: "fuzz-training-state", fuzzTrainingState) }
}
