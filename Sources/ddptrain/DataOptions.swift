import ArgumentParser
import Data  // the flags parse into Data's AugmentationOptions and ShiftFill

/// Flags that say which data set, where it is, and how training samples are augmented.
struct DataOptions: ParsableArguments {
    @Option(name: .long, help: "Directory with the data set's files: data_batch_1.bin … data_batch_5.bin and test_batch.bin for CIFAR-10 (Scripts/get-cifar10.sh), train.bin and test.bin for CIFAR-100 (Scripts/get-cifar100.sh).")
    var data: String

    @OptionGroup var choice: DatasetOptions

    @Option(name: .long, help: "Augmentations of training samples: any of crop, flip, shift, comma-separated, or none (default: \(defaultKinds)).")
    var augment: String?

    @Option(name: .long, help: "Zero padding around the image before the random 32×32 crop (default: \(defaults.cropPadding)).")
    var cropPadding: Int?

    @Option(name: .long, help: "Largest random shift as a fraction of width and height, Keras width/height_shift_range (default: \(number(defaults.shiftFraction))).")
    var shift: Double?

    @Option(name: .long, help: "How shifted-in pixels are filled: nearest or zero (default: \(defaults.shiftFill.rawValue)).")
    var shiftFill: ShiftFill?

    /// Whether any augmentation flag was given.
    var isGiven: Bool { augment != nil || cropPadding != nil || shift != nil || shiftFill != nil }

    /// The augmentation options (their ranges are checked with the rest of the configuration,
    /// by `TrainingConfiguration.validate()`).
    func augmentation() throws -> AugmentationOptions {
        var a = try AugmentationOptions(parsing: augment ?? "crop,flip")
        if let cropPadding { a.cropPadding = cropPadding }
        if let shift { a.shiftFraction = shift }
        if let shiftFill { a.shiftFill = shiftFill }
        return a
    }
}

/// The defaults the data flags' help shows, from `AugmentationOptions`.
private var defaults: AugmentationOptions { AugmentationOptions() }

/// The augmentations on by default, as `--augment` names them.
private var defaultKinds: String {
    let kinds = [("crop", defaults.crop), ("flip", defaults.flip), ("shift", defaults.shift)].filter(\.1).map(\.0)
    return kinds.isEmpty ? "none" : kinds.joined(separator: ",")
}
