/// Which data set a run reads: CIFAR-10, or CIFAR-100 with its fine (100-class) or coarse
/// (20-class) labels. It decides the files, the record layout, the number of classes (and so the
/// model's output width) and the class names; runs record it in `config.json` and checkpoints.
public struct Dataset: Codable, Hashable, Sendable, CustomStringConvertible {
    /// The data set, as `--dataset` names it.
    public enum Name: String, Codable, CaseIterable, Sendable {
        /// CIFAR-10: five training files and a test file of 3073-byte records.
        case cifar10
        /// CIFAR-100: `train.bin` and `test.bin` of 3074-byte records with two labels.
        case cifar100
    }

    /// Which of CIFAR-100's two labels a run learns, as `--labels` names it.
    public enum Labels: String, Codable, CaseIterable, Sendable {
        /// The 100 classes (the second label byte).
        case fine
        /// The 20 superclasses (the first label byte).
        case coarse
    }

    /// The data set.
    public var name: Name
    /// CIFAR-100's label kind; nil for CIFAR-10, which has one label.
    public var labels: Labels?

    /// CIFAR-10.
    public static let cifar10 = Dataset(name: .cifar10, labels: nil)

    /// CIFAR-100 with `labels` (fine unless said).
    public static func cifar100(_ labels: Labels = .fine) -> Dataset { Dataset(name: .cifar100, labels: labels) }

    /// `name` with `labels`, which only CIFAR-100 has (`validate` checks the pair).
    public init(name: Name, labels: Labels?) {
        self.name = name
        self.labels = labels
    }

    /// The data set the flags `--dataset` and `--labels` choose, each taking `base`'s value when
    /// not given (a new run's base is CIFAR-10; a resumed run's is its checkpoint's). Giving
    /// CIFAR-100 without labels chooses the fine ones.
    ///
    /// - Throws: `DatasetChoiceError` when `--labels` is given for CIFAR-10.
    public static func choose(name: Name?, labels: Labels?, base: Dataset) throws(DatasetChoiceError) -> Dataset {
        let chosen = name ?? base.name
        switch chosen {
        case .cifar10:
            if let labels { throw .labelsWithoutCIFAR100(labels: labels) }
            return .cifar10
        case .cifar100:
            return .cifar100(labels ?? (base.name == .cifar100 ? base.labels ?? .fine : .fine))
        }
    }

    /// Checks a value read from a file: CIFAR-10 without labels, CIFAR-100 with them.
    public func validate() throws(DatasetChoiceError) {
        switch (name, labels) {
        case (.cifar10, nil), (.cifar100, .some): return
        case (.cifar10, .some(let labels)): throw .labelsWithoutCIFAR100(labels: labels)
        case (.cifar100, nil): throw .cifar100WithoutLabels
        }
    }

    /// "CIFAR-10", "CIFAR-100" or "CIFAR-100 (coarse labels)", for messages.
    public var description: String {
        switch (name, labels) {
        case (.cifar10, _): return "CIFAR-10"
        case (.cifar100, .coarse?): return "CIFAR-100 (coarse labels)"
        case (.cifar100, _): return "CIFAR-100"
        }
    }

    /// The data set's own name, "CIFAR-10" or "CIFAR-100", for messages about its files.
    public var fileTitle: String { name == .cifar10 ? "CIFAR-10" : "CIFAR-100" }

    /// Number of classes the labels run over: the model's output width.
    public var classes: Int {
        switch (name, labels) {
        case (.cifar10, _): return CIFAR10.classes
        case (.cifar100, .coarse?): return CIFAR100.coarseClasses
        case (.cifar100, _): return CIFAR100.fineClasses
        }
    }

    /// The class names by label.
    public var classNames: [String] {
        switch (name, labels) {
        case (.cifar10, _): return CIFAR10.classNames
        case (.cifar100, .coarse?): return CIFAR100.coarseNames
        case (.cifar100, _): return CIFAR100.fineNames
        }
    }

    /// The file of the binary version, beside the data, that lists `classNames` one per line.
    public var classNamesFile: String {
        switch (name, labels) {
        case (.cifar10, _): return CIFAR10.classNamesFile
        case (.cifar100, .coarse?): return CIFAR100.coarseNamesFile
        case (.cifar100, _): return CIFAR100.fineNamesFile
        }
    }

    /// The file names that make up `split`, in load order.
    public func files(for split: DatasetSplit) -> [String] {
        name == .cifar10 ? CIFAR10.files(for: split) : CIFAR100.files(for: split)
    }

    /// The files of both splits, for messages that list what a directory must hold.
    public var allFiles: [String] { files(for: .train) + files(for: .test) }

    /// Bytes of one record: the label bytes, then the image.
    public var recordBytes: Int { name == .cifar10 ? CIFAR10.recordBytes : CIFAR100.recordBytes }

    /// Label bytes at the start of each record (1 for CIFAR-10; coarse then fine for CIFAR-100).
    public var labelBytes: Int { recordBytes - CIFARImage.imageBytes }

    /// Which label byte of a record the run learns.
    var labelOffset: Int { labels == .fine ? 1 : 0 }

    /// The most records one file of the data set holds; a larger file is refused by its size.
    public var maxRecordsPerFile: Int { name == .cifar10 ? CIFAR10.maxRecordsPerFile : CIFAR100.maxRecordsPerFile }

    /// Where the official archive is, its MD5, and the script that fetches it.
    public var downloadScript: String { name == .cifar10 ? "Scripts/get-cifar10.sh" : "Scripts/get-cifar100.sh" }
}

/// A `--dataset`/`--labels` choice that names no data set, or a recorded one that is malformed.
public enum DatasetChoiceError: Error, CustomStringConvertible, Equatable {
    /// `--labels` given while the data set is CIFAR-10, which has one label.
    case labelsWithoutCIFAR100(labels: Dataset.Labels)
    /// A recorded CIFAR-100 choice that does not say which labels.
    case cifar100WithoutLabels

    public var description: String {
        switch self {
        case .labelsWithoutCIFAR100(let labels):
            return "--labels \(labels.rawValue): only CIFAR-100 has fine and coarse labels (add --dataset cifar100); CIFAR-10 has one label"
        case .cifar100WithoutLabels:
            return "dataset: cifar100 must say its labels, fine or coarse"
        }
    }
}
