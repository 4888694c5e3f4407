@testable import Distributed
import XCTest

/// The bfloat16 conversion and reduction of `--allreduce-dtype bf16`: rounding to nearest with
/// ties to even, the special values, subnormals, and the pairwise float32 sum.
final class BFloat16Tests: XCTestCase {
    /// The pattern `bits(rounding:)` gives for the float32 with pattern `pattern`.
    func rounded(_ pattern: UInt32) -> UInt16 { BFloat16.bits(rounding: Float(bitPattern: pattern)) }

    func testValuesBetweenTwoBFloat16sRoundToTheNearer() {
        XCTAssertEqual(rounded(0x3F80_7FFF), 0x3F80, "just below half an ulp above 1 rounds down")
        XCTAssertEqual(rounded(0x3F80_8001), 0x3F81, "just above half an ulp above 1 rounds up")
        XCTAssertEqual(rounded(0xBF80_8001), 0xBF81, "negative values round by magnitude")
        XCTAssertEqual(rounded(0x3F80_0001), 0x3F80)
        XCTAssertEqual(rounded(0x3F80_FFFF), 0x3F81)
    }

    func testTiesRoundToTheEvenPattern() {
        XCTAssertEqual(rounded(0x3F80_8000), 0x3F80, "1 + 2⁻⁸ lies halfway between 1 and 1 + 2⁻⁷: to 1 (even)")
        XCTAssertEqual(rounded(0x3F81_8000), 0x3F82, "halfway above an odd pattern goes up to the even one")
        XCTAssertEqual(rounded(0xC040_8000), 0xC040)
        XCTAssertEqual(rounded(0x3FFF_8000), 0x4000, "a tie that carries into the exponent")
    }

    func testEveryBFloat16SurvivesTheRoundTripUnchanged() {
        for bits in UInt16.min...UInt16.max {
            let value = BFloat16.float(bits)
            if value.isNaN {
                XCTAssertTrue(BFloat16.float(BFloat16.bits(rounding: value)).isNaN, "NaN pattern \(bits)")
            } else {
                XCTAssertEqual(BFloat16.bits(rounding: value), bits, "pattern \(String(bits, radix: 16)) (\(value))")
            }
        }
    }

    func testNaNStaysNaNWithItsSignAndInfinitiesStayInfinite() {
        // A NaN whose payload lies only in the dropped half would become an infinity if truncated.
        for pattern: UInt32 in [0x7F80_0001, 0x7FC0_0000, 0xFF80_0001, 0x7FFF_FFFF, 0xFFFF_FFFF] {
            let result = rounded(pattern)
            XCTAssertTrue(BFloat16.float(result).isNaN, "NaN \(String(pattern, radix: 16)) became \(String(result, radix: 16))")
            XCTAssertEqual(result >> 15, UInt16(pattern >> 31), "the sign of NaN \(String(pattern, radix: 16))")
        }
        XCTAssertEqual(BFloat16.bits(rounding: .infinity), 0x7F80)
        XCTAssertEqual(BFloat16.bits(rounding: -.infinity), 0xFF80)
        XCTAssertEqual(BFloat16.bits(rounding: .greatestFiniteMagnitude), 0x7F80,
                       "float32's largest value is more than half an ulp beyond bfloat16's and overflows")
        XCTAssertEqual(rounded(0x7F7F_7FFF), 0x7F7F, "bfloat16's largest finite value stays finite")
    }

    func testSubnormalsRoundLikeAnyOtherValue() {
        XCTAssertEqual(rounded(0x0000_0001), 0x0000, "float32's smallest subnormal rounds to zero")
        XCTAssertEqual(rounded(0x8000_0001), 0x8000, "…to negative zero when negative")
        XCTAssertEqual(rounded(0x0000_8000), 0x0000, "a tie at the smallest bfloat16 subnormal goes to zero (even)")
        XCTAssertEqual(rounded(0x0001_8000), 0x0002, "a tie above an odd subnormal goes up")
        XCTAssertEqual(rounded(0x0000_8001), 0x0001)
        XCTAssertEqual(rounded(0x007F_FFFF), 0x0080, "the largest subnormal rounds up into the normals")
        XCTAssertEqual(BFloat16.float(0x0001), Float(bitPattern: 0x0001_0000), "bfloat16's smallest subnormal, 2⁻¹³³")
    }

    func testTheSumAddsInFloat32AndRoundsOnce() {
        let one = BFloat16.bits(rounding: 1), small = BFloat16.bits(rounding: 0x1p-9)
        XCTAssertEqual(BFloat16.sum(one, small), one, "1 + 2⁻⁹ rounds back to 1")
        XCTAssertEqual(BFloat16.sum(one, BFloat16.bits(rounding: 0x1p-7)), BFloat16.bits(rounding: 1 + 0x1p-7))
        // 1 + 1.0078125 = 2.0078125 lies halfway between the bfloat16s 2 and 2.015625: to 2 (even).
        let a = BFloat16.bits(rounding: 1 + 0x1p-7)
        XCTAssertEqual(BFloat16.float(BFloat16.sum(one, a)), 2)
        XCTAssertEqual(BFloat16.float(BFloat16.sum(a, a)), 2.015625, "exact sums stay exact")
        XCTAssertTrue(BFloat16.float(BFloat16.sum(BFloat16.bits(rounding: .nan), one)).isNaN)
        XCTAssertTrue(BFloat16.float(BFloat16.sum(0x7F80, 0xFF80)).isNaN, "∞ + (−∞)")
        XCTAssertEqual(BFloat16.sum(0x7F7F, 0x7F7F), 0x7F80, "overflow to infinity")
    }

    func testTheSumIsCommutativeBitForBit() {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<100_000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let a = UInt16(truncatingIfNeeded: state >> 16), b = UInt16(truncatingIfNeeded: state >> 40)
            let ab = BFloat16.sum(a, b), ba = BFloat16.sum(b, a)
            XCTAssertTrue(ab == ba || (BFloat16.float(ab).isNaN && BFloat16.float(ba).isNaN),
                          "\(String(a, radix: 16)) + \(String(b, radix: 16))")
        }
    }

    func testAccumulateSumsBuffersElementWiseAndRoundTheWayOfTheScalarFunctions() {
        let values: [Float] = [1, -2.5, Float(bitPattern: 0x0020_8001), 0.1, 65_504, -0.0]
        var patterns = [UInt16](repeating: 0, count: values.count)
        BFloat16.round(values, into: &patterns, count: values.count)
        XCTAssertEqual(patterns, values.map(BFloat16.bits(rounding:)))
        var accumulator = patterns
        BFloat16.accumulate(patterns, into: &accumulator, count: patterns.count)
        XCTAssertEqual(accumulator, patterns.map { BFloat16.sum($0, $0) })
        var widened = [Float](repeating: .nan, count: values.count)
        BFloat16.expand(accumulator, into: &widened, count: values.count)
        XCTAssertEqual(widened, accumulator.map(BFloat16.float))
        XCTAssertEqual(widened[0], 2)
        XCTAssertEqual(widened[1], -5)
        XCTAssertNotEqual(widened[3], 0.2, "0.1 is not a bfloat16: the sum is of the rounded values")
        XCTAssertEqual(widened[3], 2 * BFloat16.float(BFloat16.bits(rounding: 0.1)))
    }
}
