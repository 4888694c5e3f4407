import Foundation
import XCTest
@testable import Checkpoint

/// The checkpoint decoder's fuzzing material (Tests/Fuzzing): the seed corpus must stay valid
/// checkpoints, so that `Scripts/fuzz.sh` starts from files that reach past the first checks.
/// Seeds ending in `.parts` are `header JSON ‖ 0x00 ‖ raw payload`, which the harness assembles
/// into a file with the right lengths and checksum.
///
/// Only `.parts` seeds are committed (no checkpoint files in git). They come from the real
/// encoder: run `DDPTRAIN_WRITE_FUZZ_SEEDS=1 swift test --filter FuzzCorpusTests` to (re)write
/// them after a format change. Whole-file seeds are made when they are needed: the encoder's
/// `smallSeeds()` here, and `Scripts/fuzz.sh` adds checkpoints written by `ddptrain train --model
/// resnet-8 --stem-channels 1 --threads 1 --batch-size 8 --epochs 1` on 40 generated images.
final class FuzzCorpusTests: XCTestCase {
    /// Tests/Fuzzing, found from this file.
    static let fuzzing = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzzing")
    static let corpus = fuzzing.appendingPathComponent("Corpus/checkpoint-decoder")

    /// The seeds made by the encoder, by file name: a plain one and a byte-shuffled one with a
    /// scalar, an empty tensor and three sections.
    static func smallSeeds() throws -> [String: Data] {
        let created = Date(timeIntervalSince1970: 1_750_000_000)
        let plain = try CheckpointFile.encode(
            metadata: Data(#"{"epoch":1,"note":"fuzz seed"}"#.utf8),
            tensors: [NamedTensor(name: "w", shape: [2, 2], section: "parameters", values: [1, -2, 0.5, 0])],
            softwareVersion: "0.2.0", level: 1, shuffle: false, created: created)
        let shuffled = try CheckpointFile.encode(
            metadata: Data(#"{"a":[1,{"b":null}],"s":"\u00e9"}"#.utf8),
            tensors: [
                NamedTensor(name: "conv.weight", shape: [2, 1, 1, 1], section: "parameters", values: [0.25, -0.75]),
                NamedTensor(name: "bn.running_mean", shape: [], section: "buffers", values: [3]),
                NamedTensor(name: "empty", shape: [0, 4], section: "buffers", values: []),
                NamedTensor(name: "conv.weight.momentum_buffer", shape: [2], section: "optimizer", values: [1e-3, -1e-3]),
            ],
            softwareVersion: "0.2.0", level: 3, shuffle: true, created: created)
        var seeds = ["small-plain.ddpt": plain, "small-shuffled.ddpt": shuffled]
        // The same two as parts: the header of an unshuffled file, a zero byte, the raw payload.
        for (name, file) in seeds {
            let (metadata, tensors, _) = try CheckpointFile.decode(file, path: name)
            let plainFile = try CheckpointFile.encode(metadata: metadata, tensors: tensors, softwareVersion: "0.2.0",
                                                      level: 1, shuffle: false, created: created)
            let headerBytes = Int(plainFile.withUnsafeBytes { CheckpointPreamble(loadingFrom: $0.baseAddress!) }.headerBytes)
            var parts = plainFile.subdata(in: CheckpointFile.preambleBytes..<(CheckpointFile.preambleBytes + headerBytes))
            parts.append(0)
            for tensor in tensors {
                for value in tensor.values { withUnsafeBytes(of: value.bitPattern.littleEndian) { parts.append(contentsOf: $0) } }
            }
            seeds[name.replacingOccurrences(of: ".ddpt", with: ".parts")] = parts
        }
        return seeds
    }

    /// A `.parts` seed as the harness assembles it: preamble with the right lengths and
    /// checksum, the header, the payload as one zstd frame, unshuffled.
    static func assemble(parts: Data) throws -> Data {
        let split = parts.firstIndex(of: 0) ?? parts.endIndex
        let header = parts[..<split], payload = split < parts.endIndex ? parts[(split + 1)...] : Data()
        var hasher = ContentHash()
        hasher.update(Data(header))
        hasher.update(Data(payload))
        var frame = [UInt8](repeating: 0, count: Zstd.bound(payload.count))
        let frameBytes = try Data(payload).withUnsafeBytes { source in
            try frame.withUnsafeMutableBytes { try Zstd.compress(source, into: $0, level: 1) }
        }
        var file = Data(count: CheckpointFile.preambleBytes)
        let preamble = CheckpointPreamble(version: 1, flags: 0, headerBytes: UInt64(header.count),
                                          compressedBytes: UInt64(frameBytes), rawBytes: UInt64(payload.count),
                                          checksum: hasher.finalize())
        file.withUnsafeMutableBytes { preamble.store(into: $0.baseAddress!) }
        return file + header + frame[..<frameBytes]
    }

    func testSmallSeedsAreWrittenOnRequest() throws {
        guard ProcessInfo.processInfo.environment["DDPTRAIN_WRITE_FUZZ_SEEDS"] != nil else {
            throw XCTSkip("set DDPTRAIN_WRITE_FUZZ_SEEDS=1 to rewrite the checkpoint decoder's small seeds")
        }
        for (name, bytes) in try Self.smallSeeds() where name.hasSuffix(".parts") {
            try bytes.write(to: Self.corpus.appendingPathComponent(name))
        }
    }

    func testEverySeedDecodes() throws {
        // The committed seeds, and the encoder's whole files that fuzzing starts from as well.
        var seeds = try Self.smallSeeds().filter { !$0.key.hasSuffix(".parts") }
        for name in try FileManager.default.contentsOfDirectory(atPath: Self.corpus.path) {
            seeds[name] = try Data(contentsOf: Self.corpus.appendingPathComponent(name))
        }
        XCTAssertGreaterThanOrEqual(seeds.count, 3, "seeds in \(Self.corpus.path) and from the encoder")
        for (name, file) in seeds.sorted(by: { $0.key < $1.key }) {
            var bytes = file
            if name.hasSuffix(".parts") { bytes = try Self.assemble(parts: bytes) }
            let file = try CheckpointFile.decode(bytes, path: name)
            XCTAssertFalse(file.tensors.isEmpty, name)
        }
    }
}
