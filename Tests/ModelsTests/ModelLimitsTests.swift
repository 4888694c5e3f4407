import Engine
@testable import Models
import XCTest

/// Sizes are bounded where they enter (names, settings, flags), so that no later arithmetic can
/// overflow, and settings or flags a family does not use are refused, naming them.
final class ModelLimitsTests: XCTestCase {
    func assertRefused(_ name: String, _ expected: ModelError, mentioning text: String,
                       file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try ModelConfiguration(name: name), name, file: file, line: line) { error in
            XCTAssertEqual(error as? ModelError, expected, file: file, line: line)
            XCTAssertTrue("\(error)".contains(text), "\(error)", file: file, line: line)
        }
    }

    // MARK: Bounds

    func testModelNamesThatCrashedAreRefusedStatingTheLimit() {
        // Each was accepted and then trapped, segfaulted or (summary) printed a wrapped parameter count.
        assertRefused("resnet-600002", .outOfRange(setting: "depth", value: "600002", maximum: 2_000),
                      mentioning: "depth 600002 is out of range: ddptrain supports at most 2,000")
        assertRefused("resnet-9223372036854775802",
                      .outOfRange(setting: "depth", value: "9223372036854775802", maximum: 2_000), mentioning: "2,000")
        assertRefused("densenet-10-9223372036854775807",
                      .outOfRange(setting: "growth rate", value: "9223372036854775807", maximum: 4_096),
                      mentioning: "growth rate 9223372036854775807 is out of range: ddptrain supports at most 4,096")
    }

    func testSparseNetGrowthRateIsBoundedBeforeTheStemIsComputedFromIt() {
        // The stem of a SparseNet is 2k: with k = Int.max that product used to trap.
        assertRefused("sparsenet-10-9223372036854775807",
                      .outOfRange(setting: "growth rate", value: "9223372036854775807", maximum: 4_096), mentioning: "4,096")
    }

    func testNumbersTooLargeForIntAreOutOfRangeRatherThanUnknownNames() {
        assertRefused("resnet-9223372036854775808",
                      .outOfRange(setting: "depth", value: "9223372036854775808", maximum: 2_000), mentioning: "out of range")
        assertRefused("densenet-bc-100-99999999999999999999",
                      .outOfRange(setting: "growth rate", value: "99999999999999999999", maximum: 4_096), mentioning: "out of range")
        // Not a number at all is still an unknown name.
        assertRefused("densenet-100-12x", .unknownName("densenet-100-12x"), mentioning: "expected")
    }

    func testTheLimitsThemselvesAreAccepted() throws {
        XCTAssertEqual(try ModelConfiguration(name: "resnet-1994").unitsPerStage, 332)
        let widest = try ModelConfiguration(name: "sparsenet-bc-40-4096")
        XCTAssertEqual(widest.stemChannels, ModelConfiguration.maximumStemChannels)
        var c = ModelConfiguration(family: .densenet, depth: 1_999, growthRate: 1, classes: 100_000)
        c.inputChannels = 4_096
        XCTAssertNoThrow(try c.validate())
        var large = ModelConfiguration(family: .resnet, depth: 8)
        large.inputHeight = 4_096
        large.inputWidth = 4_096
        XCTAssertNoThrow(try large.validate())
    }

    func testEverySizeSettingAboveItsLimitIsRefusedByValidate() {
        let base = ModelConfiguration(family: .densenet, depth: 40)
        let cases: [(String, (inout ModelConfiguration) -> Void, ModelError)] = [
            ("depth", { $0.depth = 2_003 }, .outOfRange(setting: "depth", value: "2003", maximum: 2_000)),
            ("growth", { $0.growthRate = 4_097 }, .outOfRange(setting: "growth rate", value: "4097", maximum: 4_096)),
            ("stem", { $0.stemChannels = 8_193 }, .outOfRange(setting: "stem channels", value: "8193", maximum: 8_192)),
            ("classes", { $0.classes = 100_001 }, .outOfRange(setting: "classes", value: "100001", maximum: 100_000)),
            ("channels", { $0.inputChannels = 4_097 }, .outOfRange(setting: "input channels", value: "4097", maximum: 4_096)),
            ("no channels", { $0.inputChannels = 0 }, .invalidSetting(name: "input channels", value: "0", rule: "must be at least 1")),
            ("height", { $0.inputHeight = 4_100 }, .outOfRange(setting: "input size", value: "4100×32", maximum: 4_096)),
            ("width", { $0.inputWidth = Int.max - 3 }, .outOfRange(setting: "input size", value: "32×\(Int.max - 3)", maximum: 4_096)),
            ("negative depth", { $0.depth = .min }, .invalidDepth(family: .densenet, depth: .min, rule: "depth must be 3n+4 with n ≥ 1")),
        ]
        for (label, change, expected) in cases {
            var c = base
            change(&c)
            XCTAssertThrowsError(try c.validate(), label) { XCTAssertEqual($0 as? ModelError, expected, label) }
        }
    }

    func testAModelWhoseMACsDoNotFitIn64BitsIsRefusedByValidate() {
        // Every setting is within its limit, but 332 dense layers per block of growth 4,096 on 4,096² inputs
        // come to more than 2^63 multiply-accumulates per sample.
        var c = ModelConfiguration(family: .densenet, depth: 1_000, growthRate: 4_096, stemChannels: 8_192)
        c.inputHeight = 4_096
        c.inputWidth = 4_096
        XCTAssertThrowsError(try c.validate()) { error in
            XCTAssertEqual(error as? ModelError, .uncountable(model: "densenet-1000-4096", quantity: "forward MACs per sample"))
            XCTAssertTrue("\(error)".contains("does not fit in 64 bits; choose a smaller model"), "\(error)")
        }
    }

    // MARK: Settings a family does not use

    func testResNetRefusesDropoutBottleneckAndCompressionNamingThem() throws {
        let resnet = try ModelConfiguration(name: "resnet-20")
        let cases: [(inout ModelConfiguration) -> Void] = [{ $0.dropout = 0.2 }, { $0.bottleneck = true }, { $0.compression = 0.5 }]
        let expected = ["dropout 0.2", "bottleneck", "compression 0.5"]
        for (change, setting) in zip(cases, expected) {
            var c = resnet
            change(&c)
            XCTAssertThrowsError(try c.validate(), setting) { error in
                guard case .unusedSetting(.resnet, let named, _)? = error as? ModelError else {
                    return XCTFail("\(setting): \(error)")
                }
                XCTAssertEqual(named, setting)
                XCTAssertTrue("\(error)".hasPrefix("\(setting) does not apply to resnet models: ResNet has no "), "\(error)")
            }
        }
    }

    func testResNetRefusesTheFlagsOfDenseLayersWhateverTheirValue() throws {
        let resnet = try ModelConfiguration(name: "resnet-20")
        let cases: [(ModelOverrides, String)] = [
            (ModelOverrides(growthRate: 12), "--growth-rate"), (ModelOverrides(bottleneck: true), "--bottleneck"),
            (ModelOverrides(bottleneck: false), "--no-bottleneck"), (ModelOverrides(compression: 1), "--compression"),
            (ModelOverrides(dropout: 0), "--dropout"),
        ]
        for (overrides, flag) in cases {
            XCTAssertThrowsError(try resnet.applying(overrides), flag) { error in
                guard case .unusedSetting(.resnet, flag, _)? = error as? ModelError else { return XCTFail("\(flag): \(error)") }
                XCTAssertTrue("\(error)".contains("\(flag) does not apply to resnet models"), "\(error)")
                XCTAssertTrue("\(error)".hasSuffix("; remove it"), "\(error)")
            }
        }
        // The flags a ResNet uses still apply, and its stored growth rate (ignored) stays as saved configurations have it.
        let changed = try resnet.applying(ModelOverrides(depth: 56, stemChannels: 32))
        XCTAssertEqual(changed.depth, 56)
        XCTAssertEqual(changed.stemChannels, 32)
        XCTAssertEqual(changed.growthRate, 12)
        XCTAssertTrue(ModelOverrides().isEmpty)
    }

    func testDenseLayerFlagsApplyToDenseNetAndSparseNet() throws {
        for name in ["densenet-40-12", "sparsenet-40-24"] {
            let c = try ModelConfiguration(name: name).applying(ModelOverrides(
                growthRate: 16, bottleneck: true, compression: 0.5, stemChannels: 24, dropout: 0.2))
            XCTAssertEqual([c.growthRate, c.stemChannels], [16, 24], name)
            XCTAssertTrue(c.bottleneck, name)
            XCTAssertEqual(c.compression, 0.5, name)
            XCTAssertEqual(c.dropout, 0.2, name)
        }
    }

    func testACompressionThatKeepsNoChannelIsRefusedNamingTheTransition() {
        let c = ModelConfiguration(family: .densenet, depth: 40, compression: 1e-9)
        XCTAssertThrowsError(try c.validate()) { error in
            XCTAssertEqual(error as? ModelError, .invalidSetting(name: "compression", value: "1e-09",
                                                                 rule: "transition1 would keep none of its 160 channels"))
        }
    }
}
