import Checkpoint
import CZstd
import Foundation
import FuzzSupport

/// Fuzz target (a): arbitrary bytes as a checkpoint file.
///
/// `CheckpointFile.decode` must either throw a `CheckpointError` or return a checkpoint whose
/// parts agree with each other; it must never trap, read out of bounds or allocate what the
/// input merely claims. On success the harness also walks what callers use (every tensor, the
/// summary, the value hash), so inconsistent results show up as crashes.
///
/// Two kinds of input reach it:
/// - a whole file (it starts with the magic `DDPTCKPT`): decoded as it is; this exercises the
///   preamble, the lengths and the zstd frame, but a mutated file rarely survives the checksum;
/// - anything else is taken as `header JSON ‖ 0x00 ‖ raw payload` and assembled into a file with
///   consistent lengths, an unshuffled zstd frame and the right content checksum
///   (`checkpointFile(header:payload:)`), so the header parser and the tensor-table checks behind
///   the checksum get fuzzed as well.
func decodeCheckpoint(_ input: UnsafeRawBufferPointer) {
    let magic = Array("DDPTCKPT".utf8)
    let bytes: Data
    if input.count >= magic.count && input.prefix(magic.count).elementsEqual(magic) {
        bytes = Data(input)
    } else {
        let split = input.firstIndex(of: 0) ?? input.count
        guard let file = checkpointFile(header: UnsafeRawBufferPointer(rebasing: input[..<split]),
                                        payload: UnsafeRawBufferPointer(rebasing: input[min(split + 1, input.count)...]))
        else { return }
        bytes = file
    }
    guard let (metadata, tensors, summary) = try? CheckpointFile.decode(bytes, path: "fuzz-input.ddpt") else {
        return  // Rejected with an error: the expected outcome for almost every input.
    }
    var elements = 0
    for tensor in tensors {
        precondition(!tensor.name.isEmpty && !tensor.section.isEmpty, "decode returned an unnamed tensor")
        elements += tensor.values.count
    }
    precondition(elements * 4 == summary.rawPayloadBytes, "the tensors do not tile the payload")
    precondition(summary.fileBytes == bytes.count, "the summary's file size is not the input's")
    precondition(summary.tensors.count == tensors.count, "the summary lists other tensors")
    precondition(metadata.first.map { $0 == UInt8(ascii: "{") || $0 <= 0x20 } ?? false, "the metadata is not an object")
    _ = CheckpointFile.valueHash(tensors)
}

/// A format-1 checkpoint file around `header` and `payload` as they are: the preamble's lengths
/// and content checksum (DDPT-64 of header ‖ payload, see Docs/checkpoint-format.md) are right,
/// the payload is one zstd frame recording its size, and the flags say "not shuffled". Nil only
/// if zstd fails.
func checkpointFile(header: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer) -> Data? {
    var frame = [UInt8](repeating: 0, count: ZSTD_compressBound(payload.count))
    let frameBytes = frame.withUnsafeMutableBytes {
        ZSTD_compress($0.baseAddress, $0.count, payload.baseAddress, payload.count, 1)
    }
    guard ZSTD_isError(frameBytes) == 0 else { return nil }
    var hash = ContentHash()
    hash.update(header)
    hash.update(payload)
    var file = Data("DDPTCKPT".utf8)
    func append<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { file.append(contentsOf: $0) } }
    append(UInt32(1))  // format version
    append(UInt32(0))  // flags: not shuffled
    append(UInt64(header.count))
    append(UInt64(frameBytes))
    append(UInt64(payload.count))
    append(hash.finalize())
    file.append(Data(count: 16))  // reserved
    file.append(contentsOf: header)
    file.append(contentsOf: frame[..<frameBytes])
    return file
}

/// The harness: `decodeCheckpoint` on each input, under libFuzzer or replaying files (see `FuzzMain`).
@main
enum CheckpointDecoderHarness: FuzzHarness {
    static let name = "fuzz-checkpoint-decoder"
    static func test(_ input: UnsafeRawBufferPointer) { decodeCheckpoint(input) }
}
