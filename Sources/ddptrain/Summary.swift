import ArgumentParser
import Models  // the argument's help lists ModelConfiguration.namedModels
import Training

/// `ddptrain summary MODEL`: the layer table of a model, as Keras' `model.summary()` prints it.
struct Summary: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a model's layers, output shapes, parameters and MACs.")

    @Argument(help: "Model name (\(ModelConfiguration.namedModels.joined(separator: ", "))).")
    var name: String

    @OptionGroup var options: ModelOptions

    /// Prints the table, or fails with the model error when the model is invalid, too large to
    /// count, or its graph and parameters would not fit in the memory available.
    func run() throws {
        print(try ModelTable.render(options.configuration(name: name)))
    }
}
