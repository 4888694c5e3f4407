/// One line of the optional per-step log (`--step-log`): the global step, its learning rate and
/// the global batch's mean loss.
struct StepRecord: Codable {
    /// The optimizer step, counted from the start of the run.
    var step: Int
    /// The learning rate the step used.
    var lr: Double
    /// Mean training loss over the global batch.
    var loss: Double
}
