/// A setting of a training configuration that breaks a rule: which flag sets it, which field of
/// `config.json` and of a checkpoint's metadata stores it, its value and the rule.
///
/// One validation (`TrainingConfiguration.validate()`) serves flags and checkpoints alike; the
/// message names whichever source the value came from: the flag, or the file and the field.
public struct ConfigurationProblem: Error, Equatable, CustomStringConvertible, Sendable {
    /// The command-line flag that sets the value, e.g. `--crop-padding`.
    public var flag: String
    /// The dotted path of the field in the configuration, e.g. `augmentation.cropPadding`.
    public var field: String
    /// The offending value as text.
    public var value: String
    /// What the value must satisfy.
    public var rule: String

    /// A problem with `value` of `flag` (stored as `field`).
    public init(flag: String, field: String, value: String, rule: String) {
        self.flag = flag
        self.field = field
        self.value = value
        self.rule = rule
    }

    /// The message for a value given on the command line.
    public var description: String { "\(flag) \(value): \(rule)" }

    /// The message for a value read from `file` (a checkpoint or `config.json`).
    public func described(in file: String) -> String {
        "\(file): field '\(field)' is \(value), which is not valid: it \(rule) (the setting of \(flag)); "
            + "the file was not written by this version of ddptrain or was edited"
    }
}
