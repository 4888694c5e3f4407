/// Why a data set could not be read; every case names the file and, where it applies, the
/// record, and each message says what to do about it.
public enum DataError: Error, CustomStringConvertible, Equatable {
    /// The data directory does not exist (or cannot be looked at).
    case missingDirectory(path: String)
    /// The path given as the data directory is a file: `--data` takes the directory holding the
    /// six `.bin` files, not one of them.
    case notADirectory(path: String)
    /// One of the split's files is not in the directory; `hint` says how to obtain it.
    case missingFile(path: String, hint: String)
    /// The file exists but could not be opened or read; `reason` is the system's explanation.
    case unreadable(path: String, reason: String)
    /// The file's size is not a whole number of 3073-byte records.
    case badSize(path: String, bytes: Int)
    /// Record `record` (0-based, within the file) has a label outside 0–9.
    case badLabel(path: String, record: Int, label: UInt8)
    /// The file has no bytes at all.
    case empty(path: String)
    /// The file's size has room for more than `CIFAR10.maxRecordsPerFile` records, so it is not
    /// one of CIFAR-10's files; refused from the size alone, before anything is allocated.
    case tooManyRecords(path: String, bytes: Int)
    /// The split's file `path` is missing, but `directory` holds files of CIFAR-10's Python
    /// (pickle) version: `data_batch_1` … `test_batch` without `.bin`, or `batches.meta`.
    case pythonVersion(path: String, directory: String)
    /// The split's file `path` is missing, but `directory` holds `train.bin` or `test.bin`, the
    /// file names of CIFAR-100's binary version, whose records this reader does not take.
    case cifar100(path: String, directory: String)

    /// How to obtain the CIFAR-10 files for `directory`: the download script, or the converter
    /// of the local JPEG copy that sits beside the repository.
    public static func obtainHint(directory: String) -> String {
        "run Scripts/get-cifar10.sh \(directory), or python3 ../shared/data/cifar10_to_bin.py \(directory)"
    }

    /// The binary version's archive and how to download it into `directory`, for the messages
    /// about directories that hold some other version of the data.
    static func binaryVersionHint(directory: String) -> String {
        "ddptrain reads the binary version (cifar-10-binary.tar.gz, files data_batch_1.bin … "
            + "data_batch_5.bin and test_batch.bin): run Scripts/get-cifar10.sh \(directory) to get it"
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

    /// The message shown to the user: what is wrong, with which file, and what to do about it.
    public var description: String {
        let record = CIFAR10.recordBytes
        switch self {
        case .missingDirectory(let path):
            return "CIFAR-10 directory '\(path)' does not exist: to create it, "
                + DataError.obtainHint(directory: path)
                + ", or point to the directory that holds "
                + (CIFAR10.trainingFiles + CIFAR10.testFiles).joined(separator: ", ")
        case .notADirectory(let path):
            return "'\(path)' is a file, not a directory: --data takes the directory that holds "
                + (CIFAR10.trainingFiles + CIFAR10.testFiles).joined(separator: ", ")
                + " (if this is one of them, give the directory it is in)"
        case .missingFile(let path, let hint):
            return "CIFAR-10 file '\(path)' is missing: \(hint)"
        case .unreadable(let path, let reason):
            return "cannot read CIFAR-10 file '\(path)': \(reason)"
        case .badSize(let path, let bytes):
            return "CIFAR-10 file '\(path)' has \(bytes) bytes, which is not a multiple of the "
                + "\(record)-byte record (1 label byte + \(CIFAR10.imageBytes) pixel bytes): it holds "
                + "\(bytes / record) whole records and \(bytes % record) bytes left over. The file is "
                + "truncated or not the CIFAR-10 binary version (cifar-10-binary.tar.gz, not the Python "
                + "or MATLAB one); download it again"
        case .badLabel(let path, let index, let label):
            return "CIFAR-10 file '\(path)' record \(index) (byte offset \(index * record)) has label "
                + "\(label), but labels must be 0–9: the file is corrupt or not CIFAR-10 "
                + "(CIFAR-100's binary records have two label bytes); download it again"
        case .empty(let path):
            return "CIFAR-10 file '\(path)' is empty (0 bytes); expected 3073-byte records: "
                + "delete it and obtain it again"
        case .tooManyRecords(let path, let bytes):
            let limit = CIFAR10.maxRecordsPerFile, grouped = DataError.grouped
            return "CIFAR-10 file '\(path)' is \(grouped(bytes)) bytes, room for \(grouped(bytes / record)) records "
                + "of \(record) bytes, but CIFAR-10 files hold \(grouped(limit)) records each; is this the right "
                + "file? (Each of the binary version's six files is \(grouped(limit * record)) bytes.)"
        case .pythonVersion(let path, let directory):
            return "CIFAR-10 file '\(path)' is missing, and '\(directory)' looks like the Python version "
                + "of CIFAR-10 (cifar-10-python.tar.gz: data_batch_1 … test_batch and batches.meta, "
                + "without .bin), which ddptrain does not read; "
                + DataError.binaryVersionHint(directory: directory)
        case .cifar100(let path, let directory):
            return "CIFAR-10 file '\(path)' is missing, and '\(directory)' holds train.bin/test.bin, "
                + "so it looks like CIFAR-100's binary version, which this reader does not take "
                + "(its records have two label bytes and 100 classes); "
                + DataError.binaryVersionHint(directory: directory)
        }
    }
}
