import Distributed
import Foundation

/// Which checkpoint a job resumes from, agreed by all ranks: rank 0 finds and reads it, and every
/// rank receives its bytes (so the run directory need not be on a shared file system).
extension ResumePoint {
    /// Resolves `--resume`: nil (fresh start), `auto` (the newest usable checkpoint of run
    /// `runID` in `runDirectory`, falling back past damaged ones; fresh when there is none), or a
    /// path: a checkpoint file, or a run directory for its newest usable checkpoint.
    public static func find(_ spec: String?, runDirectory: String, runID: String? = nil, communicator: Communicator,
                            say: (String) -> Void = { FileHandle.standardOutput.write(Data(($0 + "\n").utf8)) }) throws -> ResumePoint? {
        // Every rank takes part in the same collectives whatever its flag says, and ranks that
        // disagree about --resume stop instead of waiting for each other forever.
        let leaderSpec = communicator.leaders(spec ?? "")
        if communicator.anyRank(leaderSpec != (spec ?? "")) {
            communicator.abort("the ranks were given different --resume values (rank 0: '\(leaderSpec)', "
                               + "this rank: '\(spec ?? "")'); give every rank the same flags")
        }
        guard let spec else { return nil }
        var bytes: [UInt8] = []
        var chosen = ""
        var failure: Error?
        if communicator.isLeader {
            do {
                (bytes, chosen) = try leaderRead(spec, runDirectory: runDirectory, runID: runID, say: say)
            } catch {
                failure = error
            }
        }
        // Agree on success before the broadcast, so no rank waits for bytes that never come.
        let failed = communicator.anyRank(failure != nil)
        if let failure { throw failure }
        if failed { communicator.abort("rank 0 could not read the checkpoint to resume from") }
        let name = communicator.leaders(chosen)
        bytes = communicator.leaders(bytes)
        guard !bytes.isEmpty else { return nil }
        return try ResumePoint(bytes: Data(bytes), path: name)
    }

    /// Rank 0's side of `find`: the chosen file's bytes and path, or empty for a fresh start.
    static func leaderRead(_ spec: String, runDirectory: String, runID: String?, say: (String) -> Void) throws -> ([UInt8], String) {
        let found = spec == "auto"
            ? try newest(in: runDirectory, runID: runID, say: say)
            : try load(spec, say: say)
        guard let found else {
            say("--resume auto: no checkpoint in \(runDirectory); starting fresh")
            return ([], "")
        }
        say("resuming from \(found.point.path)")
        return ([UInt8](found.bytes), found.point.path)
    }
}
