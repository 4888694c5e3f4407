import Foundation
import FuzzSupport
import Training

/// Turns a checkpoint's metadata into the training state a resumed run continues from, with
/// the validation every resume, `inspect` and `eval` applies.
func decodeState(_ metadata: Data, path: String) throws -> TrainingState {
    try TrainingState.decode(metadata, path: path)
}

/// Fuzz target (b): arbitrary bytes as a checkpoint's JSON metadata.
///
/// Decoding must throw or give a state whose numbers can be used: the harness then derives what
/// `ddptrain inspect` prints from a checkpoint's state (the schedule's length, epoch, current
/// rate, warm-up progress and milestones, the model's name), none of which may trap.
///
/// An input without a zero byte is the metadata itself. `JSON ‖ 0x00 ‖ words` replaces the
/// JSON's numbers, in order, by the following 8-byte words (`withNumbers`): byte mutations of
/// JSON text rarely make a large number that still parses, while mutations of binary words
/// reach every integer and double directly.
func decodeTrainingState(_ input: UnsafeRawBufferPointer) {
    let metadata: Data
    if let split = input.firstIndex(of: 0) {
        metadata = withNumbers(UnsafeRawBufferPointer(rebasing: input[..<split]),
                               from: UnsafeRawBufferPointer(rebasing: input[(split + 1)...]))
    } else {
        metadata = Data(input)
    }
    guard let state = try? decodeState(metadata, path: "fuzz-input.ddpt") else { return }
    let schedule = state.schedule
    _ = schedule.totalSteps
    _ = schedule.epoch
    _ = schedule.currentRate
    _ = Int(100 * schedule.warmupProgress)
    _ = schedule.milestoneEpochs
    _ = state.configuration.model.name
}

/// `json` with its first number literals (outside strings) replaced by `words`, one
/// little-endian 8-byte word each, while words last: an integer literal becomes the word as an
/// `Int64`, a literal with a fraction or exponent the word as a `Double` (as an `Int64` when
/// that `Double` is not finite, which JSON cannot write).
func withNumbers(_ json: UnsafeRawBufferPointer, from words: UnsafeRawBufferPointer) -> Data {
    var out = Data()
    var next = 0, i = 0, inString = false
    while i < json.count {
        let byte = json[i]
        if inString {
            out.append(byte)
            if byte == UInt8(ascii: "\\"), i + 1 < json.count {
                out.append(json[i + 1])
                i += 1
            } else if byte == UInt8(ascii: "\"") {
                inString = false
            }
            i += 1
            continue
        }
        let isNumberStart = byte == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
        guard isNumberStart, next + 8 <= words.count else {
            inString = byte == UInt8(ascii: "\"")
            out.append(byte)
            i += 1
            continue
        }
        var end = i + 1, isInteger = true
        while end < json.count, "0123456789+-.eE".utf8.contains(json[end]) {
            if !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(json[end]) { isInteger = false }
            end += 1
        }
        let word = words.loadUnaligned(fromByteOffset: next, as: UInt64.self).littleEndian
        next += 8
        let double = Double(bitPattern: word)
        let text = isInteger || !double.isFinite ? "\(Int64(bitPattern: word))" : "\(double)"
        out.append(contentsOf: text.utf8)
        i = end
    }
    return out
}

/// The harness: `decodeTrainingState` on each input, under libFuzzer or replaying files (see `FuzzMain`).
@main
enum TrainingStateHarness: FuzzHarness {
    static let name = "fuzz-training-state"
    static func test(_ input: UnsafeRawBufferPointer) { decodeTrainingState(input) }
}
