import Dispatch
import TestSupport
import XCTest
@testable import Data

/// Rendering network inputs: normalisation, each augmentation with forced choices against
/// hand-made expectations and a slow reference of explicit intermediate images, and the
/// determinism of the random draws.
final class AugmenterTests: XCTestCase {
    let set = CIFARFixture.imageSet(0..<8)
    let normalization = Normalization(mean: [0.49, 0.48, 0.45], std: [0.25, 0.24, 0.26])

    func augmenter(_ list: String = "crop,flip", fill: ShiftFill = .nearest, padding: Int = 4,
                   seed: UInt64 = 1) throws -> Augmenter {
        var options = try AugmentationOptions(parsing: list)
        options.shiftFill = fill
        options.cropPadding = padding
        return Augmenter(options: options, normalization: normalization, seed: seed)
    }

    /// The normalised value of pixel `p` of channel `c`, by the formula.
    func normalised(_ p: UInt8, _ c: Int) -> Float { (Float(p) / 255 - normalization.mean[c]) / normalization.std[c] }

    /// The pixel of image `index`, channel `c`, row `y`, column `x`.
    func pixel(_ index: Int, _ c: Int, _ y: Int, _ x: Int) -> UInt8 { set.pixels[index * 3072 + c * 1024 + y * 32 + x] }

    func testPlainRenderNormalisesEveryPixel() throws {
        let a = try augmenter()
        let out = rendered { a.renderPlain(set, index: 3, into: $0) }
        for i in 0..<3072 {
            XCTAssertEqual(out[i], normalised(set.pixels[3 * 3072 + i], i / 1024))
        }
    }

    func testFlipMirrorsColumnsAndFlippingTwiceGivesBackTheImage() throws {
        // With mean 0 and std 1 the output is p/255, so the flipped pixels can be read back.
        let a = Augmenter(options: AugmentationOptions(), normalization: Normalization(mean: [0, 0, 0], std: [1, 1, 1]), seed: 1)
        let flip = AugmentationChoice(cropY: 0, cropX: 0, flip: true, shiftY: 0, shiftX: 0)
        let once = rendered { a.apply(flip, set, index: 2, into: $0) }
        for c in 0..<3 {
            for y in 0..<32 {
                for x in 0..<32 { XCTAssertEqual(once[c * 1024 + y * 32 + x], Float(pixel(2, c, y, 31 - x)) / 255) }
            }
        }
        let flippedSet = ImageSet(pixels: once.map { UInt8(($0 * 255).rounded()) }, labels: [0])
        let twice = rendered { a.apply(flip, flippedSet, index: 0, into: $0) }
        XCTAssertEqual(twice, rendered { a.renderPlain(set, index: 2, into: $0) })
    }

    func testCropWithZeroPaddingIsTheIdentity() throws {
        let a = try augmenter("crop", padding: 0)
        for index in 0..<set.count {
            for epoch in 0..<3 {
                XCTAssertEqual(rendered { a.render(set, index: index, epoch: epoch, into: $0) },
                               rendered { a.renderPlain(set, index: index, into: $0) })
            }
        }
    }

    func testCropOffsetMovesPixelsAndFillsWithNormalisedBlack() throws {
        let a = try augmenter("crop")
        // The window sits 2 rows below and 3 columns left of centre: output (y, x) shows (y + 2, x − 3).
        let choice = AugmentationChoice(cropY: 2, cropX: -3, flip: false, shiftY: 0, shiftX: 0)
        let out = rendered { a.apply(choice, set, index: 5, into: $0) }
        for c in 0..<3 {
            let black = -normalization.mean[c] / normalization.std[c]
            XCTAssertEqual(normalised(0, c), black, accuracy: 1e-6)
            for y in 0..<32 {
                for x in 0..<32 {
                    let sy = y + 2, sx = x - 3
                    let expected = (0..<32).contains(sy) && (0..<32).contains(sx) ? normalised(pixel(5, c, sy, sx), c) : normalised(0, c)
                    XCTAssertEqual(out[c * 1024 + y * 32 + x], expected, "c \(c) y \(y) x \(x)")
                }
            }
        }
    }

    func testNearestShiftRepeatsTheEdgePixels() throws {
        let a = try augmenter("shift", fill: .nearest)
        // Content moves 3 right and 2 up: output (y, x) shows (y + 2, x − 3), clamped to the image.
        let choice = AugmentationChoice(cropY: 0, cropX: 0, flip: false, shiftY: -2, shiftX: 3)
        let out = rendered { a.apply(choice, set, index: 1, into: $0) }
        for c in 0..<3 {
            for y in 0..<32 {
                for x in 0..<32 {
                    let sy = min(y + 2, 31), sx = max(x - 3, 0)
                    XCTAssertEqual(out[c * 1024 + y * 32 + x], normalised(pixel(1, c, sy, sx), c), "c \(c) y \(y) x \(x)")
                }
            }
        }
    }

    func testZeroShiftFillsWithBlack() throws {
        let a = try augmenter("shift", fill: .zero)
        let choice = AugmentationChoice(cropY: 0, cropX: 0, flip: false, shiftY: 4, shiftX: -1)
        let out = rendered { a.apply(choice, set, index: 6, into: $0) }
        for c in 0..<3 {
            for y in 0..<32 {
                for x in 0..<32 {
                    let sy = y - 4, sx = x + 1
                    let expected = (0..<32).contains(sy) && (0..<32).contains(sx) ? normalised(pixel(6, c, sy, sx), c) : normalised(0, c)
                    XCTAssertEqual(out[c * 1024 + y * 32 + x], expected, "c \(c) y \(y) x \(x)")
                }
            }
        }
    }

    func testComposedChoicesMatchShiftThenCropThenFlipOnExplicitImages() throws {
        for fill in ShiftFill.allCases {
            let a = try augmenter("shift,crop,flip", fill: fill)
            let values = [-4, -1, 0, 2, 4]
            var k = 0
            for cropY in values {
                for cropX in values {
                    for shiftY in values {
                        k += 1
                        let choice = AugmentationChoice(cropY: cropY, cropX: cropX, flip: k % 2 == 0,
                                                        shiftY: shiftY, shiftX: values[k % values.count])
                        let index = k % set.count
                        XCTAssertEqual(rendered { a.apply(choice, set, index: index, into: $0) },
                                       reference(choice, index: index, fill: fill), "\(choice) \(fill)")
                    }
                }
            }
        }
    }

    func testDrawnChoicesCoverTheirRangesAndOnlyFlipFlipsAboutHalf() throws {
        let all = try augmenter("shift,crop,flip")
        var crops = Set<Int>(), shifts = Set<Int>()
        for index in 0..<2000 {
            let c = all.choice(index: index, epoch: 0)
            crops.formUnion([c.cropY, c.cropX])
            shifts.formUnion([c.shiftY, c.shiftX])
        }
        XCTAssertEqual(crops, Set(-4...4))
        XCTAssertEqual(shifts, Set(-4...4))

        let flipOnly = try augmenter("flip")
        let choices = (0..<4000).map { flipOnly.choice(index: $0, epoch: 7) }
        let flips = choices.filter(\.flip).count
        XCTAssertTrue((1800...2200).contains(flips), "\(flips) flips of 4000")   // ±6 standard deviations
        XCTAssertTrue(choices.allSatisfy { $0.cropY == 0 && $0.cropX == 0 && $0.shiftY == 0 && $0.shiftX == 0 })
        // Rendering follows the draw: a flipped sample is the plain view mirrored, the others are plain.
        var seen = Set<Bool>()
        for index in 0..<set.count {
            let plain = rendered { flipOnly.renderPlain(set, index: index, into: $0) }
            let view = rendered { flipOnly.render(set, index: index, epoch: 7, into: $0) }
            let mirrored = (0..<3072).map { (i: Int) -> Float in plain[i - i % 32 + 31 - i % 32] }
            XCTAssertEqual(view, choices[index].flip ? mirrored : plain, "sample \(index)")
            seen.insert(choices[index].flip)
        }
        XCTAssertEqual(seen, [false, true])
    }

    func testSameSeedEpochAndIndexGiveIdenticalFloats() throws {
        let a = try augmenter("shift,crop,flip", seed: 99), b = try augmenter("shift,crop,flip", seed: 99)
        for index in 0..<set.count {
            XCTAssertEqual(rendered { a.render(set, index: index, epoch: 4, into: $0) },
                           rendered { b.render(set, index: index, epoch: 4, into: $0) })
        }
    }

    func testDifferentEpochIndexOrSeedGiveDifferentChoices() throws {
        let a = try augmenter("shift,crop,flip", seed: 99), other = try augmenter("shift,crop,flip", seed: 100)
        let base = (0..<200).map { a.choice(index: $0, epoch: 0) }
        let nextEpoch = (0..<200).map { a.choice(index: $0, epoch: 1) }
        let shifted = (0..<200).map { a.choice(index: $0 + 1, epoch: 0) }
        let otherSeed = (0..<200).map { other.choice(index: $0, epoch: 0) }
        // Two independent draws coincide with probability 1/(2·9⁴) per sample.
        for (name, choices) in [("epoch", nextEpoch), ("index", shifted), ("seed", otherSeed)] {
            let same = zip(base, choices).filter { $0 == $1 }.count
            XCTAssertLessThan(same, 3, "\(same) of 200 choices unchanged by a different \(name)")
        }
    }

    func testSwitchingOneKindOffLeavesTheOthersDrawsUnchanged() throws {
        let all = try augmenter("shift,crop,flip"), cropOnly = try augmenter("crop")
        let flipOnly = try augmenter("flip"), shiftOnly = try augmenter("shift")
        for index in 0..<100 {
            let c = all.choice(index: index, epoch: 2)
            let crop = cropOnly.choice(index: index, epoch: 2)
            let flip = flipOnly.choice(index: index, epoch: 2)
            let shift = shiftOnly.choice(index: index, epoch: 2)
            XCTAssertEqual([crop.cropY, crop.cropX], [c.cropY, c.cropX])
            XCTAssertEqual(flip.flip, c.flip)
            XCTAssertEqual([shift.shiftY, shift.shiftX], [c.shiftY, c.shiftX])
        }
    }

    func testRenderingDoesNotDependOnOrderOrThread() throws {
        let a = try augmenter("shift,crop,flip", seed: 5)
        let samples = 64
        let forward = (0..<samples).map { i in rendered { a.render(set, index: i % 8, epoch: i / 8, into: $0) } }
        let backward = (0..<samples).reversed().map { i in rendered { a.render(set, index: i % 8, epoch: i / 8, into: $0) } }
        XCTAssertEqual(forward, Array(backward.reversed()))

        let images = set
        var concurrent = [Float](repeating: .nan, count: samples * 3072)
        concurrent.withUnsafeMutableBufferPointer { buffer in
            nonisolated(unsafe) let out = buffer.baseAddress!
            DispatchQueue.concurrentPerform(iterations: samples) { i in
                a.render(images, index: i % 8, epoch: i / 8, into: out + i * 3072)
            }
        }
        XCTAssertEqual(concurrent, forward.flatMap { $0 })
    }

    /// The training view by the obvious route: an explicit shifted image, an explicit zero-padded
    /// image, the crop window, then the mirror, then normalisation.
    func reference(_ choice: AugmentationChoice, index: Int, fill: ShiftFill) -> [Float] {
        let pad = 4
        var out = [Float](repeating: 0, count: 3072)
        for c in 0..<3 {
            var shifted = [[UInt8]](repeating: [UInt8](repeating: 0, count: 32), count: 32)
            for y in 0..<32 {
                for x in 0..<32 {
                    var sy = y - choice.shiftY, sx = x - choice.shiftX
                    if fill == .nearest { sy = min(max(sy, 0), 31); sx = min(max(sx, 0), 31) }
                    shifted[y][x] = (0..<32).contains(sy) && (0..<32).contains(sx) ? pixel(index, c, sy, sx) : 0
                }
            }
            var padded = [[UInt8]](repeating: [UInt8](repeating: 0, count: 32 + 2 * pad), count: 32 + 2 * pad)
            for y in 0..<32 { for x in 0..<32 { padded[y + pad][x + pad] = shifted[y][x] } }
            var cropped = [[UInt8]](repeating: [UInt8](repeating: 0, count: 32), count: 32)
            for y in 0..<32 {
                for x in 0..<32 { cropped[y][x] = padded[y + pad + choice.cropY][x + pad + choice.cropX] }
            }
            for y in 0..<32 {
                for x in 0..<32 {
                    let p = choice.flip ? cropped[y][31 - x] : cropped[y][x]
                    out[c * 1024 + y * 32 + x] = normalised(p, c)
                }
            }
        }
        return out
    }
}
