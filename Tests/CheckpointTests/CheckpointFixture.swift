import Foundation
import TestSupport
import XCTest
@testable import Checkpoint

/// Test material: a fresh temporary directory (removed when the fixture goes away), tensors whose
/// values include every awkward float, and metadata whose exact bytes must survive.
final class CheckpointFixture {
    /// The temporary directory.
    let directory: String

    init() throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("ddptrain-checkpoint-\(UUID().uuidString)", isDirectory: true).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    /// The path of `name` in the directory.
    func path(_ name: String) -> String { directory + "/" + name }

    /// Writes `bytes` to `name` in the directory and returns its path.
    @discardableResult
    func write(_ name: String, bytes: Data) throws -> String {
        try bytes.write(to: URL(fileURLWithPath: path(name)))
        return path(name)
    }

    /// The names in the directory, sorted.
    func listing() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
    }

    /// Metadata with nesting, unicode, escapes, a number in a form a re-serialiser would change,
    /// and whitespace around it: only byte-exact embedding returns it unchanged.
    static let metadata = Data(("  {\"config\": {\"model\": \"sparsenet-40-24\", \"lr\": 1.0e-1, \"wd\": 5E-4},\n"
        + " \"progress\": {\"epoch\": 3, \"step\": 1170}, \"note\": \"grün \\\"quoted\\\" \\\\ \\u00e9\",\n"
        + " \"history\": [{\"loss\": 2.30}, {\"loss\": 1.75}], \"empty\": {}, \"null\": null}\n").utf8)

    /// Float bit patterns that a lossy or value-based path would change: NaNs with payloads
    /// (quiet and signalling, both signs), ±0, denormals, infinities, extremes.
    static let awkwardBits: [UInt32] = [
        0x7FC0_0000, 0x7FC0_0001, 0xFFBA_DBAD, 0x7F80_0001, 0x0000_0000, 0x8000_0000, 0x0000_0001,
        0x807F_FFFF, 0x0040_0000, 0x7F80_0000, 0xFF80_0000, 0x7F7F_FFFF, 0x0080_0000, 0x3F80_0000,
    ]

    /// A small tensor set over three sections, with a scalar, an empty tensor and names that
    /// need JSON escaping.
    static func tensors(seed: UInt64 = 1) -> [NamedTensor] {
        func values(_ count: Int, _ salt: UInt64) -> [Float] {
            (0..<count).map { i in
                if i % 7 == 3 { return Float(bitPattern: awkwardBits[(i / 7) % awkwardBits.count]) }
                let z = TestRandom.hash(seed << 40 ^ salt << 32 ^ UInt64(i))
                return Float(Int64(bitPattern: z >> 8) % 2_000_001 - 1_000_000) * 1e-7
            }
        }
        return [
            NamedTensor(name: "head.linear.weight", shape: [10, 24], section: "parameters", values: values(240, 1)),
            NamedTensor(name: "head.linear.bias", shape: [10], section: "parameters", values: values(10, 2)),
            NamedTensor(name: "stem.conv.weight", shape: [8, 3, 3, 3], section: "parameters", values: values(216, 3)),
            NamedTensor(name: "block1.norm.running_mean", shape: [8], section: "buffers", values: values(8, 4)),
            NamedTensor(name: "scalar", shape: [], section: "buffers", values: values(1, 5)),
            NamedTensor(name: "empty", shape: [3, 0], section: "buffers", values: []),
            NamedTensor(name: "momentum.head.linear.weight \"ü\\n\"", shape: [10, 24], section: "optimizer",
                        values: Self.awkwardBits.map { Float(bitPattern: $0) } + values(240 - awkwardBits.count, 6)),
        ]
    }

    /// Encodes `tensors()` with the fixture metadata.
    static func encoded(level: Int32 = 3, shuffle: Bool = true, tensors: [NamedTensor] = tensors()) throws -> Data {
        try CheckpointFile.encode(metadata: metadata, tensors: tensors, softwareVersion: "test-1.0", level: level,
                                  shuffle: shuffle)
    }

    /// Assembles a file from a hand-written header and tensor values, with correct lengths and
    /// checksum, so that tests can reach the header checks that come after the checksum.
    static func assemble(header: String, values: [Float], shuffle: Bool = false, version: UInt32 = 1) throws -> Data {
        let headerBytes = Array(header.utf8)
        let raw = values.withUnsafeBytes { Array($0) }
        var hasher = ContentHash()
        hasher.update(headerBytes)
        hasher.update(raw)
        var payload = raw
        if shuffle {
            payload = [UInt8](repeating: 0, count: raw.count)
            raw.withUnsafeBytes { source in
                payload.withUnsafeMutableBytes { ByteShuffle.shuffle(source, into: $0) }
            }
        }
        var frame = [UInt8](repeating: 0, count: Zstd.bound(payload.count))
        let frameBytes = try payload.withUnsafeBytes { source in
            try frame.withUnsafeMutableBytes { try Zstd.compress(source, into: $0, level: 1) }
        }
        frame.removeLast(frame.count - frameBytes)
        let preamble = CheckpointPreamble(version: version, flags: shuffle ? 1 : 0, headerBytes: UInt64(headerBytes.count),
                                          compressedBytes: UInt64(frameBytes), rawBytes: UInt64(raw.count),
                                          checksum: hasher.finalize())
        var file = [UInt8](repeating: 0, count: CheckpointFile.preambleBytes)
        file.withUnsafeMutableBytes { preamble.store(into: $0.baseAddress!) }
        return Data(file + headerBytes + frame)
    }
}

/// Asserts that `body` throws exactly `expected`, and that its message names `mentions`.
func assertThrows<T>(_ expected: CheckpointError, mentioning mentions: [String] = [],
                     file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> T) {
    do {
        _ = try body()
        XCTFail("expected \(expected), but nothing was thrown", file: file, line: line)
    } catch let error as CheckpointError {
        XCTAssertEqual(error, expected, file: file, line: line)
        for text in mentions {
            XCTAssertTrue(error.description.contains(text), "'\(error.description)' does not mention '\(text)'",
                          file: file, line: line)
        }
    } catch {
        XCTFail("expected \(expected), got \(error)", file: file, line: line)
    }
}

/// The error `body` throws, which must be a `CheckpointError`.
func checkpointError<T>(file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> T) -> CheckpointError? {
    do {
        _ = try body()
        XCTFail("expected a CheckpointError, but nothing was thrown", file: file, line: line)
    } catch let error as CheckpointError {
        return error
    } catch {
        XCTFail("expected a CheckpointError, got \(error)", file: file, line: line)
    }
    return nil
}

/// The values' bit patterns, for comparisons in which NaN payloads and −0 count.
func bits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }
