/// The three architecture families ddptrain trains; each one's definition, with its paper, is in
/// its own file (`SparseNet.swift`, `DenseNet.swift`, `ResNet.swift`).
public enum ModelFamily: String, Codable, Hashable, Sendable, CaseIterable {
    /// Layer i aggregates the outputs 1, 2, 4, 8, … layers back.
    case sparsenet
    /// Layer i aggregates every earlier output of its block.
    case densenet
    /// Basic blocks with identity (option-A) shortcuts.
    case resnet
}
