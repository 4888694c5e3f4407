import Foundation
import TestSupport
import XCTest

/// Every input a fuzzer found (Tests/Fuzzing/Findings/<harness>/) and every seed is replayed
/// through the harness's own checks, built without libFuzzer by `swift build --build-tests`
/// (`.build/debug/fuzz-<harness> FILE…`): a trap, a failed check or a crash fails the test, so a
/// finding stays fixed. Skips, saying so, when the replay binaries have not been built.
final class FuzzFindingReplayTests: XCTestCase {
    static let fuzzing = MPIHarness.repository.appendingPathComponent("Tests/Fuzzing")

    func replay(_ harness: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let binary = MPIHarness.repository.appendingPathComponent(".build/debug/fuzz-\(harness)")
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            throw XCTSkip("no replay build of fuzz-\(harness) at \(binary.path): run `swift build --build-tests`")
        }
        let inputs = ["Findings", "Corpus"].map { Self.fuzzing.appendingPathComponent("\($0)/\(harness)").path }
            .filter { FileManager.default.fileExists(atPath: $0) }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("ddptrain-fuzz-replay-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let result = try TestProcess.run(binary.path, inputs, environment: ProcessInfo.processInfo.environment,
                                        directory: scratch, log: scratch.appendingPathComponent("replay.log"))
        XCTAssertEqual(result.status, 0, "fuzz-\(harness) failed on a committed input:\n\(result.tail)", file: file, line: line)
    }

    func testCheckpointDecoderFindingsAndSeedsAreRejectedOrReadWithoutATrap() throws { try replay("checkpoint-decoder") }

    /// Includes the state whose schedule's total steps overflowed, whose warm-up (1e300 epochs)
    /// could not become a step count, and whose step was `Int.min`: `TrainingState.decode` now
    /// refuses each before any of those numbers is used.
    func testTrainingStateFindingsAreRefusedByTheValidationWithoutATrap() throws { try replay("training-state") }

    func testCIFARReaderSeedsAreReadWithoutATrap() throws { try replay("cifar-reader") }

    /// Includes `sparsenet-27-9223372036854775807`, whose 2k stem overflowed before validation.
    func testModelNameFindingsAreRefusedWithoutATrap() throws { try replay("model-name") }

    /// The seeds are files of the reference writer (Python's safetensors): decoded, re-encoded and
    /// decoded again to the same tensors.
    func testSafetensorsDecoderSeedsRoundTripWithoutATrap() throws { try replay("safetensors-decoder") }
}
