/// The three architecture families ddptrain trains.
public enum ModelFamily: String, Codable, Hashable, Sendable, CaseIterable {
    /// Zhu et al. 2018: layer i aggregates the outputs 1, 2, 4, 8, … layers back.
    case sparsenet
    /// Huang et al. 2017: layer i aggregates every earlier output of its block.
    case densenet
    /// He et al. 2016, CIFAR variant with option-A shortcuts.
    case resnet
}
