import Foundation

/// The configuration a resumed session runs with: the checkpoint's, with what the session may
/// set for itself, and the flags checked against the rest.
extension ResumePoint {
    /// The configuration to resume with: the checkpoint's, with the node-local and performance
    /// settings of `requested`, and the per-rank batch re-derived for `worldSize` ranks so that
    /// the global batch, and with it the sample order and schedule, stays the same. Any other
    /// field the flags set differently is refused, naming it.
    public func reconcile(_ requested: TrainingConfiguration, worldSize: Int,
                          explicitBatchSize: Int?) throws -> TrainingConfiguration {
        try reconcile(requested, worldSize: worldSize, explicitBatchSize: explicitBatchSize, allowingChanges: false).configuration
    }

    /// As `reconcile`, but a deliberate continuation (`--continue-with-changes`): the recipe
    /// fields the flags change (`epochs`, the schedule, the optimizer, label smoothing, gradient
    /// clipping, augmentation) take the flags' values, the new schedule continuing from the saved
    /// step, and each change comes back as `field old → new`. The model, the data, the seed, the
    /// global batch and the batch-norm mode still must not change.
    public func reconcileWithChanges(_ requested: TrainingConfiguration, worldSize: Int,
                                     explicitBatchSize: Int?) throws -> (configuration: TrainingConfiguration, changes: [String]) {
        try reconcile(requested, worldSize: worldSize, explicitBatchSize: explicitBatchSize, allowingChanges: true)
    }

    /// Fields (dotted JSON paths, or their prefixes) a deliberate continuation may change.
    static let changeableFields = ["epochs", "schedule.", "optimizer.", "labelSmoothing", "gradientClipNorm", "augmentation."]

    private func reconcile(_ requested: TrainingConfiguration, worldSize: Int, explicitBatchSize: Int?,
                           allowingChanges: Bool) throws -> (configuration: TrainingConfiguration, changes: [String]) {
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
        // Anything else the flags set must agree with the checkpoint (or, continuing with
        // changes, differ only in the recipe).
        var mine = requested
        mine.batchSize = c.batchSize
        mine.worldSize = c.worldSize
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
        let changes = differing.map { "\($0) \(ConfigurationDifference.value(at: $0, in: old)) → \(ConfigurationDifference.value(at: $0, in: new))" }
        return (c, changes)
    }
}
