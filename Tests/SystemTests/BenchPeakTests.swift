import Foundation
import TestSupport
import XCTest

/// `ddptrain bench --peak` with the release binary: it prints both peak lines at 1 and
/// `--threads` threads, benches a model after them only when one is named, and refuses flags
/// that would do nothing. Small problems (`--peak-size 64`), so each launch takes about a second;
/// the figures themselves are not checked.
final class BenchPeakTests: SystemTestCase {
    func testPeakAloneMeasuresBothPeaksAtOneAndTheGivenThreadCounts() throws {
        let result = try harness.single(["bench", "--peak", "--peak-size", "64", "--threads", "2"])
        XCTAssertEqual(result.status, 0, result.tail)
        XCTAssertTrue(result.output.contains("peak: sgemm 64³ 1 thread "), result.tail)
        XCTAssertTrue(result.output.contains(" 2 threads "), result.tail)
        XCTAssertTrue(result.output.contains("(OpenBLAS "), "the kernels are not named:\n\(result.tail)")
        XCTAssertTrue(result.output.contains("peak: FMA loop 1 thread "), result.tail)
        XCTAssertFalse(result.output.contains("images/s"), "benched a model without being asked:\n\(result.tail)")
    }

    func testPeakWithAModelBenchesItAndGivesItsFractionOfThePeak() throws {
        let result = try harness.single(["bench", "--peak", "--peak-size", "64", "--threads", "1", "--model", "resnet-8",
                                         "--stem-channels", "4", "--batch-size", "4", "--steps", "1", "--warmup", "0"])
        XCTAssertEqual(result.status, 0, result.tail)
        XCTAssertTrue(result.output.contains("peak: sgemm 64³ 1 thread "), result.tail)
        XCTAssertTrue(result.output.contains("forward MACs per image, "), result.tail)
        XCTAssertTrue(result.output.contains("of the sgemm peak at 1 thread(s)"), result.tail)
    }

    /// `--help` prints the help and exits 0 (it used to end as a run failure, exit 1, printing the
    /// parser's internal error instead).
    func testHelpDescribesPeakAndExitsZero() throws {
        let result = try harness.single(["bench", "--help"])
        XCTAssertEqual(result.status, 0, result.tail)
        XCTAssertTrue(result.output.contains("--peak-size"), result.tail)
        XCTAssertFalse(result.output.contains("Error"), result.tail)
    }

    func testFlagsThatWouldDoNothingAndBadSizesAreUsageErrors() throws {
        for (arguments, flag) in [(["--peak-size", "64"], "--peak-size"), (["--peak", "--peak-size", "8"], "--peak-size"),
                                  (["--peak", "--steps", "3"], "--steps"), (["--peak", "--profile"], "--profile")] {
            let result = try harness.single(["bench"] + arguments)
            XCTAssertEqual(result.status, 64, result.tail)
            XCTAssertTrue(result.output.contains(flag), "the message does not name \(flag):\n\(result.tail)")
            XCTAssertFalse(result.output.contains("peak: sgemm"), "measured anyway:\n\(result.tail)")
        }
    }
}
