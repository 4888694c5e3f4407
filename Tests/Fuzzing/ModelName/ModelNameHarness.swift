import Engine
import FuzzSupport
import Models

/// The largest depth and growth rate for which the harness builds the graph. Names may ask for
/// any size; building the graph of `densenet-100000-100000` would only measure the harness, so
/// larger configurations are parsed and validated but not built (size limits on the names
/// themselves are the library's business).
let maximumBuiltDepth = 250, maximumBuiltGrowthRate = 64

/// Fuzz target (d): arbitrary bytes as a model name (`--model`).
///
/// `ModelConfiguration(name:)` must throw a `ModelError` or return a configuration whose
/// canonical name parses back to the same configuration; for a small one,
/// `ModelBuilder.graph(for:)` must build without trapping and its summary must add up.
func parseModelName(_ input: UnsafeRawBufferPointer) {
    // Command-line arguments are strings; bytes that are not UTF-8 become U+FFFD as they would.
    let name = String(decoding: input, as: UTF8.self)
    guard let configuration = try? ModelConfiguration(name: name) else { return }
    guard let again = try? ModelConfiguration(name: configuration.name) else {
        preconditionFailure("'\(name)' parses, but its canonical name '\(configuration.name)' does not")
    }
    precondition(again == configuration, "'\(name)' and its canonical name '\(configuration.name)' differ")
    guard configuration.depth <= maximumBuiltDepth, configuration.growthRate <= maximumBuiltGrowthRate,
          configuration.stemChannels <= 2 * maximumBuiltGrowthRate else { return }
    guard let graph = try? ModelBuilder.graph(for: configuration) else { return }
    let summary = ModelSummary(graph)
    precondition(summary.parameterCount == graph.parameterCount && summary.parameterCount > 0,
                 "\(name): the summary's parameter count disagrees with the graph's")
    precondition(graph.shape(graph.output).elementCount == configuration.classes,
                 "\(name): the output is not one score per class")
}

/// The harness: `parseModelName` on each input, under libFuzzer or replaying files (see `FuzzMain`).
@main
enum ModelNameHarness: FuzzHarness {
    static let name = "fuzz-model-name"
    static func test(_ input: UnsafeRawBufferPointer) { parseModelName(input) }
}
