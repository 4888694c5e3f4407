import Foundation

/// The configuration a resumed session runs with: the checkpoint's, with what the session may
/// set for itself, and the flags checked against the rest.
extension ResumePoint {
    /// The configuration to resume with: the checkpoint's, with the node-local and performance
    /// settings of `requested`, and the per-rank batch re-derived for `worldSize` ranks so that
    /// the global batch, and with it the sample order and schedule, stays the same; batch-norm
    /// groups (`group:K`) are re-derived likewise, keeping the number of groups so that each
    /// normalises the same samples (`resumedBatchNormSync`). Any other field the flags set
    /// differently is refused, naming it; so are `--batch-size` and `--bn-sync` given explicitly
    /// (`explicitBatchSize`, `explicitBatchNormSync`) with other values than the re-derived ones.
    public func reconcile(_ requested: TrainingConfiguration, worldSize: Int, explicitBatchSize: Int?,
                          explicitBatchNormSync: BatchNormSync? = nil) throws -> TrainingConfiguration {
        try reconcile(requested, worldSize: worldSize, explicitBatchSize: explicitBatchSize,
                      explicitBatchNormSync: explicitBatchNormSync, allowingChanges: false).configuration
    }

    /// As `reconcile`, but a deliberate continuation (`--continue-with-changes`): the recipe
    /// fields the flags change (`epochs`, the schedule, the optimizer, label smoothing, gradient
    /// clipping, augmentation, the gradient exchange's number format) take the flags' values, the new schedule continuing from the saved
    /// step, and each change comes back as `field old → new`. The model, the data, the seed, the
    /// global batch and the batch-norm mode still must not change.
    public func reconcileWithChanges(_ requested: TrainingConfiguration, worldSize: Int, explicitBatchSize: Int?,
                                     explicitBatchNormSync: BatchNormSync? = nil) throws -> (configuration: TrainingConfiguration, changes: [String]) {
        try reconcile(requested, worldSize: worldSize, explicitBatchSize: explicitBatchSize,
                      explicitBatchNormSync: explicitBatchNormSync, allowingChanges: true)
    }

    /// The checkpoint's batch-norm mode on `worldSize` ranks. `group:K` keeps its groups: the
    /// N / K groups of the saved N ranks stay, each now of `worldSize` / (N / K) ranks. A rank's
    /// share of a global batch of L samples is [⌊L·r/N⌋, ⌊L·(r+1)/N⌋), so group g of K ranks
    /// normalises [⌊L·g/G⌋, ⌊L·(g+1)/G⌋) with G = N / K groups, whatever N: the same samples, and
    /// the same statistics up to float summation order. The other modes stay as they are (`node`
    /// follows whichever hosts the session runs on, `local` each rank's new share).
    ///
    /// - Throws: `ResumeError.batchNormGroups` when `worldSize` is not a multiple of the groups.
    public func resumedBatchNormSync(worldSize: Int) throws -> BatchNormSync {
        let saved = state.configuration.batchNormSync
        guard let k = saved.ranksPerGroup, worldSize != state.worldSize else { return saved }
        let groups = state.worldSize / k
        guard groups >= 1, state.worldSize % k == 0, worldSize % groups == 0 else {
            throw ResumeError.batchNormGroups(path: path, ranksPerGroup: k, savedRanks: state.worldSize, ranks: worldSize)
        }
        return .group(ranksPerGroup: worldSize / groups)
    }

    /// Fields (dotted JSON paths, or their prefixes) a deliberate continuation may change.
    static let changeableFields = ["epochs", "schedule.", "optimizer.", "labelSmoothing", "gradientClipNorm", "augmentation.",
                                   "allReduceDataType"]

    private func reconcile(_ requested: TrainingConfiguration, worldSize: Int, explicitBatchSize: Int?,
                           explicitBatchNormSync: BatchNormSync?,
                           allowingChanges: Bool) throws -> (configuration: TrainingConfiguration, changes: [String]) {
        let saved = state.configuration
        var c = saved
        c.takeSessionSettings(from: requested)
        // The global batch stays, and so do the micro-batches per step (`accumulateSteps` is the
        // computation's: it decides what a batch norm normalises).
        let global = state.globalBatchSize, steps = saved.accumulationSteps
        guard global % (worldSize * steps) == 0 else {
            throw ResumeError.worldSizeMismatch(path: path, globalBatch: global, savedRanks: state.worldSize, ranks: worldSize,
                                                accumulateSteps: steps)
        }
        c.batchSize = global / (worldSize * steps)
        c.worldSize = worldSize
        if let explicitBatchSize, explicitBatchSize != c.batchSize {
            throw ResumeError.contradictingFlags(path: path, fields: [
                "--batch-size \(explicitBatchSize) (the checkpoint's global batch \(global) over \(worldSize) rank(s)"
                    + (steps > 1 ? " × \(steps) accumulated micro-batches" : "") + " needs \(c.batchSize))",
            ])
        }
        c.batchNormSync = try resumedBatchNormSync(worldSize: worldSize)
        // A mode the flags change is refused below, naming the field; a re-derived group size is said here.
        if let explicitBatchNormSync, explicitBatchNormSync != c.batchNormSync, c.batchNormSync != saved.batchNormSync {
            throw ResumeError.contradictingFlags(path: path, fields: [
                "--bn-sync \(explicitBatchNormSync.rawValue) (the checkpoint's \(saved.batchNormSync.rawValue) on \(state.worldSize) "
                    + "rank(s) continues on \(worldSize) as \(c.batchNormSync.rawValue), normalising the same groups of samples)",
            ])
        }
        // Anything else the flags set must agree with the checkpoint (or, continuing with
        // changes, differ only in the recipe).
        var mine = requested
        mine.batchSize = c.batchSize
        mine.worldSize = c.worldSize
        // The saved mode, not set by a flag, is the re-derived one on the new ranks.
        if requested.batchNormSync == saved.batchNormSync { mine.batchNormSync = c.batchNormSync }
        mine.takeSessionSettings(from: c)
        mine.checkpoint = c.checkpoint
        mine.schedule.epochs = mine.epochs
        var theirs = c
        theirs.schedule.epochs = theirs.epochs
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let old = try encoder.encode(theirs.sharedFields), new = try encoder.encode(mine.sharedFields)
        let differing = ConfigurationDifference.fields(old, new).filter { $0 != "schedule.epochs" }
        guard !differing.isEmpty else { return (c, []) }
        let fixed = differing.filter { field in !Self.changeableFields.contains { field == $0 || ($0.hasSuffix(".") && field.hasPrefix($0)) } }
        guard allowingChanges, fixed.isEmpty else { throw ResumeError.contradictingFlags(path: path, fields: allowingChanges ? fixed : differing) }
        guard requested.epochs > state.epoch || (requested.epochs == state.epoch && state.batchInEpoch == 0) else {
            throw ResumeError.contradictingFlags(path: path, fields: [
                "epochs \(requested.epochs) (the checkpoint has completed \(state.epoch) epoch(s)\(state.batchInEpoch > 0 ? " and part of the next" : ""))",
            ])
        }
        c.epochs = requested.epochs
        c.schedule = requested.schedule
        c.schedule.step = state.schedule.step
        c.schedule.stepsPerEpoch = state.schedule.stepsPerEpoch
        c.schedule.epochs = requested.epochs
        c.optimizer = requested.optimizer
        c.labelSmoothing = requested.labelSmoothing
        c.gradientClipNorm = requested.gradientClipNorm
        c.augmentation = requested.augmentation
        c.allReduceDataType = requested.allReduceDataType
        let changes = differing.map { "\($0) \(ConfigurationDifference.value(at: $0, in: old)) → \(ConfigurationDifference.value(at: $0, in: new))" }
        return (c, changes)
    }
}
