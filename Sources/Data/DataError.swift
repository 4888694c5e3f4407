/// Why a data set could not be read; every case names the file and, where it applies, the
/// record, and each message says what to do about it. `dataset` is the data set the reader was
/// asked for, whose files and record layout the message describes.
public enum DataError: Error, CustomStringConvertible, Equatable {
    /// The data directory does not exist (or cannot be looked at).
    case missingDirectory(path: String, dataset: Dataset = .cifar10)
    /// The path given as the data directory is a file: `--data` takes the directory holding the
    /// data set's `.bin` files, not one of them.
    case notADirectory(path: String, dataset: Dataset = .cifar10)
    /// One of the split's files is not in the directory; `hint` says how to obtain it.
    case missingFile(path: String, hint: String, dataset: Dataset = .cifar10)
    /// The file exists but could not be opened or read; `reason` is the system's explanation.
    case unreadable(path: String, reason: String)
    /// The file's size is not a whole number of records.
    case badSize(path: String, bytes: Int, dataset: Dataset = .cifar10)
    /// Record `record` (0-based, within the file) of a CIFAR-10 file has a label outside 0–9.
    case badLabel(path: String, record: Int, label: UInt8, dataset: Dataset = .cifar10)
    /// Record `record` of a CIFAR-100 file has a coarse label outside 0–19 or a fine one outside 0–99.
    case badLabels(path: String, record: Int, coarse: UInt8, fine: UInt8)
    /// Record `record` of a CIFAR-100 file puts fine class `fine` in superclass `coarse`, where an
    /// earlier record of the same split put it in `earlier`: every fine class belongs to exactly
    /// one superclass, so the label bytes are damaged or swapped.
    case inconsistentSuperclass(path: String, record: Int, fine: UInt8, coarse: UInt8, earlier: UInt8)
    /// The file has no bytes at all.
    case empty(path: String, dataset: Dataset = .cifar10)
    /// The file's size has room for more records than any file of the data set holds
    /// (`Dataset.maxRecordsPerFile`), so it is the wrong file; refused from the size alone,
    /// before anything is allocated.
    case tooManyRecords(path: String, bytes: Int, dataset: Dataset = .cifar10)
    /// The split's file `path` is missing, but `directory` holds files of CIFAR-10's Python
    /// (pickle) version: `data_batch_1` … `test_batch` without `.bin`, or `batches.meta`.
    case pythonVersion(path: String, directory: String, dataset: Dataset = .cifar10)
    /// A CIFAR-10 file `path` is missing, but `directory` holds `train.bin` or `test.bin`, the
    /// file names of CIFAR-100's binary version (`--dataset cifar100` reads them).
    case cifar100(path: String, directory: String)
    /// A CIFAR-100 file `path` is missing, but `directory` holds CIFAR-10's `data_batch_1.bin`
    /// or `test_batch.bin` (`--dataset cifar10` reads them).
    case cifar10(path: String, directory: String)

    /// How to obtain the files of `dataset` for `directory`: the download script, or (CIFAR-10)
    /// the converter of the local JPEG copy that sits beside the repository.
    public static func obtainHint(directory: String, dataset: Dataset = .cifar10) -> String {
        dataset.name == .cifar10
            ? "run Scripts/get-cifar10.sh \(directory), or python3 ../shared/data/cifar10_to_bin.py \(directory)"
            : "run Scripts/get-cifar100.sh \(directory)"
    }

    /// The binary version's archive and how to download it into `directory`, for the messages
    /// about directories that hold some other version of the data.
    static func binaryVersionHint(directory: String, dataset: Dataset) -> String {
        let files = dataset.files(for: .train) + dataset.files(for: .test)
        let archive = dataset.name == .cifar10 ? "cifar-10-binary.tar.gz" : "cifar-100-binary.tar.gz"
        let list = files.count > 2 ? "\(files[0]) … \(files[files.count - 2]) and \(files.last!)" : files.joined(separator: " and ")
        return "ddptrain reads the binary version (\(archive), files \(list)): run "
            + "\(dataset.downloadScript) \(directory) to get it"
    }

    /// `n` with a comma between groups of three digits (30,730,000), for sizes read by people.
    static func grouped(_ n: Int) -> String {
        let digits = Array(String(n.magnitude))
        var out = n < 0 ? "-" : ""
        for (i, digit) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(digit)
        }
        return out
    }

    /// What a file of `bytes` bytes looks like when it is a whole number of the other data set's
    /// records: the flag that reads it (empty when it is not).
    static func otherLayoutHint(bytes: Int, dataset: Dataset) -> String {
        let other: Dataset = dataset.name == .cifar10 ? .cifar100() : .cifar10
        guard bytes > 0, bytes % other.recordBytes == 0, bytes % dataset.recordBytes != 0 else { return "" }
        return ". Its size is a whole number of \(other.fileTitle)'s \(other.recordBytes)-byte records: if it is "
            + "\(other.fileTitle) data, train with --dataset \(other.name.rawValue) (files \(other.allFiles.joined(separator: ", ")))"
    }

    /// The message shown to the user: what is wrong, with which file, and what to do about it.
    public var description: String {
        switch self {
        case .missingDirectory(let path, let dataset):
            return "\(dataset.fileTitle) directory '\(path)' does not exist: to create it, "
                + DataError.obtainHint(directory: path, dataset: dataset)
                + ", or point to the directory that holds " + dataset.allFiles.joined(separator: ", ")
        case .notADirectory(let path, let dataset):
            return "'\(path)' is a file, not a directory: --data takes the directory that holds "
                + dataset.allFiles.joined(separator: ", ")
                + " (if this is one of them, give the directory it is in)"
        case .missingFile(let path, let hint, let dataset):
            return "\(dataset.fileTitle) file '\(path)' is missing: \(hint)"
        case .unreadable(let path, let reason):
            return "cannot read data file '\(path)': \(reason)"
        case .badSize(let path, let bytes, let dataset):
            let record = dataset.recordBytes
            return "\(dataset.fileTitle) file '\(path)' has \(bytes) bytes, which is not a multiple of the "
                + "\(record)-byte record (\(dataset.labelBytes) label byte\(dataset.labelBytes == 1 ? "" : "s") + "
                + "\(CIFARImage.imageBytes) pixel bytes): it holds \(bytes / record) whole records and "
                + "\(bytes % record) bytes left over. The file is truncated or not the \(dataset.fileTitle) binary "
                + "version (not the Python or MATLAB one); download it again"
                + DataError.otherLayoutHint(bytes: bytes, dataset: dataset)
        case .badLabel(let path, let index, let label, let dataset):
            let fitsCIFAR100 = Int(label) < CIFAR100.fineClasses
            return "\(dataset.fileTitle) file '\(path)' record \(index) (byte offset \(index * dataset.recordBytes)) has label "
                + "\(label), but labels must be 0–\(CIFAR10.classes - 1): the file is corrupt or not CIFAR-10"
                + (fitsCIFAR100 ? " (a label up to 99 suggests CIFAR-100, whose binary files train.bin and test.bin "
                   + "have two label bytes per record: read those with --dataset cifar100)" : "")
                + "; download it again"
        case .badLabels(let path, let index, let coarse, let fine):
            return "CIFAR-100 file '\(path)' record \(index) (byte offset \(index * CIFAR100.recordBytes)) has coarse label "
                + "\(coarse) and fine label \(fine), but coarse labels must be 0–\(CIFAR100.coarseClasses - 1) and fine "
                + "labels 0–\(CIFAR100.fineClasses - 1): the file is corrupt or not CIFAR-100's binary version; download it again"
        case .inconsistentSuperclass(let path, let index, let fine, let coarse, let earlier):
            return "CIFAR-100 file '\(path)' record \(index) puts fine class \(fine) in superclass \(coarse), but an earlier "
                + "record put it in superclass \(earlier); each fine class has one superclass, so the label bytes are "
                + "damaged or in the wrong order (coarse comes first); download the file again"
        case .empty(let path, let dataset):
            return "\(dataset.fileTitle) file '\(path)' is empty (0 bytes); expected \(dataset.recordBytes)-byte records: "
                + "delete it and obtain it again"
        case .tooManyRecords(let path, let bytes, let dataset):
            let record = dataset.recordBytes, limit = dataset.maxRecordsPerFile, grouped = DataError.grouped
            return "\(dataset.fileTitle) file '\(path)' is \(grouped(bytes)) bytes, room for \(grouped(bytes / record)) records "
                + "of \(record) bytes, but \(dataset.fileTitle) files hold "
                + (dataset.name == .cifar10 ? "\(grouped(limit)) records each" : "at most \(grouped(limit)) records (train.bin)")
                + "; is this the right file? (The largest file of the binary version is \(grouped(limit * record)) bytes.)"
                + DataError.otherLayoutHint(bytes: bytes, dataset: dataset)
        case .pythonVersion(let path, let directory, let dataset):
            let (archive, files) = dataset.name == .cifar10
                ? ("cifar-10-python.tar.gz", "data_batch_1 … test_batch and batches.meta")
                : ("cifar-100-python.tar.gz", "train, test and meta")
            return "\(dataset.fileTitle) file '\(path)' is missing, and '\(directory)' looks like the Python version "
                + "of \(dataset.fileTitle) (\(archive): \(files), without .bin), which ddptrain does not read; "
                + DataError.binaryVersionHint(directory: directory, dataset: dataset)
        case .cifar100(let path, let directory):
            return "CIFAR-10 file '\(path)' is missing, and '\(directory)' holds train.bin/test.bin, "
                + "so it looks like CIFAR-100's binary version (two label bytes per record, 100 classes): "
                + "train on it with --dataset cifar100, or, for CIFAR-10, "
                + DataError.binaryVersionHint(directory: directory, dataset: .cifar10)
        case .cifar10(let path, let directory):
            return "CIFAR-100 file '\(path)' is missing, and '\(directory)' holds CIFAR-10's data_batch_*.bin/"
                + "test_batch.bin (one label byte per record, 10 classes): train on it with --dataset cifar10 "
                + "(the default), or, for CIFAR-100, " + DataError.binaryVersionHint(directory: directory, dataset: .cifar100())
        }
    }
}
