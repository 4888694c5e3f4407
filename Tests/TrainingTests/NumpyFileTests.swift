import XCTest
@testable import Training

/// `.npy` output against the format's definition (NumPy's format version 1.0): magic, version,
/// little-endian header length, a header dict padded to a 64-byte boundary, then the data.
final class NumpyFileTests: XCTestCase {
    func testFloat32MatrixHasTheMagicAPaddedHeaderAndLittleEndianValues() throws {
        let bytes = NumpyFile.float32([1, -2.5, 0, 3, 4, 5], shape: [2, 3])
        XCTAssertEqual(Array(bytes[0..<8]), [0x93] + Array("NUMPY".utf8) + [1, 0])
        let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        XCTAssertEqual((10 + headerLength) % 64, 0, "the data starts on a 64-byte boundary")
        let header = try XCTUnwrap(String(bytes: bytes[10..<(10 + headerLength)], encoding: .ascii))
        XCTAssertTrue(header.hasPrefix("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"), header)
        XCTAssertTrue(header.hasSuffix("\n"))
        let data = Array(bytes[(10 + headerLength)...])
        XCTAssertEqual(data.count, 24)
        XCTAssertEqual(data[4..<8].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }, Float(-2.5).bitPattern)
    }

    func testAVectorsShapeIsAOneTuple() throws {
        let bytes = NumpyFile.float32([1, 2], shape: [2])
        let header = String(decoding: bytes[10..<(10 + (Int(bytes[8]) | Int(bytes[9]) << 8))], as: UTF8.self)
        XCTAssertTrue(header.contains("'shape': (2,)"), header)
    }
}
