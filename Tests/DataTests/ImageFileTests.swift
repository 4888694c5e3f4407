import Foundation
import XCTest
@testable import Data

/// The resize rule of `ImageFile.planarInput` (shorter side to 32 by area averaging or bilinear
/// enlarging, centre crop) against images whose right answer is known exactly, and the decoder's
/// refusals of files that are no images. (Decoding real PNG and JPEG files against Pillow is
/// `PredictTests`.)
final class ImageFileTests: XCTestCase {
    /// A `width × height` image whose pixel (x, y) has channel c = `value(x, y, c)`.
    static func image(_ width: Int, _ height: Int, _ value: (Int, Int, Int) -> UInt8) -> RGBImage {
        var pixels: [UInt8] = []
        for y in 0..<height { for x in 0..<width { for c in 0..<3 { pixels.append(value(x, y, c)) } } }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    /// The expected planar bytes of a 32×32 image.
    static func planar(_ value: (Int, Int, Int) -> UInt8) -> [UInt8] {
        (0..<3).flatMap { c in (0..<32).flatMap { y in (0..<32).map { x in value(x, y, c) } } }
    }

    static func pattern(_ x: Int, _ y: Int, _ c: Int) -> UInt8 { UInt8((x * 7 + y * 13 + c * 61) % 256) }

    func testA32By32ImagePassesThroughAsPlanarPixels() {
        XCTAssertEqual(ImageFile.planarInput(Self.image(32, 32, Self.pattern)), Self.planar(Self.pattern))
    }

    func testADoubledImageWithABorderShrinksBackToTheOriginal() {
        // 96×64: a 16-pixel border left and right, then each pixel of the 32×32 pattern doubled.
        let framed = Self.image(96, 64) { x, y, c in
            (16..<80).contains(x) ? Self.pattern((x - 16) / 2, y / 2, c) : 200
        }
        XCTAssertEqual(ImageFile.planarInput(framed), Self.planar(Self.pattern))
        // The same, standing: the border above and below.
        let standing = Self.image(64, 96) { x, y, c in (16..<80).contains(y) ? Self.pattern(x / 2, (y - 16) / 2, c) : 9 }
        XCTAssertEqual(ImageFile.planarInput(standing), Self.planar(Self.pattern))
    }

    func testShrinkingByThreeAveragesEachBlock() {
        // 96×96 where each 3×3 block holds 0…8 plus the block's base: the mean is base + 4.
        let big = Self.image(96, 96) { x, y, c in UInt8(((x / 3 + y / 3 + c) % 20) * 10 + (y % 3) * 3 + x % 3) }
        XCTAssertEqual(ImageFile.planarInput(big), Self.planar { x, y, c in UInt8(((x + y + c) % 20) * 10 + 4) })
    }

    func testEnlargingAConstantImageKeepsItConstantAndALinearRampStaysMonotone() {
        XCTAssertEqual(ImageFile.planarInput(Self.image(8, 8) { _, _, c in UInt8(50 + c) }), Self.planar { _, _, c in UInt8(50 + c) })
        let ramp = ImageFile.planarInput(Self.image(16, 16) { x, _, _ in UInt8(x * 16) })
        let row = Array(ramp[0..<32])
        XCTAssertEqual(row, row.sorted(), "a left-to-right ramp must stay non-decreasing: \(row)")
        XCTAssertEqual(row.first, 0)
        XCTAssertEqual(row.last, 240)
    }

    func testFilesThatAreNoImagesAreRefusedNamingThem() {
        for (bytes, problem) in [(Data(), "empty"), (Data("GIF89a....".utf8), "starts with bytes 47 49 46"),
                                 (Data([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0]), "PNG image"),
                                 (Data([0xff, 0xd8, 0xff, 0xe0, 0, 0]), "JPEG image")] {
            XCTAssertThrowsError(try ImageFile.decode(bytes, path: "photo.bin")) { error in
                XCTAssertTrue("\(error)".contains("photo.bin") && "\(error)".contains(problem), "\(error)")
            }
        }
    }
}
