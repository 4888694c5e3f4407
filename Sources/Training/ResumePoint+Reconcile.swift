import Foundation

/// The configuration a resumed session runs with: the checkpoint's, with what the session may
/// set for itself, and the flags checked against the rest.
extension ResumePoint {
    /// The configuration to resume with: the checkpoint's, with the node-local and performance
    /// settings of `requested`, and the per-rank batch re-derived for `worldSize` ranks so that
    /// the global batch, and with it the sample order and schedule, stays the same.
    public func reconcile(_ requested: TrainingConfiguration, worldSize: Int,
                          explicitBatchSize: Int?) throws -> TrainingConfiguration {
        let saved = state.configuration
        var c = saved
        c.takeSessionSettings(from: requested)
        let global = state.globalBatchSize
        guard global % worldSize == 0 else {
            throw ResumeError.worldSizeMismatch(path: path, globalBatch: global, savedRanks: state.worldSize, ranks: worldSize)
        }
        c.batchSize = global / worldSize
        c.worldSize = worldSize
        if let explicitBatchSize, explicitBatchSize != c.batchSize {
            throw ResumeError.contradictingFlags(path: path, fields: [
                "--batch-size \(explicitBatchSize) (the checkpoint's global batch \(global) over \(worldSize) rank(s) needs \(c.batchSize))",
            ])
        }
        // Anything else the flags set must agree with the checkpoint.
        var mine = requested
        mine.batchSize = c.batchSize
        mine.worldSize = c.worldSize
        mine.takeSessionSettings(from: c)
        mine.checkpoint = c.checkpoint
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let differing = ConfigurationDifference.fields(try encoder.encode(c.sharedFields), try encoder.encode(mine.sharedFields))
        guard differing.isEmpty else { throw ResumeError.contradictingFlags(path: path, fields: differing) }
        return c
    }
}
