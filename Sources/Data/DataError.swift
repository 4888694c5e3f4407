/// Why a data set could not be read; every case names the file and, where it applies, the
/// record, and each message says what to do about it.
public enum DataError: Error, CustomStringConvertible, Equatable {
    /// The data directory does not exist (or is not a directory).
    case missingDirectory(path: String)
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

    /// How to obtain the CIFAR-10 files for `directory`: the download script, or the converter
    /// of the local JPEG copy that sits beside the repository.
    public static func obtainHint(directory: String) -> String {
        "run Scripts/get-cifar10.sh \(directory), or python3 ../shared/data/cifar10_to_bin.py \(directory)"
    }

    public var description: String {
        let record = CIFAR10.recordBytes
        switch self {
        case .missingDirectory(let path):
            return "CIFAR-10 directory '\(path)' does not exist: to create it, "
                + DataError.obtainHint(directory: path)
                + ", or point to the directory that holds "
                + (CIFAR10.trainingFiles + CIFAR10.testFiles).joined(separator: ", ")
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
        }
    }
}
