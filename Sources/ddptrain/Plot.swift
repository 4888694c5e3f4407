import ArgumentParser
import Foundation  // Process, for rsvg-convert
import Training

/// `ddptrain plot`: runs' curves in one figure.
struct Plot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw runs' accuracy, loss and learning rate against epoch as one SVG figure (from their metrics.jsonl).",
        discussion: "Several run directories overlay in one figure, each in its own colour (test solid, train dashed), with a legend giving each run's best test accuracy.")

    @Argument(help: ArgumentHelp("Run directories of ddptrain train.", valueName: "run-dir"))
    var runs: [String]

    @Option(name: [.customShort("o"), .long], help: ArgumentHelp("The SVG file to write (a new file).", valueName: "file"))
    var output = "plot.svg"

    @Flag(name: .long, help: "Also render the figure as PNG beside the SVG (<file>.png), with rsvg-convert (Debian: librsvg2-bin).")
    var png = false

    func run() throws {
        let plot = try RunPlot.load(runs)
        let pngPath = (output as NSString).deletingPathExtension + ".png"
        if png { try PathCheck.checkNewFile(pngPath, flag: "--png", dataDirectory: nil, runDirectory: nil) }
        try plot.write(to: output)
        print("wrote \(output): \(plot.runs.count) run(s), \(plot.runs.map(\.epochs.count).reduce(0, +)) epoch(s)")
        guard png else { return }
        guard let converter = ["/usr/bin/rsvg-convert", "/usr/local/bin/rsvg-convert"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw ValidationError("--png needs rsvg-convert (apt-get install librsvg2-bin); \(output) is written")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: converter)
        process.arguments = ["--format", "png", "--output", pngPath, output]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ValidationError("rsvg-convert failed (status \(process.terminationStatus)) rendering \(output); the SVG is written")
        }
        print("wrote \(pngPath)")
    }
}
