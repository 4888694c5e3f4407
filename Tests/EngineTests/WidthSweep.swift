import TestSupport
import XCTest
@testable import Engine

/// What the forward sweeps' coverage assertion reads of a case, whichever case type a test uses.
protocol ForwardSweepCase {
    var segments: [Int] { get }
    var outChannels: Int { get }
    var activation: Bool { get }
    var bias: Bool { get }
}

extension ConvolutionCase: ForwardSweepCase {}
extension ConvolutionReferenceTests.Case: ForwardSweepCase {}

/// The kernel tests' sweeps over widths: one randomly drawn case per width, so that every tile
/// remainder occurs, and afterwards assertions that the draws reached every kernel path.
enum WidthSweep {
    /// Checks the case `make` draws for each of `widths`, in order, with `check`, all drawing from
    /// one `TestRandom(seed: seed)`, and returns the cases for the caller's coverage assertions.
    @discardableResult
    static func run<C>(_ widths: ClosedRange<Int>, seed: UInt64, make: (Int, inout TestRandom) -> C,
                       check: (C, inout TestRandom) -> Void) -> [C] {
        var rng = TestRandom(seed: seed)
        var cases: [C] = []
        for width in widths {
            let c = make(width, &rng)
            check(c, &rng)
            cases.append(c)
        }
        return cases
    }

    /// Asserts that the output channel counts of `cases` are exactly `outputs` and that all eight
    /// mixes of activation, bias and multi-segment input occurred.
    static func assertForwardCoverage<C: ForwardSweepCase>(_ cases: [C], outputs: Set<Int>,
                                                           file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(Set(cases.map(\.outChannels)), outputs, file: file, line: line)
        let mixes = Set(cases.map { "act \($0.activation) bias \($0.bias) multi \($0.segments.count > 1)" })
        XCTAssertEqual(mixes.count, 8, "\(mixes.sorted())", file: file, line: line)
    }

    /// Checks an input-gradient case per width of `widths` (1–2 samples of a height in `heights`,
    /// input `segments(first: width · 5 mod 24 + 1)`, 1–14 output channels, either accumulate
    /// mode; no activation or bias), then asserts that the first segment ran through 1–24
    /// channels, every remainder of the channel blocks.
    static func runInputGradient(_ widths: ClosedRange<Int>, heights: ClosedRange<Int>, seed: UInt64,
                                 check: (ConvolutionCase, inout TestRandom) -> Void,
                                 file: StaticString = #filePath, line: UInt = #line) {
        let cases = run(widths, seed: seed) { width, rng in
            let segments = Self.segments(first: width * 5 % 24 + 1, rng: &rng)
            return ConvolutionCase(batch: rng.int(1...2), segments: segments, height: rng.int(heights), width: width,
                                   outChannels: rng.int(1...14), activation: false, bias: false, accumulate: rng.bool())
        } check: { check($0, &$1) }
        XCTAssertEqual(Set(cases.map { $0.segments[0] }), Set(1...24), file: file, line: line)
    }

    /// A first segment of `first` channels, then 0–2 more of 1–8 channels drawn from `rng`: the
    /// input-gradient sweeps' targets, whose first segment runs through every channel remainder.
    static func segments(first: Int, rng: inout TestRandom) -> [Int] {
        [first] + (0..<rng.int(0...2)).map { _ in rng.int(1...8) }
    }
}
