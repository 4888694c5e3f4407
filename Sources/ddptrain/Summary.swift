import ArgumentParser
import Engine
import Models

/// `ddptrain summary MODEL`: the layer table of a model, as Keras' `model.summary()` prints it.
struct Summary: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a model's layers, output shapes, parameters and MACs.")

    @Argument(help: "Model name (\(ModelConfiguration.namedModels.joined(separator: ", "))).")
    var name: String

    @OptionGroup var options: ModelOptions

    /// Prints the table, or fails with the model error when the model is invalid, too large to
    /// count, or its graph and parameters would not fit in the memory available.
    func run() throws {
        let configuration = try options.configuration(name: name)
        let graph = try ModelBuilder.checkedGraph(for: configuration, availableBytes: SystemMemory.availableBytes())
        print(ModelSummary(graph).render(title: "\(configuration.name)  (input 3×32×32)"))
    }
}
