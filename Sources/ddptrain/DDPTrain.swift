import ArgumentParser

/// The `ddptrain` command: data-parallel training of SparseNet, DenseNet and ResNet on CPUs.
@main
struct DDPTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ddptrain",
        abstract: "Data-parallel CPU training of SparseNet, DenseNet and ResNet on CIFAR-10.",
        version: "0.1.0",
        subcommands: [Train.self, Eval.self, Inspect.self, Summary.self, Bench.self]
    )
}
