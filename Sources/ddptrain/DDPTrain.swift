import ArgumentParser
import Foundation  // exit() with a status of our own

/// The `ddptrain` command: data-parallel training of SparseNet, DenseNet and ResNet on CPUs.
@main
struct DDPTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ddptrain",
        abstract: "Data-parallel CPU training of SparseNet, DenseNet and ResNet on CIFAR-10.",
        version: "0.1.0",
        subcommands: [Train.self, Eval.self, Predict.self, Export.self, Plot.self, Inspect.self, Summary.self, Bench.self]
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
        } catch where !isOurs(command) {
            exit(withError: error)  // ArgumentParser's own help command throws its help text (`--help`, `help CMD`)
        } catch {
            printError("Error: \(error)")
            Foundation.exit(ExitStatus.of(error).rawValue)
        }
    }

    /// Whether `command` is one of ddptrain's commands rather than one ArgumentParser adds itself.
    private static func isOurs(_ command: ParsableCommand) -> Bool {
        let type = ObjectIdentifier(Swift.type(of: command))
        return ([Self.self] + configuration.subcommands).contains { ObjectIdentifier($0) == type }
    }
}
