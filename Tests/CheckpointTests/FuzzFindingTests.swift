import Foundation
import XCTest
@testable import Checkpoint

/// Inputs that crashed the checkpoint decoder under Scripts/fuzz.sh, replayed from
/// Tests/Fuzzing/Findings/checkpoint-decoder: each must now be rejected with an error.
final class FuzzFindingTests: XCTestCase {
    static let findings = FuzzCorpusTests.fuzzing.appendingPathComponent("Findings/checkpoint-decoder")

    func finding(_ name: String) throws -> Data {
        try Data(contentsOf: Self.findings.appendingPathComponent(name))
    }

    /// A 355-byte file whose preamble and zstd frame both claim a 1 TiB payload while the frame
    /// holds one 16-byte block: the decoder allocated the claimed size up front, which failed
    /// ("failed to allocate 1099511627808 bytes") and killed the process, so `--resume auto`
    /// could not fall back past such a file.
    func testAFrameThatClaimsATebibyteIsRejectedWithoutAllocatingIt() throws {
        let path = "frame-claims-1tib"
        XCTAssertThrowsError(try CheckpointFile.decode(finding(path), path: path)) { error in
            guard case .corruptPayload(let p, let reason)? = error as? CheckpointError else {
                return XCTFail("expected corruptPayload, got \(error)")
            }
            XCTAssertEqual(p, path)
            XCTAssertFalse(reason.isEmpty)
        }
    }

    /// Payloads above the one-shot limit are decoded in pieces; every size around the doubling
    /// steps must come back byte for byte, with and without zstd's checksum.
    func testPiecewiseDecodingReturnsThePayloadExactly() throws {
        for count in [1, 999, 1000, 1001, 2000, 4000, 4001, 65_536, 300_001] {
            let payload = (0..<count).map { UInt8(truncatingIfNeeded: ($0 &* 2_654_435_761) >> 7) }
            var frame = [UInt8](repeating: 0, count: Zstd.bound(count))
            let frameBytes = try payload.withUnsafeBytes { source in
                try frame.withUnsafeMutableBytes { try Zstd.compress(source, into: $0, level: 3) }
            }
            let decoded = try frame.withUnsafeBytes {
                try Zstd.decompress(UnsafeRawBufferPointer(rebasing: $0[..<frameBytes]), expectedBytes: count,
                                    oneShotLimit: 1000)
            }
            XCTAssertEqual(decoded, payload, "\(count) bytes")
        }
    }

    /// A frame that declares more than it holds fails in pieces too, naming what it produced.
    func testPiecewiseDecodingRejectsAFrameShorterThanItsClaim() throws {
        // Frame header: magic, descriptor (8-byte content size, not single-segment, no checksum),
        // window descriptor (1 KiB), content size 5000; then one last raw block of 16 bytes.
        var frame: [UInt8] = [0x28, 0xB5, 0x2F, 0xFD, 0xC0, 0x00]
        withUnsafeBytes(of: UInt64(5000).littleEndian) { frame.append(contentsOf: $0) }
        frame += [0x81, 0x00, 0x00] + [UInt8](repeating: 7, count: 16)
        XCTAssertThrowsError(try frame.withUnsafeBytes {
            try Zstd.decompress($0, expectedBytes: 5000, oneShotLimit: 1000)
        }) { error in
            XCTAssertFalse((error as? Zstd.Failure)?.reason.isEmpty ?? true, "\(error)")
        }
    }
}
