/// Why training stopped or could not start; each message says what to do about it.
public enum TrainingError: Error, CustomStringConvertible, Equatable {
    /// A flag's value is out of range.
    case invalidOption(flag: String, value: String, rule: String)
    /// The loss or the gradient became NaN or infinite.
    case nonFinite(what: String, epoch: Int, step: Int)
    /// Evaluating `what` gave a non-finite loss: the weights overflow or are NaN.
    case nonFiniteOutput(what: String)
    /// The run directory cannot be created or written.
    case runDirectory(path: String, reason: String)
    /// The `--init-from` weights cannot be read or do not fit the model.
    case initialWeights(path: String, reason: String)

    public var description: String {
        switch self {
        case .invalidOption(let flag, let value, let rule):
            return "\(flag) \(value): \(rule)"
        case .nonFinite(let what, let epoch, let step):
            return "the \(what) became NaN or infinite at epoch \(epoch + 1), step \(step); training stopped "
                + "instead of continuing on NaN. Lower --lr, add --warmup-epochs or --clip-grad-norm, and check the data."
        case .nonFiniteOutput(let what):
            return "\(what) give a NaN or infinite loss on the test set: the network's outputs overflow, so the weights "
                + "are unusable (a diverged run, or a damaged or edited file)"
        case .runDirectory(let path, let reason):
            return "cannot use run directory \(path): \(reason)"
        case .initialWeights(let path, let reason):
            return "--init-from \(path): \(reason). Give a safetensors file of this model's tensor names and shapes "
                + "(ddptrain export writes one; Scripts/ddptrain_torch.py defines them for PyTorch) or a checkpoint of the same model"
        }
    }
}
