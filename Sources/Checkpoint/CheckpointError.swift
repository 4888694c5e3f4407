/// Why a checkpoint could not be read, verified, encoded or written. Every case names the file
/// and says what is wrong; each message ends with what to do about it.
public enum CheckpointError: Error, CustomStringConvertible, Equatable {
    /// The file does not start with the magic bytes `DDPTCKPT`: it is not a checkpoint.
    case badMagic(path: String)
    /// The file is a checkpoint of a format version this build cannot read.
    case unsupportedVersion(path: String, found: UInt32, supported: UInt32)
    /// The file is shorter than its preamble says (`expected` bytes; it has `actual`), or
    /// shorter than the 64-byte preamble itself (`expected` is then 64).
    case truncated(path: String, expected: Int, actual: Int)
    /// The checksum over the header and the raw payload is not the one the preamble records.
    case checksumMismatch(path: String, expected: UInt64, actual: UInt64)
    /// The zstd frame is damaged or inconsistent with the preamble, or there are bytes after it.
    /// When encoding, compression itself failed.
    case corruptPayload(path: String, reason: String)
    /// The preamble's fields or the JSON header are invalid or inconsistent with the payload.
    /// When encoding, the caller's metadata or tensors cannot be stored as given.
    case malformedHeader(path: String, reason: String)
    /// A system call on the file or its directory failed; `reason` names the step and carries
    /// the system's explanation (`strerror`).
    case io(path: String, reason: String)
    /// There is no file at the path.
    case notFound(path: String)

    /// The `path` of errors raised by `CheckpointFile.encode`, which has no file yet.
    public static let encodingPath = "(checkpoint being encoded)"

    /// What to do about a damaged file.
    static let useEarlier = "resume from an earlier checkpoint of the run directory (ckpt-e*-s*.ddpt), "
        + "or restart the run"

    public var description: String {
        switch self {
        case .badMagic(let path):
            return "'\(path)' is not a ddptrain checkpoint: it does not start with the magic bytes "
                + "\"DDPTCKPT\". Point to a .ddpt file written by ddptrain (the run directory's file "
                + "'latest' names the newest one)"
        case .unsupportedVersion(let path, let found, let supported):
            return "checkpoint '\(path)' has format version \(found), but this build of ddptrain reads "
                + "version \(supported) only: it was written by a "
                + (found > supported ? "newer" : "different")
                + " ddptrain. Resume it with that version, or use a checkpoint of version \(supported)"
        case .truncated(let path, let expected, let actual):
            if actual == 0 {
                return "checkpoint '\(path)' is empty (0 bytes): it was never written completely. "
                    + "Delete it and " + CheckpointError.useEarlier
            }
            if expected == CheckpointFile.preambleBytes {
                return "checkpoint '\(path)' is truncated: it has \(actual) bytes, fewer than the "
                    + "\(expected)-byte preamble. Delete it and " + CheckpointError.useEarlier
            }
            return "checkpoint '\(path)' is truncated: its preamble announces \(expected) bytes but the "
                + "file has \(actual) (\(expected - actual) missing); an interrupted write or copy. "
                + "Delete it and " + CheckpointError.useEarlier
        case .checksumMismatch(let path, let expected, let actual):
            return "checkpoint '\(path)' is corrupt: it records content checksum "
                + CheckpointError.hex(expected) + " but its header and payload hash to "
                + CheckpointError.hex(actual)
                + "; the file was damaged after it was written (disk, memory or copy). "
                + CheckpointError.useEarlier.prefix(1).uppercased() + CheckpointError.useEarlier.dropFirst()
        case .corruptPayload(let path, let reason):
            if path == CheckpointError.encodingPath {
                return "cannot encode the checkpoint: \(reason)"
            }
            return "checkpoint '\(path)' has a corrupt payload: \(reason). " +
                CheckpointError.useEarlier.prefix(1).uppercased() + CheckpointError.useEarlier.dropFirst()
        case .malformedHeader(let path, let reason):
            if path == CheckpointError.encodingPath {
                return "cannot encode the checkpoint: \(reason)"
            }
            return "checkpoint '\(path)' has a malformed header: \(reason). It was not written by this "
                + "ddptrain or it is damaged; " + CheckpointError.useEarlier
        case .io(let path, let reason):
            return "checkpoint I/O failed on '\(path)': \(reason)"
        case .notFound(let path):
            return "checkpoint '\(path)' does not exist: check the path; a run directory holds "
                + "ckpt-e<epoch>-s<step>.ddpt files and a file 'latest' naming the newest"
        }
    }

    /// `0x` and 16 hexadecimal digits.
    static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: 16 - digits.count) + digits
    }
}
