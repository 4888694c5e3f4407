import Foundation

/// Why a model could not be built from a name or flags; each message says what to change.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    /// The name does not follow `family[-bc]-depth[-growth]`.
    case unknownName(String)
    /// The depth does not give a whole number of layers per block.
    case invalidDepth(family: ModelFamily, depth: Int, rule: String)
    /// A numeric setting is out of range.
    case invalidSetting(name: String, value: String, rule: String)
    /// A size (depth, growth rate, channels, classes, input size) is above what ddptrain supports;
    /// `value` is the text given, which may be too large even to parse.
    case outOfRange(setting: String, value: String, maximum: Int)
    /// A setting or flag that `family` does not use was given: it would change nothing.
    case unusedSetting(family: ModelFamily, setting: String, reason: String)
    /// One of the model's sizes (`quantity`, e.g. its forward MACs per sample) does not fit in 64 bits.
    case uncountable(model: String, quantity: String)
    /// The model, with `batch` when it is to be trained or evaluated (nil: its layers and parameters alone),
    /// needs more memory than is available; `neededBytes` is nil when even that does not fit in 64 bits.
    case tooLarge(model: String, batch: Int?, neededBytes: Int?, availableBytes: Int)

    /// The message: what is wrong and what to change.
    public var description: String {
        switch self {
        case .unknownName(let name):
            return "unknown model '\(name)': expected sparsenet-<depth>-<growth>, sparsenet-bc-<depth>-<growth>, "
                + "densenet-<depth>-<growth>, densenet-bc-<depth>-<growth> or resnet-<depth>, each optionally "
                + "with se- in front for squeeze-and-excitation units "
                + "and/or sep- for depthwise-separable convolutions "
                + "(e.g. \(ModelConfiguration.namedModels.joined(separator: ", ")))"
        case .invalidDepth(let family, let depth, let rule):
            return "\(family.rawValue) depth \(depth) is not valid: \(rule)"
        case .invalidSetting(let name, let value, let rule):
            return "\(name) \(value) is not valid: \(rule)"
        case .outOfRange(let setting, let value, let maximum):
            return "\(setting) \(value) is out of range: ddptrain supports at most \(Self.grouped(maximum))"
        case .unusedSetting(let family, let setting, let reason):
            return "\(setting) does not apply to \(family.rawValue) models: \(reason); remove it"
        case .uncountable(let model, let quantity):
            return "\(model) is too large: its \(quantity) does not fit in 64 bits; choose a smaller model"
        case .tooLarge(let model, let batch, let needed, let available):
            let need = needed.map { "about \(Self.bytes($0))" } ?? "more than 8 EiB"
            let have = "this machine has \(Self.bytes(available)) available"
            if let batch {
                return "\(model) with batch \(batch) needs \(need); \(have): choose a smaller model or --batch-size"
            }
            return "\(model) needs \(need) for its layers and parameters alone; \(have): choose a smaller model"
        }
    }

    /// `n` with thousands separators, e.g. `10,000`.
    static func grouped(_ n: Int) -> String {
        let digits = String(n.magnitude)
        var out = n < 0 ? "-" : ""
        for (i, ch) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(ch)
        }
        return out
    }

    /// `n` bytes in binary units to one decimal, e.g. `811.9 GiB`.
    static func bytes(_ n: Int) -> String {
        let units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        var value = Double(n), unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(n) bytes" : String(format: "%.1f", value) + " " + units[unit]
    }
}
