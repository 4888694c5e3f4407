import Checkpoint
import Foundation
import FuzzSupport

/// Fuzz target (e): arbitrary bytes as a safetensors file (`--init-from`, `eval --weights`).
///
/// `SafetensorsFile.decode` must throw a `SafetensorsError` or return tensors that the encoder
/// writes back into a file which decodes to the same names, shapes, bits and metadata.
func decodeSafetensors(_ input: UnsafeRawBufferPointer) {
    guard let (tensors, metadata) = try? SafetensorsFile.decode(Data(input), path: "fuzz-input.safetensors") else { return }
    guard let bytes = try? SafetensorsFile.encode(tensors, metadata: metadata, path: "fuzz-output.safetensors") else {
        preconditionFailure("decoded tensors \(tensors.map(\.name)) cannot be encoded again")
    }
    guard let (again, metadataAgain) = try? SafetensorsFile.decode(Data(bytes), path: "fuzz-output.safetensors") else {
        preconditionFailure("the re-encoded file does not decode")
    }
    precondition(metadataAgain == metadata, "the metadata changed in the round trip")
    precondition(again.count == tensors.count, "the tensor count changed in the round trip")
    for (a, b) in zip(tensors, again) {
        precondition(a.name == b.name && a.shape == b.shape, "tensor \(a.name) changed its name or shape in the round trip")
        switch (a.values, b.values) {
        case let (.float32(x), .float32(y)): precondition(x.map(\.bitPattern) == y.map(\.bitPattern), "\(a.name): values changed")
        case let (.int64(x), .int64(y)): precondition(x == y, "\(a.name): values changed")
        default: preconditionFailure("\(a.name): the dtype changed in the round trip")
        }
    }
}

/// The harness: `decodeSafetensors` on each input, under libFuzzer or replaying files (see `FuzzMain`).
@main
enum SafetensorsDecoderHarness: FuzzHarness {
    static let name = "fuzz-safetensors-decoder"
    static func test(_ input: UnsafeRawBufferPointer) { decodeSafetensors(input) }
}
