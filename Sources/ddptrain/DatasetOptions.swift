import ArgumentParser
import Data  // the flags parse into Data's Dataset

/// Flags that choose the data set: CIFAR-10 (the default) or CIFAR-100, and CIFAR-100's labels.
struct DatasetOptions: ParsableArguments {
    @Option(name: .long, help: "Data set: cifar10 (data_batch_1.bin … test_batch.bin) or cifar100 (train.bin, test.bin) (default: cifar10, or the checkpoint's).")
    var dataset: Dataset.Name?

    @Option(name: .long, help: "CIFAR-100's labels to learn: fine (100 classes) or coarse (20 superclasses) (default: fine).")
    var labels: Dataset.Labels?

    /// Whether either flag was given.
    var isGiven: Bool { dataset != nil || labels != nil }

    /// The data set the flags choose, each flag taking `base`'s value when not given.
    func choice(base: Dataset) throws -> Dataset {
        do { return try Dataset.choose(name: dataset, labels: labels, base: base) } catch {
            throw ValidationError(error.description)
        }
    }
}

extension Dataset.Name: ExpressibleByArgument {}
extension Dataset.Labels: ExpressibleByArgument {}
