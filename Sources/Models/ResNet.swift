/// ResNet for CIFAR: K. He, X. Zhang, S. Ren and J. Sun, "Deep Residual Learning for Image
/// Recognition", CVPR 2016, section 4.2. A 3×3 stem of 16 channels, three stages of n basic
/// blocks (16, 32 and 64 channels; the first block of stages 2 and 3 has stride 2), global
/// average pooling and a linear classifier: depth 6n + 2 (resnet-20, -56, -110). The shortcut
/// is the parameter-free option A (subsample, zero-pad the new channels), as in the widely used
/// PyTorch CIFAR ResNet.
enum ResNet: ArchitectureFamily {
    static func configuration(bc: Bool, numbers: Int, number: (Int, String, Int) throws -> Int) throws -> ModelConfiguration? {
        guard !bc, numbers == 1 else { return nil }
        return ModelConfiguration(family: .resnet, depth: try number(0, "depth", ModelConfiguration.maximumDepth), stemChannels: 16)
    }

    static func name(_ c: ModelConfiguration) -> String { "resnet-\(c.depth)" }

    static func unitsPerStage(_ c: ModelConfiguration) -> Int { (max(c.depth, 2) - 2) / 6 }

    static func checkSettings(_ c: ModelConfiguration) throws {
        guard c.depth >= 8, (c.depth - 2) % 6 == 0 else {
            throw ModelError.invalidDepth(family: .resnet, depth: c.depth, rule: "ResNet depth must be 6n+2 with n ≥ 1 (20, 56, 110)")
        }
        // A saved configuration has a growth rate, which a ResNet ignores; the others would change nothing.
        guard c.dropout == 0 else { throw UnusedSetting.dropout.error(naming: "dropout \(c.dropout)") }
        guard !c.bottleneck else { throw UnusedSetting.bottleneck.error(naming: "bottleneck") }
        guard c.compression == 1 else { throw UnusedSetting.compression.error(naming: "compression \(c.compression)") }
    }

    static func refuseUnused(_ overrides: ModelOverrides) throws {
        let given: [(UnusedSetting, String?)] = [
            (.growthRate, overrides.growthRate.map { _ in "--growth-rate" }),
            (.bottleneck, overrides.bottleneck.map { $0 ? "--bottleneck" : "--no-bottleneck" }),
            (.compression, overrides.compression.map { _ in "--compression" }),
            (.dropout, overrides.dropout.map { _ in "--dropout" }),
        ]
        for case let (setting, flag?) in given { throw setting.error(naming: flag) }
    }

    static func describe<G: ModelGraph>(_ g: inout G, _ c: ModelConfiguration) throws {
        let stem = try g.convolution([g.input], outChannels: c.stemChannels, kernel: 3, stride: 1, preactivation: false,
                                     name: "stem.conv")
        var x = try g.batchNorm([stem], relu: true, name: "stem.norm")
        var channels = c.stemChannels
        for stage in 1...3 {
            for block in 1...unitsPerStage(c) {
                let prefix = "stage\(stage).block\(block)"
                let stride = (stage > 1 && block == 1) ? 2 : 1
                let c1 = try g.convolution3x3([x], c, outChannels: channels, stride: stride, preactivation: false,
                                              name: prefix + ".conv1")
                // conv2's fused pre-activation is the block's first BN + ReLU.
                let c2 = try g.convolution3x3([c1], c, outChannels: channels, stride: 1, preactivation: true,
                                              name: prefix + ".conv2")
                // SE-ResNet: the unit scales the branch after its last batch norm, before the sum.
                // Without it, the batch norm and the sum are one layer.
                if let hidden = c.squeezeExcitationHidden(channels: channels) {
                    let b2 = try g.batchNorm([c2], relu: false, name: prefix + ".norm2")
                    let se = try g.squeezeExcitation(b2, hidden: hidden, name: prefix + ".se")
                    x = try g.residual(se, shortcut: x, relu: true, name: prefix + ".add")
                } else {
                    x = try g.normalizedResidual(c2, norm: prefix + ".norm2", shortcut: x, relu: true, name: prefix + ".add")
                }
            }
            channels *= 2
        }
        let p = try g.globalAveragePool(x, name: "head.pool")
        _ = try g.linear(p, outFeatures: c.classes, name: "head.fc")
    }

    /// The settings only DenseNet and SparseNet use, and why a ResNet has no use for each.
    enum UnusedSetting {
        case growthRate, bottleneck, compression, dropout

        /// Why a ResNet does not use the setting.
        var reason: String {
            switch self {
            case .growthRate: return "ResNet has no dense layers to grow (its width is set by --stem-channels)"
            case .bottleneck: return "ResNet has no dense layers to put a 1×1 bottleneck in"
            case .compression: return "ResNet has no transitions to compress"
            case .dropout: return "ResNet has no dense layers to apply dropout after"
            }
        }

        /// The error refusing the setting, `setting` naming it as given (a flag, or a name and value).
        func error(naming setting: String) -> ModelError {
            .unusedSetting(family: .resnet, setting: setting, reason: reason)
        }
    }
}
