/// Which training-time augmentations are on and how they are parametrised, parsed from
/// `--augment crop,flip,shift` (also `none` or the empty string for no augmentation).
///
/// The defaults are the papers' CIFAR augmentation: a random 32×32 crop of the image padded by 4
/// pixels, and a random horizontal flip. `shift` is the Keras-notebook alternative to the crop
/// (`width_shift_range`/`height_shift_range` with `fill_mode="nearest"`).
public struct AugmentationOptions: Codable, Hashable, Sendable, CustomStringConvertible {
    /// Random crop of the zero-padded image (torchvision `RandomCrop(32, padding: cropPadding)`).
    public var crop: Bool = true
    /// Zero padding added on every side before cropping; offsets are uniform in `0...2·padding`.
    public var cropPadding: Int = 4
    /// Horizontal flip with probability ½.
    public var flip: Bool = true
    /// Random integer translation, as Keras's shift ranges.
    public var shift: Bool = false
    /// Largest shift as a fraction of the width (height): shifts are uniform in
    /// `−round(f·32)...round(f·32)` pixels, independently in each direction.
    public var shiftFraction: Double = 0.125
    /// How pixels shifted in from outside the image are filled.
    public var shiftFill: ShiftFill = .nearest

    /// The names `init(parsing:)` accepts besides `none`.
    public static let kindNames = ["crop", "flip", "shift"]

    /// The default augmentation: crop with padding 4, and flip.
    public init() {}

    /// Parses a comma-separated list of `crop`, `flip`, `shift` (case and spaces ignored): the
    /// listed kinds are on, the others off, each with its default parameters. `none` and the
    /// empty string turn everything off. A list that contradicts itself or repeats itself is
    /// refused rather than read one way silently: `none` beside another kind
    /// (`AugmentationError.noneWithOthers`), or a kind named twice (`.repeatedKind`).
    public init(parsing list: String) throws {
        self.init()
        var named: [String] = []
        for item in list.split(separator: ",") {
            let name = item.trimmingSpaces.lowercased()
            if name.isEmpty { continue }
            guard name == "none" || Self.kindNames.contains(name) else {
                throw AugmentationError.unknownKind(String(item.trimmingSpaces))
            }
            guard !named.contains(name) else { throw AugmentationError.repeatedKind(name, list: list) }
            named.append(name)
        }
        if named.contains("none") && named.count > 1 { throw AugmentationError.noneWithOthers(list: list) }
        crop = named.contains("crop")
        flip = named.contains("flip")
        shift = named.contains("shift")
    }

    /// The kinds that are on with their parameters, e.g. `crop(4),flip`,
    /// `shift(0.125,nearest)`, or `none`.
    public var description: String {
        var parts: [String] = []
        if shift { parts.append("shift(\(shiftFraction),\(shiftFill.rawValue))") }
        if crop { parts.append("crop(\(cropPadding))") }
        if flip { parts.append("flip") }
        return parts.isEmpty ? "none" : parts.joined(separator: ",")
    }

    /// Whether no augmentation is on (training views equal evaluation views).
    public var isIdentity: Bool { !crop && !flip && !shift }

    /// The largest shift in pixels along an axis of `size` pixels: `round(shiftFraction · size)`.
    public func maxShift(size: Int) -> Int {
        shift ? Int((shiftFraction * Double(size)).rounded()) : 0
    }
}

extension Substring {
    /// The text without leading and trailing spaces and tabs (no Foundation needed).
    var trimmingSpaces: Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return s
    }
}
