import XCTest
@testable import Checkpoint

/// DDPT-64: the documented values, streaming in pieces of any size, and sensitivity to every
/// single-bit change, including the top-bit pairs that plain word-wise FNV-1a misses.
final class ContentHashTests: XCTestCase {
    func hash(_ bytes: [UInt8]) -> UInt64 {
        bytes.withUnsafeBytes { ContentHash.hash($0) }
    }

    /// Values of the Python reference implementation in Docs/checkpoint-format.md.
    func testMatchesTheDocumentedReferenceValues() {
        XCTAssertEqual(hash([]), 0x323D_EF08_7127_3387)
        XCTAssertEqual(hash(Array("a".utf8)), 0x6FA9_B7D3_B9FB_28F5)
        XCTAssertEqual(hash(Array("DDPTCKPT".utf8)), 0x1B23_B85F_319B_ECCA)
        XCTAssertEqual(hash((0..<100).map { UInt8($0) }), 0x2732_241C_703B_708B)
    }

    func testStreamingInPiecesEqualsHashingTheConcatenation() {
        let data = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        let whole = hash(data)
        for cuts in [[0], [1], [7], [8], [9], [3, 5, 13], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [999], [500, 1000]] {
            var hasher = ContentHash()
            var start = 0
            for cut in cuts + [data.count] {
                data[start..<cut].withUnsafeBytes { hasher.update($0) }
                start = cut
            }
            XCTAssertEqual(hasher.finalize(), whole, "cuts \(cuts)")
        }
    }

    func testLengthMattersEvenWithTrailingZeros() {
        XCTAssertNotEqual(hash([1, 2, 3]), hash([1, 2, 3, 0]))
        XCTAssertNotEqual(hash([]), hash([0]))
        XCTAssertNotEqual(hash([UInt8](repeating: 0, count: 8)), hash([UInt8](repeating: 0, count: 16)))
    }

    func testEverySingleBitFlipChangesTheHash() {
        let data = (0..<64).map { UInt8(truncatingIfNeeded: $0 &* 29) }
        let reference = hash(data)
        var seen: Set<UInt64> = [reference]
        for byte in 0..<data.count {
            for bit in 0..<8 {
                var flipped = data
                flipped[byte] ^= 1 << bit
                XCTAssertTrue(seen.insert(hash(flipped)).inserted, "byte \(byte) bit \(bit)")
            }
        }
    }

    /// Plain word-wise FNV-1a cancels a flip of bit 63 of one word with a flip of bit 30 of the next
    /// (after its rotation); no pair of bit flips in neighbouring words may cancel here.
    func testNoPairOfBitFlipsInThreeWordsCollides() {
        let data = (0..<24).map { UInt8(truncatingIfNeeded: $0 &* 53 &+ 7) }
        var seen: [UInt64: (Int, Int)] = [hash(data): (-1, -1)]
        for first in 0..<(8 * data.count) {
            for second in (first + 1)..<(8 * data.count) {
                var flipped = data
                flipped[first / 8] ^= 1 << (first % 8)
                flipped[second / 8] ^= 1 << (second % 8)
                let h = hash(flipped)
                if let other = seen[h] {
                    XCTFail("bits \(first), \(second) collide with \(other)")
                    return
                }
                seen[h] = (first, second)
            }
        }
    }
}
