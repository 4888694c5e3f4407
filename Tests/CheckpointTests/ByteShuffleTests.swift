import XCTest
@testable import Checkpoint

/// The byte shuffle is the documented permutation (byte k of float i goes to k·n + i) and
/// unshuffling restores the bytes.
final class ByteShuffleTests: XCTestCase {
    func bytes(_ count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ ($0 >> 8) &* 7 &+ 3) }
    }

    func shuffled(_ input: [UInt8]) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: input.count)
        input.withUnsafeBytes { source in output.withUnsafeMutableBytes { ByteShuffle.shuffle(source, into: $0) } }
        return output
    }

    func unshuffled(_ input: [UInt8]) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: input.count)
        input.withUnsafeBytes { source in output.withUnsafeMutableBytes { ByteShuffle.unshuffle(source, into: $0) } }
        return output
    }

    func testShuffleMovesByteKOfFloatIToKTimesNPlusI() {
        for n in [1, 2, 3, 17, 1000] {
            let input = bytes(4 * n)
            let output = shuffled(input)
            for i in 0..<n {
                for k in 0..<4 {
                    XCTAssertEqual(output[k * n + i], input[4 * i + k], "n \(n), float \(i), byte \(k)")
                }
            }
        }
    }

    func testShuffleIsAPermutationOfPositions() {
        // Tag every position with its own index (as 4-byte words of positions would be too wide,
        // shuffle the indices through the same mapping and check each appears exactly once).
        let n = 300
        var seen = [Bool](repeating: false, count: 4 * n)
        for i in 0..<n {
            for k in 0..<4 {
                let destination = k * n + i
                XCTAssertFalse(seen[destination])
                seen[destination] = true
            }
        }
        XCTAssertTrue(seen.allSatisfy { $0 })
        let input = bytes(4 * n)
        XCTAssertEqual(shuffled(input).sorted(), input.sorted())
    }

    func testUnshuffleRestoresTheBytes() {
        for n in [0, 1, 5, 4096] {
            let input = bytes(4 * n)
            XCTAssertEqual(unshuffled(shuffled(input)), input, "n \(n)")
            XCTAssertEqual(shuffled(unshuffled(input)), input, "n \(n)")
        }
    }

    func testShuffleGroupsTheExponentBytesOfSimilarFloats() {
        let values: [Float] = [0.5, 0.75, 0.625, 0.875]
        let output = values.withUnsafeBytes { source in
            var out = [UInt8](repeating: 0, count: source.count)
            out.withUnsafeMutableBytes { ByteShuffle.shuffle(source, into: $0) }
            return out
        }
        // Little-endian: byte 3 holds the sign and the exponent's high bits, the same for all four.
        XCTAssertEqual(Array(output[12..<16]), [0x3F, 0x3F, 0x3F, 0x3F])
    }
}
