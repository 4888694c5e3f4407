import Checkpoint
import Engine

/// The tensors of a checkpoint and their names: every parameter and batch-norm buffer under its
/// own name (sections `parameters` and `buffers`), and each parameter's SGD momentum as
/// `<name>.momentum_buffer` (section `optimizer`). Saving and resuming both go through this type,
/// so the naming lives in one place.
enum CheckpointTensors {
    /// Suffix of the optimizer's momentum tensors.
    static let momentumSuffix = ".momentum_buffer"

    /// Copies of every parameter and buffer of `network`, and of the momentum in `momentum` (laid
    /// out as the parameters are) when it is given.
    static func snapshot(of network: Network, momentum: UnsafeMutablePointer<Float>?) -> [NamedTensor] {
        var tensors = copies(network.parameters, network.parameters.values.pointer, section: "parameters", suffix: "")
            + copies(network.buffers, network.buffers.values.pointer, section: "buffers", suffix: "")
        if let momentum { tensors += copies(network.parameters, momentum, section: "optimizer", suffix: momentumSuffix) }
        return tensors
    }

    /// Copies the parameters and buffers among `tensors` into `network`, and the momentum into
    /// `momentum` when it is given. A missing tensor or a different shape is an error naming the
    /// tensor and the checkpoint at `path`.
    static func restore(_ tensors: [NamedTensor], from path: String, into network: Network,
                        momentum: UnsafeMutablePointer<Float>?) throws(ResumeError) {
        let byName = Dictionary(tensors.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        try fill(network.parameters, network.parameters.values.pointer, suffix: "", from: byName, path: path)
        try fill(network.buffers, network.buffers.values.pointer, suffix: "", from: byName, path: path)
        if let momentum { try fill(network.parameters, momentum, suffix: momentumSuffix, from: byName, path: path) }
    }

    /// One tensor a slot of `arena`, named `<slot name><suffix>`, copied from `values` at the slot's offset.
    private static func copies(_ arena: ParameterArena, _ values: UnsafeMutablePointer<Float>, section: String,
                               suffix: String) -> [NamedTensor] {
        arena.slots.map { slot in
            NamedTensor(name: slot.declaration.name + suffix, shape: slot.declaration.shape, section: section,
                        values: Array(UnsafeBufferPointer(start: values + slot.offset, count: slot.declaration.count)))
        }
    }

    /// Copies the tensor named `<slot name><suffix>` of every slot of `arena` to `target` at the slot's offset.
    private static func fill(_ arena: ParameterArena, _ target: UnsafeMutablePointer<Float>, suffix: String,
                             from byName: [String: NamedTensor], path: String) throws(ResumeError) {
        for slot in arena.slots {
            let name = slot.declaration.name + suffix
            guard let t = byName[name] else { throw .tensorMismatch(path: path, name: name, reason: "is missing") }
            guard t.shape == slot.declaration.shape, t.values.count == slot.declaration.count else {
                throw .tensorMismatch(path: path, name: name,
                                      reason: "has shape \(t.shape) but the model needs \(slot.declaration.shape)")
            }
            t.values.withUnsafeBufferPointer { (target + slot.offset).update(from: $0.baseAddress!, count: t.values.count) }
        }
    }
}
