#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Checkpoint
import Foundation

/// The run directory of one training run, as rank 0 holds it: locked against a second process,
/// owned by exactly one run (the `runID` in `config.json` and in every checkpoint), and the only
/// writer of `config.json`, `metrics.jsonl`, the step log and (through `CheckpointWriter`) the
/// checkpoints.
///
/// A run never writes over another run's files: a fresh run refuses a directory that holds one
/// unless `--overwrite` moves that run's files aside into `replaced-<time>/`, and a run that
/// continues from an older checkpoint of its own moves the newer ones into `superseded-<time>/`,
/// so that `latest`, `inspect`, `eval` and `--resume auto` all name the same checkpoint.
public final class RunDirectory {
    /// What a directory held before this process opened it.
    public struct Occupant: Sendable {
        /// The run's id (nil for runs of versions before 0.3, or when no file says).
        public var runID: String?
        /// The run's `config.json`, when it is readable.
        public var configuration: TrainingConfiguration?
        /// Names of the run's files: `config.json`, `metrics.jsonl`, `latest`, checkpoints.
        public var files: [String]

        /// A short description for messages: id, model, seed and checkpoints.
        public var summary: String {
            var parts: [String] = []
            if let c = configuration { parts.append("\(c.model.name), seed \(c.seed), \(c.epochs) epochs") }
            let checkpoints = files.filter(CheckpointDirectory.isCheckpointName).sorted()
            parts.append(checkpoints.isEmpty ? "no checkpoint" : "\(checkpoints.count) checkpoint(s), newest \(checkpoints.last!)")
            return "run " + (runID ?? "(of an older version, without id)") + " (" + parts.joined(separator: "; ") + ")"
        }
    }

    /// The file holding the resolved configuration.
    public static let configurationName = "config.json"
    /// The file of per-epoch metrics.
    public static let metricsName = "metrics.jsonl"

    /// The directory, as given.
    public let path: String
    /// What it held when opened.
    public let occupant: Occupant?
    private let lock: RunDirectoryLock
    /// Directories `open` created, outermost first (removed again by `abandon` if nothing was written).
    private let created: [String]
    /// Files to move aside once the run really starts: (files, folder name).
    private var moves: [(files: [String], folder: String)] = []
    private var wroteFiles = false

    /// Rank 0: creates the directory (and missing parents) and locks it. Refuses a directory
    /// inside the data directory, a path through a file, and a directory another process holds.
    public static func open(_ path: String, dataDirectory: String) throws(RunDirectoryError) -> RunDirectory {
        guard !path.isEmpty else { throw .unusable(path: "''", reason: "--run-dir is empty") }
        if PathCheck.isInside(path, dataDirectory) {
            throw .output(flag: "--run-dir", path: path, reason: "lies inside the data directory \(dataDirectory); keep runs apart from the data")
        }
        let created = try PathCheck.makeDirectories(path)
        do {
            let lock = try RunDirectoryLock(directory: path)
            return RunDirectory(path: path, lock: lock, created: created)
        } catch {
            PathCheck.removeCreated(created, keeping: [])
            throw error
        }
    }

    private init(path: String, lock: RunDirectoryLock, created: [String]) {
        self.path = path
        self.lock = lock
        self.created = created
        occupant = Self.occupant(of: path)
    }

    /// Whether `name` is one of the files a run writes into its directory.
    static func isRunFile(_ name: String) -> Bool {
        name == configurationName || name == metricsName || name == CheckpointDirectory.latestName || name == CheckpointDirectory.bestName
            || CheckpointDirectory.isCheckpointName(name) || TensorBoardLog.isEventFile(name)
    }

    /// The run `path` holds, read without changing anything (nil when it holds none).
    public static func occupant(of path: String) -> Occupant? {
        let files = POSIXFile.entries(path).filter { isRunFile($0) && !POSIXFile.isDirectory(POSIXFile.join(path, $0)) }
        guard !files.isEmpty else { return nil }
        let configuration = (try? POSIXFile.readAll(POSIXFile.join(path, configurationName)))
            .flatMap { try? JSONDecoder().decode(TrainingConfiguration.self, from: $0) }
        var runID = configuration?.runID
        if runID == nil, configuration == nil {
            // Without config.json, the newest checkpoint that can be read says whose files these are.
            runID = CheckpointDirectory.candidates(in: path).lazy.compactMap { path -> String?? in
                guard let bytes = try? POSIXFile.readAll(path), let point = try? ResumePoint(bytes: bytes, path: path) else { return nil }
                return .some(point.state.configuration.runID)
            }.first ?? nil
        }
        return Occupant(runID: runID, configuration: configuration, files: files)
    }

    /// The id of the run `path` holds (from its `config.json`, else its newest checkpoint).
    public static func runID(of path: String) -> String? { occupant(of: path)?.runID }

    /// Decides which run the directory will hold and returns its id, changing nothing on disk yet:
    /// - continuing a checkpoint: the checkpoint's run (a new id for a checkpoint without one),
    ///   refused when the directory holds a different run; newer checkpoints of the same run are
    ///   marked to be moved into `superseded-<time>/`;
    /// - `--resume auto` without a usable checkpoint: the directory's run starts again from step 0
    ///   under its id, provided the flags describe the same computation;
    /// - a fresh run: a new id, refused when the directory holds a run.
    /// `--overwrite` marks the directory's run files to be moved into `replaced-<time>/` first.
    public func settle(resume: ResumePoint?, requested: TrainingConfiguration, resumeAuto: Bool,
                       overwrite: Bool) throws -> String {
        let stamp = Self.timestamp()
        var occupant = self.occupant
        if overwrite, let o = occupant {
            moves.append((o.files, "replaced-" + stamp))
            occupant = nil
        }
        if let resume {
            let id = resume.state.configuration.runID
            if let o = occupant, o.runID != id {
                throw RunDirectoryError.holdsAnotherRun(path: path, occupant: o.summary,
                                                        reason: "the checkpoint \(resume.path) belongs to run \(id ?? "(without id)")")
            }
            let newer = CheckpointDirectory.candidates(in: path).filter { (CheckpointDirectory.position(of: $0)?.globalStep ?? 0) > resume.state.globalStep }
            if occupant != nil, !newer.isEmpty {
                moves.append((newer.map { String($0.split(separator: "/").last!) }, "superseded-" + stamp))
            }
            return id ?? Self.newRunID()
        }
        guard let o = occupant else { return Self.newRunID() }
        guard resumeAuto else {
            throw RunDirectoryError.holdsAnotherRun(path: path, occupant: o.summary, reason: "this command starts a new run (no --resume)")
        }
        let differing = Self.computationDifference(o.configuration, requested)
        guard let id = o.runID, differing.isEmpty else {
            throw RunDirectoryError.holdsAnotherRun(
                path: path, occupant: o.summary,
                reason: "it has no usable checkpoint to continue, and "
                    + (differing.isEmpty ? "no id to continue it under" : "the flags differ from its config.json in: " + differing.joined(separator: ", ")))
        }
        return id
    }

    /// Checks `--step-log PATH` before training: a file path outside the data and not one of this
    /// directory's own files, which may already exist only when it is the step log that run
    /// `runID`, continuing here, recorded in `config.json`. Returns its canonical path.
    public func checkStepLog(_ path: String, runID: String?, dataDirectory: String) throws(RunDirectoryError) -> String {
        let own = occupant.flatMap { $0.runID == runID ? $0.configuration?.stepLogPath : nil }
        return try PathCheck.checkNewFile(path, flag: "--step-log", dataDirectory: dataDirectory, runDirectory: self.path,
                                          mayExist: own != nil && own == PathCheck.canonical(path))
    }

    /// Moves aside what `settle` marked, writes `config.json`, and opens `metrics.jsonl` with the
    /// saved history (a resumed run rewrites the epochs it has already reported).
    public func begin(_ configuration: TrainingConfiguration, history: [EpochMetrics],
                      say: (String) -> Void) throws -> MetricsLog {
        for (files, base) in moves where !files.isEmpty {
            let (folder, destination) = try Self.makeFreshFolder(in: path, named: base)
            for name in files.sorted() {
                do { try POSIXFile.move(POSIXFile.join(path, name), to: POSIXFile.join(destination, name)) } catch {
                    throw RunDirectoryError.unusable(path: path, reason: "moving \(name) into \(folder)/ failed: \(error)")
                }
            }
            say("moved \(files.count) file(s) of the earlier \(folder.hasPrefix("replaced") ? "run" : "branch of this run") into \(destination)")
        }
        moves = []
        wroteFiles = true
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        do {
            try encoder.encode(configuration).write(to: URL(fileURLWithPath: POSIXFile.join(path, Self.configurationName)), options: .atomic)
        } catch {
            throw RunDirectoryError.unusable(path: path, reason: "writing config.json failed: \(error.localizedDescription)")
        }
        let metrics = try MetricsLog(path: POSIXFile.join(path, Self.metricsName))
        for m in history { try metrics.append(m) }
        return metrics
    }

    /// Creates a folder that did not exist, `base` or `base-2`, `base-3`, … (two moves within one
    /// second must never share a folder, or one would rename its files over the other's).
    static func makeFreshFolder(in directory: String, named base: String) throws(RunDirectoryError) -> (name: String, path: String) {
        for attempt in 1...1_000 {
            let name = attempt == 1 ? base : "\(base)-\(attempt)"
            let destination = POSIXFile.join(directory, name)
            if mkdir(destination, 0o755) == 0 { return (name, destination) }
            guard errno == EEXIST else {
                throw .unusable(path: directory, reason: "creating \(name)/ failed: \(POSIXFile.message(errno))")
            }
        }
        throw .unusable(path: directory, reason: "no free name for \(base)/ (1,000 folders of that name exist)")
    }

    /// Removes the lock file and the directories `open` created when the run fails before writing
    /// anything, so a failed start leaves no empty run directory behind.
    public func abandon() {
        guard !wroteFiles, !created.isEmpty else { return }
        PathCheck.removeCreated(created, keeping: [RunDirectoryLock.fileName])
    }

    /// The fields of the computation (not node-local or performance settings) in which `saved`
    /// and `requested` differ; everything, when there is no saved configuration.
    static func computationDifference(_ saved: TrainingConfiguration?, _ requested: TrainingConfiguration) -> [String] {
        guard let saved else { return ["config.json (missing or unreadable)"] }
        func comparable(_ c: TrainingConfiguration) -> Data {
            var c = c
            c.takeSessionSettings(from: .defaults)
            c.runID = nil
            c.normalization = nil
            c.trainingSamples = 0
            c.testSamples = 0
            c.batchSize *= c.worldSize  // the global batch decides the computation
            c.worldSize = 1
            let scaling = c.schedule.batchScaling.map { BatchScaling(rule: $0.rule, referenceBatch: $0.referenceBatch) }
            c.schedule = LearningRateSchedule(kind: c.schedule.kind, baseRate: c.schedule.baseRate, milestones: c.schedule.milestones,
                                              gamma: c.schedule.gamma, warmupEpochs: c.schedule.warmupEpochs,
                                              minimumRate: c.schedule.minimumRate, decay: c.schedule.decay, epochs: c.epochs,
                                              stepsPerEpoch: 1)
            c.schedule.batchScaling = scaling
            c.checkpoint = CheckpointSettings()
            c.softwareVersion = ""
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            return (try? encoder.encode(c)) ?? Data()
        }
        return ConfigurationDifference.fields(comparable(saved), comparable(requested))
    }

    /// A new random run id: 16 hexadecimal digits.
    static func newRunID() -> String {
        var generator = SystemRandomNumberGenerator()
        let value = generator.next() as UInt64
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// The current UTC time as `yyyyMMdd-HHmmss`, for folder names.
    static func timestamp() -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        return formatter.string(from: Date())
    }
}
