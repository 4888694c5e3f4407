import ArgumentParser
import Models

/// `ddptrain summary MODEL`: the layer table of a model, as Keras' `model.summary()` prints it.
struct Summary: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a model's layers, output shapes, parameters and MACs.")

    @Argument(help: "Model name (\(ModelConfiguration.namedModels.joined(separator: ", "))).")
    var name: String

    @OptionGroup var options: ModelOptions

    func run() throws {
        let configuration = try options.configuration(name: name)
        let graph = try ModelBuilder.graph(for: configuration)
        print(ModelSummary(graph).render(title: "\(configuration.name)  (input 3×32×32)"))
    }
}
