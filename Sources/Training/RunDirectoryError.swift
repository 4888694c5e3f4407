/// Why a run directory or an output path cannot be used; each message says what is on disk and
/// what to do. Nothing in the directory has been changed when one of these is thrown.
public enum RunDirectoryError: Error, CustomStringConvertible, Equatable {
    /// The directory holds files of another run (`description` of that run), and this run was
    /// not asked to continue it.
    case holdsAnotherRun(path: String, occupant: String, reason: String)
    /// Another live process holds the directory's lock.
    case locked(path: String, holder: String)
    /// The directory cannot be created, locked or written; `reason` says why.
    case unusable(path: String, reason: String)
    /// An output path (`flag`) would overwrite or hide something that is not this run's.
    case output(flag: String, path: String, reason: String)

    public var description: String {
        switch self {
        case .holdsAnotherRun(let path, let occupant, let reason):
            return "run directory \(path) already holds \(occupant); \(reason). Nothing was changed. To continue that run "
                + "pass --resume auto; to keep it and start a new one, choose another --run-dir; to start over in this "
                + "directory, pass --overwrite (its files are moved into a replaced-<time> folder inside it, not deleted)"
        case .locked(let path, let holder):
            return "run directory \(path) is in use by another ddptrain process (\(holder)); wait for it to end or stop it, "
                + "or choose another --run-dir. Nothing was changed"
        case .unusable(let path, let reason):
            return "cannot use run directory \(path): \(reason)"
        case .output(let flag, let path, let reason):
            return "\(flag) \(path): \(reason). Nothing was written"
        }
    }
}
