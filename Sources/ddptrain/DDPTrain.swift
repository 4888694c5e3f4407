import ArgumentParser
import Foundation

/// The `ddptrain` command: data-parallel training of SparseNet, DenseNet and ResNet on CPUs.
@main
struct DDPTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ddptrain",
        abstract: "Data-parallel CPU training of SparseNet, DenseNet and ResNet on CIFAR-10.",
        version: "0.1.0",
        subcommands: [Train.self, Eval.self, Inspect.self, Summary.self, Bench.self]
    )

    /// Parses and runs a command; every error ends with the status of its kind (`ExitStatus`)
    /// and a message on standard error, so the same kind of failure always exits the same way.
    static func main() {
        var command: ParsableCommand
        do { command = try parseAsRoot() } catch { exit(withError: error) }  // usage errors, --help, --version
        do {
            try command.run()
        } catch let error as ExitCode {
            exit(withError: error)
        } catch {
            printError("Error: \(error)")
            Foundation.exit(ExitStatus.of(error).rawValue)
        }
    }
}
