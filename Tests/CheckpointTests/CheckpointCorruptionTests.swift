import Foundation
import XCTest
@testable import Checkpoint

/// Every kind of damage is caught by `decode` with the error meant for it, naming the file:
/// flipped bytes in the payload, header or preamble, truncation at any length, foreign files,
/// a newer format, and files that are missing or empty.
final class CheckpointCorruptionTests: XCTestCase {
    let path = "/runs/r20/ckpt-e00003-s000001170.ddpt"

    func headerBytes(_ file: Data) -> Int {
        Int(file.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 16, as: UInt64.self) })
    }

    func flipped(_ file: Data, at offset: Int, mask: UInt8 = 0x10) -> Data {
        var copy = file
        copy[offset] ^= mask
        return copy
    }

    /// Flips the low bit of every byte of the frame. Each flip is a zstd error or a checksum
    /// mismatch, or else it decodes to exactly the stored values: zstd's encoding has a few bits
    /// that decoders do not use (an unused frame-header bit, padding of some bit streams), and
    /// a flip there changes nothing. What must never happen is different weights without an error.
    func testFlippedByteInThePayloadIsAZstdOrChecksumErrorOrChangesNothing() throws {
        let tensors = CheckpointFixture.tensors()
        let expectedHash = CheckpointFile.valueHash(tensors)
        for shuffle in [false, true] {
            let file = try CheckpointFixture.encoded(shuffle: shuffle, tensors: tensors)
            let frameStart = 64 + headerBytes(file)
            var detected = 0
            for offset in frameStart..<file.count {
                do {
                    let decoded = try CheckpointFile.decode(flipped(file, at: offset, mask: 0x01), path: path)
                    XCTAssertEqual(CheckpointFile.valueHash(decoded.tensors), expectedHash,
                                   "flip at \(offset) changed the weights without an error")
                    XCTAssertEqual(decoded.metadata, CheckpointFixture.metadata)
                } catch CheckpointError.corruptPayload(let p, _), CheckpointError.checksumMismatch(let p, _, _) {
                    XCTAssertEqual(p, path)
                    detected += 1
                } catch {
                    XCTFail("flip at \(offset) (frame starts at \(frameStart)): \(error)")
                }
            }
            // Nearly every flip is caught.
            XCTAssertGreaterThan(detected, (file.count - frameStart) * 99 / 100, "shuffle \(shuffle)")
        }
    }

    func testFlippedByteInTheHeaderJSONIsAChecksumMismatch() throws {
        let file = try CheckpointFixture.encoded()
        let header = headerBytes(file)
        let stored = file.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 40, as: UInt64.self) }
        // The first byte, a tensor name, a shape digit, the metadata, the last byte.
        for offset in [64, 64 + 30, 64 + header / 3, 64 + header / 2, 64 + header - 20, 64 + header - 1] {
            let error = checkpointError { try CheckpointFile.decode(flipped(file, at: offset, mask: 0x01), path: path) }
            guard case .checksumMismatch(let p, let expected, let actual)? = error else {
                XCTFail("flip at header byte \(offset - 64): \(String(describing: error))")
                continue
            }
            XCTAssertEqual(p, path)
            XCTAssertEqual(expected, stored)
            XCTAssertNotEqual(actual, stored)
            XCTAssertTrue(error!.description.contains(path) && error!.description.contains("earlier checkpoint"),
                          error!.description)
        }
    }

    func testTruncationAtAnyLengthIsReportedWithTheExpectedAndActualSizes() throws {
        let file = try CheckpointFixture.encoded()
        let full = file.count
        assertThrows(.truncated(path: path, expected: 64, actual: 0), mentioning: [path, "empty"]) {
            try CheckpointFile.decode(Data(), path: path)
        }
        for length in [3, 8, 40, 63] {
            assertThrows(.truncated(path: path, expected: 64, actual: length), mentioning: [path, "\(length) bytes", "64-byte preamble"]) {
                try CheckpointFile.decode(file.prefix(length), path: path)
            }
        }
        for length in [64, 65, 64 + headerBytes(file) / 2, 64 + headerBytes(file), full - 100, full - 1] {
            assertThrows(.truncated(path: path, expected: full, actual: length),
                         mentioning: [path, "\(full) bytes", "has \(length)"]) {
                try CheckpointFile.decode(file.prefix(length), path: path)
            }
        }
    }

    func testWrongMagicGarbageAndForeignFilesAreNotCheckpoints() throws {
        let file = try CheckpointFixture.encoded()
        assertThrows(.badMagic(path: path), mentioning: [path, "DDPTCKPT"]) {
            try CheckpointFile.decode(flipped(file, at: 3), path: path)
        }
        var garbage = [UInt8](repeating: 0, count: 5000)
        for i in garbage.indices { garbage[i] = UInt8(truncatingIfNeeded: i &* 2_654_435_761 >> 13) }
        assertThrows(.badMagic(path: path)) { try CheckpointFile.decode(Data(garbage), path: path) }
        assertThrows(.badMagic(path: path)) { try CheckpointFile.decode(Data("{\"format\": 1}".utf8), path: path) }
        assertThrows(.badMagic(path: path)) { try CheckpointFile.decode(Data("DD".utf8) + Data([0]), path: path) }
        // A prefix of the magic is a truncated checkpoint, not a foreign file.
        assertThrows(.truncated(path: path, expected: 64, actual: 4)) { try CheckpointFile.decode(Data("DDPT".utf8), path: path) }
    }

    func testVersion2IsUnsupportedAndSaysSo() throws {
        var file = try CheckpointFixture.encoded()
        file[8] = 2
        assertThrows(.unsupportedVersion(path: path, found: 2, supported: 1), mentioning: [path, "version 2", "newer"]) {
            try CheckpointFile.decode(file, path: path)
        }
    }

    func testPreambleDamageIsCaught() throws {
        let file = try CheckpointFixture.encoded(shuffle: true)
        // Every byte of the preamble after the magic and version, each bit.
        for offset in 12..<64 {
            for bit in 0..<8 {
                let error = checkpointError { try CheckpointFile.decode(flipped(file, at: offset, mask: 1 << bit), path: path) }
                XCTAssertNotNil(error, "flip of preamble byte \(offset) bit \(bit) went unnoticed")
            }
        }
        // The shuffle flag: the payload is unshuffled wrongly, so the checksum disagrees.
        guard case .checksumMismatch? = checkpointError({ try CheckpointFile.decode(flipped(file, at: 12, mask: 1), path: path) }) else {
            return XCTFail("clearing the shuffle flag is not a checksum mismatch")
        }
        guard case .malformedHeader(_, let reason)? = checkpointError({ try CheckpointFile.decode(flipped(file, at: 13, mask: 1), path: path) }) else {
            return XCTFail("an unknown flag is not a malformed header")
        }
        XCTAssertTrue(reason.contains("flags"), reason)
        guard case .malformedHeader(_, let reserved)? = checkpointError({ try CheckpointFile.decode(flipped(file, at: 60), path: path) }) else {
            return XCTFail("a non-zero reserved byte is not a malformed header")
        }
        XCTAssertTrue(reserved.contains("reserved"), reserved)
    }

    func testBytesAfterThePayloadAreRejected() throws {
        let file = try CheckpointFixture.encoded()
        guard case .corruptPayload(_, let reason)? = checkpointError({ try CheckpointFile.decode(file + Data([0, 0, 0]), path: path) }) else {
            return XCTFail("trailing bytes went unnoticed")
        }
        XCTAssertTrue(reason.contains("3 bytes after"), reason)
    }

    func testMissingFileIsNotFoundAndADirectoryIsAnIOError() throws {
        let fixture = try CheckpointFixture()
        let missing = fixture.path("absent.ddpt")
        assertThrows(.notFound(path: missing), mentioning: [missing, "does not exist"]) {
            try CheckpointFile.read(path: missing)
        }
        guard case .io(let p, let reason)? = checkpointError({ try CheckpointFile.read(path: fixture.directory) }) else {
            return XCTFail("reading a directory is not an I/O error")
        }
        XCTAssertEqual(p, fixture.directory)
        XCTAssertTrue(reason.contains("directory"), reason)
    }

    func testEmptyAndGarbageFilesOnDiskAreReported() throws {
        let fixture = try CheckpointFixture()
        let empty = try fixture.write("empty.ddpt", bytes: Data())
        assertThrows(.truncated(path: empty, expected: 64, actual: 0), mentioning: [empty, "empty"]) {
            try CheckpointFile.read(path: empty)
        }
        let garbage = try fixture.write("garbage.ddpt", bytes: Data((0..<300).map { UInt8(truncatingIfNeeded: $0 * 7) }))
        assertThrows(.badMagic(path: garbage), mentioning: [garbage]) { try CheckpointFile.read(path: garbage) }
    }

    /// Headers whose checksum is right but whose content is not: the table must tile the payload.
    func testHeaderThatPassesTheChecksumButDisagreesWithThePayloadIsMalformed() throws {
        func header(tensors: String, shuffle: Bool = false, metadata: String = "{}", format: Int = 1) -> String {
            "{\"format\":\(format),\"software_version\":\"x\",\"created\":\"2025-01-01T00:00:00Z\","
                + "\"compression\":{\"codec\":\"zstd\",\"level\":1,\"shuffle\":\(shuffle)},\"tensors\":[\(tensors)]"
                + (metadata.isEmpty ? "" : ",\"metadata\":\(metadata)") + "}"
        }
        let a = "{\"name\":\"a\",\"shape\":[2],\"section\":\"p\",\"offset\":0,\"count\":2}"
        let values: [Float] = [1, 2, 3]
        let cases: [(String, String)] = [
            (header(tensors: a), "hold 2 values but the payload has 3"),
            (header(tensors: a + "," + a.replacingOccurrences(of: "\"offset\":0", with: "\"offset\":2")), "two tensors are named 'a'"),
            (header(tensors: "{\"name\":\"a\",\"shape\":[2],\"section\":\"p\",\"offset\":1,\"count\":2}"), "starts at element 1, expected 0"),
            (header(tensors: "{\"name\":\"a\",\"shape\":[3],\"section\":\"p\",\"offset\":0,\"count\":2}"), "shape [3] but count 2"),
            (header(tensors: "{\"name\":\"a\",\"shape\":[4],\"section\":\"p\",\"offset\":0,\"count\":4}"), "beyond the payload"),
            (header(tensors: "{\"name\":\"a\",\"shape\":[3],\"section\":\"p\",\"offset\":0}"), "tensors[0].count is missing"),
            (header(tensors: "{\"name\":\"a\",\"shape\":[\"3\"],\"section\":\"p\",\"offset\":0,\"count\":3}"), "tensors[0].shape[0] is not of type Int"),
            (header(tensors: "{\"name\":\"a\",\"shape\":[3],\"section\":\"p\",\"offset\":0,\"count\":3}", shuffle: true), "\"shuffle\" is true"),
            (header(tensors: "{\"name\":\"a\",\"shape\":[3],\"section\":\"p\",\"offset\":0,\"count\":3}", metadata: ""), "no \"metadata\""),
            (header(tensors: "{\"name\":\"a\",\"shape\":[3],\"section\":\"p\",\"offset\":0,\"count\":3}", metadata: "[1]"), "not a JSON object"),
            (header(tensors: "{\"name\":\"a\",\"shape\":[3],\"section\":\"p\",\"offset\":0,\"count\":3}", format: 2), "\"format\" is 2"),
            ("{\"format\": 1, ", "not valid JSON"),
        ]
        for (text, mention) in cases {
            let file = try CheckpointFixture.assemble(header: text, values: values)
            guard case .malformedHeader(let p, let reason)? = checkpointError({ try CheckpointFile.decode(file, path: path) }) else {
                XCTFail("\(text) was not a malformed header")
                continue
            }
            XCTAssertEqual(p, path)
            XCTAssertTrue(reason.contains(mention), "'\(reason)' does not mention '\(mention)'")
        }
        // The same assembly with a consistent table decodes, so the cases above fail for their own reason.
        let good = header(tensors: "{\"name\":\"a\",\"shape\":[3],\"section\":\"p\",\"offset\":0,\"count\":3}",
                          metadata: " {\"k\": [1, {\"x\": \"}\"}]} ")
        let decoded = try CheckpointFile.decode(CheckpointFixture.assemble(header: good, values: values), path: path)
        XCTAssertEqual(decoded.tensors.first?.values, values)
        XCTAssertEqual(String(decoding: decoded.metadata, as: UTF8.self), " {\"k\": [1, {\"x\": \"}\"}]} ")
    }

    func testMetadataKeyIsFoundWhereverItStandsAndHoweverItIsEscaped() throws {
        let table = "\"tensors\":[{\"name\":\"metadata\",\"shape\":[1],\"section\":\"p\",\"offset\":0,\"count\":1}]"
        let text = "{\"m\\u0065tadata\" : {\"a\":1} ,\"format\":1,\"software_version\":\"x\",\"created\":\"c\","
            + "\"compression\":{\"codec\":\"zstd\",\"level\":1,\"shuffle\":false},\(table)}"
        let decoded = try CheckpointFile.decode(CheckpointFixture.assemble(header: text, values: [5]), path: path)
        XCTAssertEqual(String(decoding: decoded.metadata, as: UTF8.self), " {\"a\":1} ")
    }

    func testMessagesNameTheFileAndSayWhatToDo() {
        let cases: [CheckpointError] = [
            .badMagic(path: path), .unsupportedVersion(path: path, found: 2, supported: 1),
            .truncated(path: path, expected: 100, actual: 80), .checksumMismatch(path: path, expected: 1, actual: 2),
            .corruptPayload(path: path, reason: "zstd: x"), .malformedHeader(path: path, reason: "y"),
            .io(path: path, reason: "writing failed: No space left on device"), .notFound(path: path),
        ]
        for error in cases {
            XCTAssertTrue(error.description.contains(path), error.description)
            XCTAssertGreaterThan(error.description.count, path.count + 40, error.description)
        }
        XCTAssertTrue(CheckpointError.checksumMismatch(path: path, expected: 1, actual: 0xAB).description
                        .contains("0x00000000000000ab"))
    }
}
