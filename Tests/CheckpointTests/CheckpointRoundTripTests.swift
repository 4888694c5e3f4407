import Foundation
import XCTest
@testable import Checkpoint

/// Encoding then decoding gives back exactly what was stored: the metadata's bytes, every
/// tensor's name, shape, section and value bits, for every level and with or without shuffle.
final class CheckpointRoundTripTests: XCTestCase {
    func testRoundTripRestoresMetadataBytesAndEveryTensorBitwiseAtLevels1And19ShuffledAndNot() throws {
        let tensors = CheckpointFixture.tensors()
        for level: Int32 in [1, 19] {
            for shuffle in [false, true] {
                let file = try CheckpointFixture.encoded(level: level, shuffle: shuffle, tensors: tensors)
                let decoded = try CheckpointFile.decode(file, path: "memory")
                let context = "level \(level), shuffle \(shuffle)"
                XCTAssertEqual(decoded.metadata, CheckpointFixture.metadata, context)
                XCTAssertEqual(decoded.tensors.map(\.name), tensors.map(\.name), context)
                XCTAssertEqual(decoded.tensors.map(\.shape), tensors.map(\.shape), context)
                XCTAssertEqual(decoded.tensors.map(\.section), tensors.map(\.section), context)
                for (got, want) in zip(decoded.tensors, tensors) {
                    XCTAssertEqual(bits(got.values), bits(want.values), "\(context): \(want.name)")
                }
                XCTAssertEqual(CheckpointFile.valueHash(decoded.tensors), CheckpointFile.valueHash(tensors), context)
                XCTAssertEqual(decoded.summary.compressionLevel, level, context)
                XCTAssertEqual(decoded.summary.shuffled, shuffle, context)
            }
        }
    }

    func testSummaryDescribesTheFileItsPartsAndTheTensorTable() throws {
        let tensors = CheckpointFixture.tensors()
        let file = try CheckpointFixture.encoded(level: 3, shuffle: true, tensors: tensors)
        let summary = try CheckpointFile.decode(file, path: "memory").summary
        XCTAssertEqual(summary.formatVersion, 1)
        XCTAssertEqual(summary.softwareVersion, "test-1.0")
        XCTAssertEqual(summary.fileBytes, file.count)
        XCTAssertEqual(summary.fileBytes, 64 + summary.headerBytes + summary.compressedPayloadBytes)
        let total = tensors.reduce(0) { $0 + $1.values.count }
        XCTAssertEqual(summary.rawPayloadBytes, 4 * total)
        XCTAssertEqual(summary.tensors.map(\.count), tensors.map(\.values.count))
        XCTAssertEqual(summary.tensors.map(\.offset), [0, 240, 250, 466, 474, 475, 475])
        XCTAssertEqual(summary.contentChecksum, file.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 40, as: UInt64.self) })
        XCTAssertNotNil(ISO8601DateFormatter().date(from: summary.created), summary.created)
    }

    func testHeaderIsPlainJSONWithTheDocumentedFieldsAndTheMetadataEmbedded() throws {
        let file = try CheckpointFixture.encoded(shuffle: false)
        let headerBytes = Int(file.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 16, as: UInt64.self) })
        XCTAssertEqual(String(decoding: file.prefix(8), as: UTF8.self), "DDPTCKPT")
        let header = try XCTUnwrap(JSONSerialization.jsonObject(with: file.subdata(in: 64..<(64 + headerBytes))) as? [String: Any])
        XCTAssertEqual(Set(header.keys), ["format", "software_version", "created", "compression", "tensors", "metadata"])
        XCTAssertEqual(header["format"] as? Int, 1)
        let compression = try XCTUnwrap(header["compression"] as? [String: Any])
        XCTAssertEqual(compression["codec"] as? String, "zstd")
        XCTAssertEqual(compression["level"] as? Int, 3)
        XCTAssertEqual(compression["shuffle"] as? Bool, false)
        let tensors = try XCTUnwrap(header["tensors"] as? [[String: Any]])
        XCTAssertEqual(tensors.compactMap { $0["name"] as? String }, CheckpointFixture.tensors().map(\.name))
        XCTAssertEqual(tensors[2]["shape"] as? [Int], [8, 3, 3, 3])
        XCTAssertEqual(tensors[3]["section"] as? String, "buffers")
        let metadata = try XCTUnwrap(header["metadata"] as? [String: Any])
        XCTAssertEqual((metadata["progress"] as? [String: Any])?["step"] as? Int, 1170)
    }

    func testEncodingIsDeterministicForAGivenCreationTime() throws {
        let date = Date(timeIntervalSince1970: 1_700_000_000)
        let make = {
            try CheckpointFile.encode(metadata: CheckpointFixture.metadata, tensors: CheckpointFixture.tensors(),
                                      softwareVersion: "v", level: 3, shuffle: true, created: date)
        }
        XCTAssertEqual(try make(), try make())
        XCTAssertEqual(try CheckpointFile.decode(make(), path: "m").summary.created, "2023-11-14T22:13:20Z")
    }

    func testNoTensorsAndEmptyMetadataObjectRoundTrip() throws {
        let file = try CheckpointFile.encode(metadata: Data("{}".utf8), tensors: [], softwareVersion: "v", level: 3,
                                             shuffle: true)
        let decoded = try CheckpointFile.decode(file, path: "memory")
        XCTAssertEqual(decoded.metadata, Data("{}".utf8))
        XCTAssertEqual(decoded.tensors, [])
        XCTAssertEqual(decoded.summary.rawPayloadBytes, 0)
    }

    func testReadFromDiskMatchesDecode() throws {
        let fixture = try CheckpointFixture()
        let file = try CheckpointFixture.encoded()
        let path = try fixture.write("a.ddpt", bytes: file)
        let read = try CheckpointFile.read(path: path)
        let decoded = try CheckpointFile.decode(file, path: path)
        XCTAssertEqual(read.metadata, decoded.metadata)
        XCTAssertEqual(read.summary, decoded.summary)
        XCTAssertEqual(CheckpointFile.valueHash(read.tensors), CheckpointFile.valueHash(decoded.tensors))
    }

    func testValueHashSeesEveryBitAndTheOrderButNotNamesOrShapes() {
        let tensors = CheckpointFixture.tensors()
        let reference = CheckpointFile.valueHash(tensors)
        var renamed = tensors
        renamed[0].name = "other"
        renamed[0].shape = [240]
        XCTAssertEqual(CheckpointFile.valueHash(renamed), reference)
        var negativeZero = tensors
        negativeZero[1].values[0] = -0.0
        negativeZero[1].values[1] = 0.0
        var positiveZero = negativeZero
        positiveZero[1].values[0] = 0.0
        XCTAssertNotEqual(CheckpointFile.valueHash(negativeZero), CheckpointFile.valueHash(positiveZero))
        var nanPayload = tensors
        nanPayload[6].values[1] = Float(bitPattern: 0x7FC0_0002)
        XCTAssertNotEqual(CheckpointFile.valueHash(nanPayload), reference)
        XCTAssertNotEqual(CheckpointFile.valueHash(Array(tensors.reversed())), reference)
    }

    func testEncodeRejectsMetadataThatIsNotOneJSONObject() {
        for text in ["[1, 2]", "\"text\"", "{\"a\": 1", "{\"a\": 1} {\"b\": 2}", "", "\u{FEFF}{}", "{\"a\": nope}"] {
            let error = checkpointError {
                try CheckpointFile.encode(metadata: Data(text.utf8), tensors: [], softwareVersion: "v", level: 3, shuffle: false)
            }
            guard case .malformedHeader(let path, let reason)? = error else {
                XCTFail("metadata \(text.debugDescription): \(String(describing: error))")
                continue
            }
            XCTAssertEqual(path, CheckpointError.encodingPath)
            XCTAssertTrue(reason.contains("metadata"), reason)
            XCTAssertTrue(error!.description.hasPrefix("cannot encode the checkpoint"), error!.description)
        }
    }

    func testEncodeRejectsTensorsItCouldNotDescribe() {
        let ok = NamedTensor(name: "a", shape: [2], section: "parameters", values: [1, 2])
        let cases: [([NamedTensor], String)] = [
            ([NamedTensor(name: "a", shape: [3], section: "parameters", values: [1, 2])], "shape [3] but 2 values"),
            ([ok, ok], "two tensors are named 'a'"),
            ([NamedTensor(name: "", shape: [0], section: "parameters", values: [])], "empty name"),
            ([NamedTensor(name: "b", shape: [1], section: "", values: [1])], "empty section"),
            ([NamedTensor(name: "c", shape: [-1], section: "s", values: [])], "shape [-1]"),
        ]
        for (tensors, mention) in cases {
            let error = checkpointError {
                try CheckpointFile.encode(metadata: Data("{}".utf8), tensors: tensors, softwareVersion: "v", level: 3, shuffle: false)
            }
            XCTAssertTrue(error?.description.contains(mention) ?? false, "\(String(describing: error)) lacks \(mention)")
        }
    }
}
