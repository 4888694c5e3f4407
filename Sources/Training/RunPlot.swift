import Checkpoint  // POSIXFile.createNewFile
import Foundation

/// `ddptrain plot`: the curves of one or more runs as one SVG figure, from their
/// `metrics.jsonl`: accuracy, loss and learning rate against epoch, three panels side by side,
/// every run in its own colour (test solid, train dashed), with a legend. Overlaying runs answers
/// "which recipe is better" at a glance. Each curve is one `<polyline>` with `data-run` and
/// `data-metric` attributes, so scripts (and the tests) can find it.
public struct RunPlot {
    /// One run's curves.
    public struct Run: Sendable {
        /// Its name in the legend.
        public var label: String
        /// Its epochs, in order.
        public var epochs: [EpochMetrics]

        /// A run of `epochs` named `label`.
        public init(label: String, epochs: [EpochMetrics]) {
            self.label = label
            self.epochs = epochs
        }
    }

    /// The runs, in legend order.
    public var runs: [Run]

    /// A figure of `runs`.
    public init(runs: [Run]) { self.runs = runs }

    /// The runs of the run directories `paths` (their `metrics.jsonl`), labelled by the
    /// directory's name (its path when two names are equal).
    ///
    /// - Throws: `TrainingError.runDirectory` naming a directory without a readable
    ///   `metrics.jsonl` or with a line that is not an epoch's metrics.
    public static func load(_ paths: [String]) throws -> RunPlot {
        let names = paths.map { ($0 as NSString).standardizingPath.split(separator: "/").last.map(String.init) ?? $0 }
        let runs = try zip(paths, names).map { path, name -> Run in
            let file = (path as NSString).appendingPathComponent(RunDirectory.metricsName)
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw TrainingError.runDirectory(path: path, reason: "it has no readable \(RunDirectory.metricsName); give run directories of ddptrain train")
            }
            let epochs = try text.split(separator: "\n").enumerated().map { index, line -> EpochMetrics in
                do { return try JSONDecoder().decode(EpochMetrics.self, from: Data(line.utf8)) } catch {
                    throw TrainingError.runDirectory(path: file, reason: "line \(index + 1) is not an epoch's metrics (\(error))")
                }
            }
            return Run(label: names.filter { $0 == name }.count > 1 ? path : name, epochs: epochs)
        }
        return RunPlot(runs: runs)
    }

    /// The curves of one panel: what each run contributes, and how it is drawn.
    private struct Curve {
        let metric: String, dashed: Bool, value: (EpochMetrics) -> Double
    }

    /// The three panels (computed: a curve holds a closure, which a stored static cannot share).
    private static var panels: [(title: String, axis: String, percent: Bool, curves: [Curve])] { [
        ("Accuracy", "top-1 accuracy (%)", true, [Curve(metric: "test_accuracy", dashed: false) { $0.testAccuracy },
                                                   Curve(metric: "train_accuracy", dashed: true) { $0.trainAccuracy }]),
        ("Loss", "cross-entropy", false, [Curve(metric: "test_loss", dashed: false) { $0.testLoss },
                                          Curve(metric: "train_loss", dashed: true) { $0.trainLoss }]),
        ("Learning rate", "learning rate (last step of the epoch)", false, [Curve(metric: "lr", dashed: false) { $0.lr }]),
    ] }

    /// A colour-blind-safe palette (Okabe and Ito), cycled over the runs.
    private static let colours = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]

    /// The figure as an SVG document.
    public func svg() -> String {
        let panelWidth = 400.0, panelHeight = 300.0, left = 70.0, top = 40.0, gap = 90.0, bottom = 48.0
        let legendHeight = 22.0 * Double(runs.count) + 30
        let width = left + 3 * (panelWidth + gap), height = top + panelHeight + bottom + legendHeight
        var out = """
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>

            """
        let maxEpoch = max(1, runs.flatMap { $0.epochs.map(\.epoch) }.max() ?? 1)
        for (p, panel) in Self.panels.enumerated() {
            let x0 = left + Double(p) * (panelWidth + gap), y0 = top
            let scale = panel.percent ? 100.0 : 1.0
            let values = runs.flatMap { run in panel.curves.flatMap { c in run.epochs.map { scale * c.value($0) } } }.filter(\.isFinite)
            let (low, high, ticks) = Self.axis(values.min() ?? 0, values.max() ?? 1, zero: true)
            func x(_ epoch: Int) -> Double { x0 + panelWidth * Double(epoch) / Double(maxEpoch) }
            func y(_ v: Double) -> Double { y0 + panelHeight * (1 - (v - low) / (high - low)) }
            out += "<g data-panel=\"\(Self.escape(panel.title))\">\n"
            out += "<text x=\"\(Self.f(x0 + panelWidth / 2))\" y=\"\(Self.f(y0 - 14))\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">\(Self.escape(panel.title))</text>\n"
            out += "<rect x=\"\(Self.f(x0))\" y=\"\(Self.f(y0))\" width=\"\(Self.f(panelWidth))\" height=\"\(Self.f(panelHeight))\" fill=\"none\" stroke=\"#888\"/>\n"
            for t in ticks {
                out += "<line x1=\"\(Self.f(x0))\" x2=\"\(Self.f(x0 + panelWidth))\" y1=\"\(Self.f(y(t)))\" y2=\"\(Self.f(y(t)))\" stroke=\"#e4e4e4\"/>\n"
                out += "<text x=\"\(Self.f(x0 - 6))\" y=\"\(Self.f(y(t) + 4))\" text-anchor=\"end\">\(Self.label(t))</text>\n"
            }
            for e in Self.axis(0, Double(maxEpoch), zero: true).ticks {
                let xe = x0 + panelWidth * e / Double(maxEpoch)
                out += "<text x=\"\(Self.f(xe))\" y=\"\(Self.f(y0 + panelHeight + 16))\" text-anchor=\"middle\">\(Self.label(e))</text>\n"
            }
            out += "<text x=\"\(Self.f(x0 + panelWidth / 2))\" y=\"\(Self.f(y0 + panelHeight + 34))\" text-anchor=\"middle\">epoch</text>\n"
            out += "<text transform=\"translate(\(Self.f(x0 - 50)),\(Self.f(y0 + panelHeight / 2))) rotate(-90)\" text-anchor=\"middle\">\(Self.escape(panel.axis))</text>\n"
            for (r, run) in runs.enumerated() {
                for curve in panel.curves {
                    let points = run.epochs.filter { curve.value($0).isFinite }
                        .map { "\(Self.f(x($0.epoch))),\(Self.f(y(scale * curve.value($0))))" }.joined(separator: " ")
                    out += "<polyline data-run=\"\(Self.escape(run.label))\" data-metric=\"\(curve.metric)\" points=\"\(points)\" fill=\"none\" "
                        + "stroke=\"\(Self.colours[r % Self.colours.count])\" stroke-width=\"2\"\(curve.dashed ? " stroke-dasharray=\"6 4\"" : "")/>\n"
                }
            }
            out += "</g>\n"
        }
        // Legend: one line per run, then what solid and dashed mean.
        var ly = top + panelHeight + bottom + 10
        for (r, run) in runs.enumerated() {
            let best = run.epochs.map(\.testAccuracy).max().map { String(format: " (best test accuracy %.2f%%)", 100 * $0) } ?? ""
            out += "<line x1=\"\(Self.f(left))\" x2=\"\(Self.f(left + 30))\" y1=\"\(Self.f(ly))\" y2=\"\(Self.f(ly))\" stroke=\"\(Self.colours[r % Self.colours.count])\" stroke-width=\"3\"/>\n"
            out += "<text x=\"\(Self.f(left + 38))\" y=\"\(Self.f(ly + 4))\">\(Self.escape(run.label + best))</text>\n"
            ly += 22
        }
        out += "<text x=\"\(Self.f(left))\" y=\"\(Self.f(ly + 4))\" fill=\"#555\">solid: test set; dashed: training set (augmented, in training mode)</text>\n"
        return out + "</svg>\n"
    }

    /// Writes the SVG as the new file `path` (never replacing one).
    public func write(to path: String) throws {
        try PathCheck.checkNewFile(path, flag: "-o", dataDirectory: nil, runDirectory: nil)
        try POSIXFile.createNewFile(path, Array(svg().utf8))
    }

    /// An axis over `low…high` (from 0 when `zero` and the data allow): rounded ends and 4–6 ticks
    /// at 1, 2 or 5 times a power of ten.
    static func axis(_ low: Double, _ high: Double, zero: Bool) -> (low: Double, high: Double, ticks: [Double]) {
        var a = zero && low >= 0 ? 0 : low, b = high
        if b <= a { b = a + 1 }
        let raw = (b - a) / 5, magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        a = floor(a / step) * step
        b = ceil(b / step) * step
        return (a, b, Array(stride(from: a, through: b + step / 2, by: step)))
    }

    /// A tick label: as few digits as the value needs.
    static func label(_ v: Double) -> String {
        let text = String(format: "%g", (v * 1e6).rounded() / 1e6)
        return text == "-0" ? "0" : text
    }

    /// A coordinate with two decimals.
    static func f(_ v: Double) -> String { String(format: "%.2f", v) }

    /// `text` with XML's special characters escaped.
    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
