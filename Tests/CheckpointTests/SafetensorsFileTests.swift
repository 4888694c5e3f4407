import Foundation
import XCTest
@testable import Checkpoint

/// The safetensors codec against the format's definition: files built here byte by byte from
/// the layout (8-byte little-endian header length, JSON header, data) decode to the intended
/// tensors, what `encode` writes has that layout, and every malformed file is refused naming it.
final class SafetensorsFileTests: XCTestCase {
    /// A file of `header` (JSON text, padded to 8 bytes) and `data`, built from the layout alone.
    static func file(_ header: String, _ data: [UInt8]) -> Data {
        var h = Array(header.utf8)
        while h.count % 8 != 0 { h.append(0x20) }
        var bytes = withUnsafeBytes(of: UInt64(h.count).littleEndian) { Array($0) }
        bytes += h + data
        return Data(bytes)
    }

    /// Little-endian bytes of `values`.
    static func bytes<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
        values.flatMap { v in withUnsafeBytes(of: v.littleEndian) { Array($0) } }
    }

    func testAHandBuiltFileDecodesEveryDTypeToItsValues() throws {
        // F32 [1.5, -2], F16 [1, -0.5] (0x3c00, 0xb800), BF16 [2] (0x4000), F64 [0.25], I64 [7].
        let data = Self.bytes([Float(1.5).bitPattern, Float(-2).bitPattern]) + Self.bytes([UInt16(0x3c00), 0xb800])
            + Self.bytes([UInt16(0x4000)]) + Self.bytes([Double(0.25).bitPattern]) + Self.bytes([Int64(7)])
        let header = #"{"__metadata__":{"format":"pt"},"c.bf":{"dtype":"BF16","shape":[1],"data_offsets":[12,14]},"#
            + #""a.w":{"dtype":"F32","shape":[2,1],"data_offsets":[0,8]},"b.h":{"dtype":"F16","shape":[2],"data_offsets":[8,12]},"#
            + #""d.f":{"dtype":"F64","shape":[],"data_offsets":[14,22]},"e.n":{"dtype":"I64","shape":[],"data_offsets":[22,30]}}"#
        let (tensors, metadata) = try SafetensorsFile.decode(Self.file(header, data), path: "hand.safetensors")
        XCTAssertEqual(metadata, ["format": "pt"])
        XCTAssertEqual(tensors.map(\.name), ["a.w", "b.h", "c.bf", "d.f", "e.n"], "tensors come in data order")
        XCTAssertEqual(tensors[0], SafetensorsFile.Tensor(name: "a.w", shape: [2, 1], values: .float32([1.5, -2])))
        XCTAssertEqual(tensors[1].values, .float32([1, -0.5]))
        XCTAssertEqual(tensors[2].values, .float32([2]))
        XCTAssertEqual(tensors[3], SafetensorsFile.Tensor(name: "d.f", shape: [], values: .float32([0.25])))
        XCTAssertEqual(tensors[4].values, .int64([7]))
    }

    func testEncodeWritesTheLayoutAndDecodesBackBitForBit() throws {
        let tensors = [
            SafetensorsFile.Tensor(name: "stem.conv.weight", shape: [2, 1, 1, 2], values: .float32([0.1, -0, .infinity, 3e-38])),
            SafetensorsFile.Tensor(name: "stem.norm.num_batches_tracked", shape: [], values: .int64([123_456_789_012])),
            SafetensorsFile.Tensor(name: "name \"quoted\"\n", shape: [0], values: .float32([])),
        ]
        let bytes = try SafetensorsFile.encode(tensors, metadata: ["ddptrain.model": #"{"depth":8}"#], path: "out")
        let length = Int(bytes[0..<8].reversed().reduce(0) { $0 << 8 | UInt64($1) })
        XCTAssertEqual(length % 8, 0, "the header is padded to 8 bytes")
        XCTAssertEqual(bytes.count, 8 + length + 16 + 8, "4 float32 and one int64 after the header")
        let header = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + length)])) as? [String: Any])
        let entry = try XCTUnwrap(header["stem.norm.num_batches_tracked"] as? [String: Any])
        XCTAssertEqual(entry["dtype"] as? String, "I64")
        XCTAssertEqual(entry["data_offsets"] as? [Int], [16, 24])
        XCTAssertEqual((header["__metadata__"] as? [String: String])?["ddptrain.model"], #"{"depth":8}"#)
        let (decoded, metadata) = try SafetensorsFile.decode(Data(bytes), path: "out")
        XCTAssertEqual(metadata, ["ddptrain.model": #"{"depth":8}"#])
        XCTAssertEqual(decoded.map(\.name), tensors.map(\.name))
        guard case .float32(let values) = decoded[0].values else { return XCTFail("not float32") }
        XCTAssertEqual(values.map(\.bitPattern), [Float(0.1), -0, .infinity, 3e-38].map(\.bitPattern))
        XCTAssertEqual(decoded[1], tensors[1])
    }

    func testEncodeRefusesDuplicateAndReservedNamesAndWrongCounts() {
        let t = SafetensorsFile.Tensor(name: "a", shape: [2], values: .float32([1, 2]))
        for (tensors, what) in [([t, t], "twice"), ([SafetensorsFile.Tensor(name: "__metadata__", shape: [1], values: .float32([1]))], "reserved"),
                                ([SafetensorsFile.Tensor(name: "b", shape: [3], values: .float32([1, 2]))], "elements")] {
            XCTAssertThrowsError(try SafetensorsFile.encode(tensors, metadata: [:], path: "out.safetensors")) {
                XCTAssertTrue("\($0)".contains("out.safetensors") && "\($0)".contains(what), "\($0)")
            }
        }
    }

    /// Each malformed file is refused with its path and the problem named.
    func testMalformedFilesAreRefusedNamingTheFileAndTheProblem() {
        let four = Self.bytes([UInt32(0), 0])
        let cases: [(Data, String)] = [
            (Data([1, 2, 3]), "fewer than the 8-byte"),
            (Data(Self.bytes([UInt64(1 << 40)]) + [0x7b, 0x7d]), "header length"),
            (Self.file("{not json", four), "not valid JSON"),
            (Self.file("[1,2]", four), "not a JSON object"),
            (Self.file(#"{"__metadata__":{"k":1}}"#, []), "strings to strings"),
            (Self.file(#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#, [0]), "dtype U8"),
            (Self.file(#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, four), "do not hold 3 elements"),
            (Self.file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}"#,
                       four), "overlap or leave a gap"),
            (Self.file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, four), "bytes left over"),
            (Self.file(#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, four), "do not hold"),
            (Self.file(#"{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,4]}}"#, four), "do not hold"),
            (Self.file(#"{"a":{"shape":[1],"data_offsets":[0,4]}}"#, four), "no dtype"),
            (Self.file(#"{"":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, Array(four.prefix(4))), "empty name"),
        ]
        for (bytes, problem) in cases {
            XCTAssertThrowsError(try SafetensorsFile.decode(bytes, path: "bad.safetensors"), problem) { error in
                XCTAssertTrue("\(error)".contains("bad.safetensors") && "\(error)".contains(problem), "expected '\(problem)' in: \(error)")
            }
        }
    }
}

/// Files written by the reference writer (Python's `safetensors.torch.save_file`, the fuzzing
/// seeds of Tests/Fuzzing/Corpus/safetensors-decoder) decode to the tensors it was given.
final class SafetensorsReferenceFileTests: XCTestCase {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzzing/Corpus/safetensors-decoder")

    func decode(_ name: String) throws -> (tensors: [SafetensorsFile.Tensor], metadata: [String: String]) {
        try SafetensorsFile.decode(Data(contentsOf: Self.corpus.appendingPathComponent(name)), path: name)
    }

    func testPyTorchsFloat32AndInt64TensorsAndMetadataAreRead() throws {
        let (tensors, metadata) = try decode("pytorch-f32-i64.safetensors")
        XCTAssertEqual(metadata, ["format": "pt"])
        XCTAssertEqual(Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0) }), [
            "stem.conv.weight": .float32("stem.conv.weight", shape: [2, 1, 2, 2], (0..<8).map(Float.init)),
            "stem.norm.num_batches_tracked": .int64("stem.norm.num_batches_tracked", shape: [], [3]),
        ])
    }

    func testPyTorchsHalfBFloat16AndDoubleTensorsAreConvertedToFloat32() throws {
        let byName = Dictionary(uniqueKeysWithValues: try decode("pytorch-f16-bf16-f64.safetensors").tensors.map { ($0.name, $0) })
        XCTAssertEqual(byName["a"], .float32("a", shape: [2], [1, -0.5]))
        XCTAssertEqual(byName["b"], .float32("b", shape: [1], [2]))
        XCTAssertEqual(byName["c"], .float32("c", shape: [], [0.25]))
        XCTAssertTrue(try decode("empty.safetensors").tensors.isEmpty)
    }
}
