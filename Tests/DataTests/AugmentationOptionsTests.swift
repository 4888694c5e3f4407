import Foundation
import XCTest
@testable import Data

/// `--augment` lists: defaults, parsing, rejection of unknown names, of `none` beside other kinds
/// and of repeated kinds, descriptions.
final class AugmentationOptionsTests: XCTestCase {
    func testDefaultsAreThePapersCropAndFlip() {
        let o = AugmentationOptions()
        XCTAssertTrue(o.crop)
        XCTAssertEqual(o.cropPadding, 4)
        XCTAssertTrue(o.flip)
        XCTAssertFalse(o.shift)
        XCTAssertEqual(o.description, "crop(4),flip")
    }

    func testListsTurnOnExactlyTheNamedKinds() throws {
        let all = try AugmentationOptions(parsing: "crop,flip,shift")
        XCTAssertTrue(all.crop && all.flip && all.shift)
        XCTAssertEqual(all.description, "shift(0.125,nearest),crop(4),flip")

        let flip = try AugmentationOptions(parsing: " Flip ")
        XCTAssertEqual([flip.crop, flip.flip, flip.shift], [false, true, false])
        XCTAssertEqual(flip.description, "flip")

        let shift = try AugmentationOptions(parsing: "shift,flip")
        XCTAssertEqual([shift.crop, shift.flip, shift.shift], [false, true, true])
    }

    func testNoneAndEmptyTurnEverythingOff() throws {
        for list in ["none", "", "NONE"] {
            let o = try AugmentationOptions(parsing: list)
            XCTAssertTrue(o.isIdentity, list)
            XCTAssertEqual(o.description, "none")
        }
    }

    func testUnknownNameIsRejectedWithTheValidNames() {
        XCTAssertThrowsError(try AugmentationOptions(parsing: "crop,blur")) { error in
            XCTAssertEqual(error as? AugmentationError, .unknownKind("blur"))
            let message = String(describing: error)
            for name in ["blur", "crop", "flip", "shift", "none"] {
                XCTAssertTrue(message.contains(name), message)
            }
        }
    }

    func testNoneBesideAnotherKindIsRefused() {
        for list in ["none,flip", "crop, NONE", "none,crop,shift"] {
            assertThrows(AugmentationError.noneWithOthers(list: list), messageMentions: ["'\(list)'", "none alone"]) {
                _ = try AugmentationOptions(parsing: list)
            }
        }
    }

    func testKindNamedTwiceIsRefused() {
        for (list, kind) in [("flip,flip", "flip"), ("crop, Flip ,FLIP", "flip"), ("none,none", "none"),
                             ("shift,crop,shift", "shift")] {
            assertThrows(AugmentationError.repeatedKind(kind, list: list),
                         messageMentions: ["'\(list)'", "\(kind) more than once"]) {
                _ = try AugmentationOptions(parsing: list)
            }
        }
    }

    func testMaximumShiftRoundsTheFractionOfTheSize() throws {
        var o = try AugmentationOptions(parsing: "shift")
        XCTAssertEqual(o.maxShift(size: 32), 4)
        o.shiftFraction = 0.1
        XCTAssertEqual(o.maxShift(size: 32), 3)
        o.shift = false
        XCTAssertEqual(o.maxShift(size: 32), 0)
    }

    func testRoundTripsThroughJSON() throws {
        var o = try AugmentationOptions(parsing: "shift,crop")
        o.shiftFill = .zero
        let decoded = try JSONDecoder().decode(AugmentationOptions.self, from: JSONEncoder().encode(o))
        XCTAssertEqual(decoded, o)
    }
}
