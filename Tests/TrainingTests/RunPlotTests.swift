import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest
@testable import Training

/// Issue 14 #2: the figure of `ddptrain plot` is well-formed SVG with one curve per run and
/// metric, each curve's points in the right order and place.
final class RunPlotTests: XCTestCase {
    /// Collects the `<polyline>` elements of an XML document.
    final class Polylines: NSObject, XMLParserDelegate {
        var lines: [[String: String]] = []
        var root: String?
        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String] = [:]) {
            if root == nil { root = name }
            if name == "polyline" { lines.append(attributes) }
        }
    }

    static func epochs(_ accuracies: [Double], lr: Double) -> [EpochMetrics] {
        accuracies.enumerated().map { i, a in
            EpochMetrics(epoch: i + 1, step: 10 * (i + 1), lr: lr / Double(i + 1), trainLoss: 2 - a, trainAccuracy: a * 0.9, testLoss: 2.1 - a,
                         testAccuracy: a, imagesPerSecond: 1000, epochSeconds: 1, dataWaitSeconds: 0, communicationWaitSeconds: 0,
                         evalSeconds: 0.1, wallSeconds: Double(i + 1))
        }
    }

    func testTwoRunsGiveOneCurvePerRunAndMetricInAWellFormedSVG() throws {
        let plot = RunPlot(runs: [RunPlot.Run(label: "cosine <a&b>", epochs: Self.epochs([0.2, 0.4, 0.5], lr: 0.1)),
                                  RunPlot.Run(label: "multistep", epochs: Self.epochs([0.3, 0.35], lr: 0.05))])
        let svg = plot.svg()
        let parser = XMLParser(data: Data(svg.utf8))
        let collector = Polylines()
        parser.delegate = collector
        XCTAssertTrue(parser.parse(), "not well-formed XML: \(parser.parserError.map { "\($0)" } ?? "")")
        XCTAssertEqual(collector.root, "svg")
        let keys = Set(collector.lines.map { "\($0["data-run"] ?? "?")|\($0["data-metric"] ?? "?")" })
        let metrics = ["test_accuracy", "train_accuracy", "test_loss", "train_loss", "lr"]
        XCTAssertEqual(keys, Set(["cosine <a&b>", "multistep"].flatMap { run in metrics.map { "\(run)|\($0)" } }))
        XCTAssertEqual(collector.lines.count, 10, "one polyline per run and metric")
        // The first run's test accuracy: three points, left to right, rising (SVG y grows downwards).
        let line = try XCTUnwrap(collector.lines.first { $0["data-run"] == "cosine <a&b>" && $0["data-metric"] == "test_accuracy" })
        let points = try XCTUnwrap(line["points"]).split(separator: " ").map { $0.split(separator: ",").compactMap { Double($0) } }
        XCTAssertEqual(points.count, 3)
        XCTAssertEqual(points.map { $0[0] }, points.map { $0[0] }.sorted())
        XCTAssertEqual(points.map { $0[1] }, points.map { $0[1] }.sorted(by: >))
        XCTAssertTrue(svg.contains("best test accuracy 50.00%"), "the legend gives each run's best")
    }

    func testAxesEndOnRoundNumbersAroundTheData() {
        let a = RunPlot.axis(0.013, 0.094, zero: true)
        XCTAssertEqual(a.low, 0)
        XCTAssertEqual(a.high, 0.1, accuracy: 1e-12)
        XCTAssertEqual(a.ticks.count, 6)
        let b = RunPlot.axis(1.2, 2.31, zero: true)
        XCTAssertEqual(b.low, 0)
        XCTAssertEqual(b.high, 2.5, accuracy: 1e-12)
    }
}
