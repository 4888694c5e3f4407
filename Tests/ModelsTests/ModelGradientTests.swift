@testable import Engine
@testable import Models
import XCTest

/// A finite-difference check through whole tiny models of each family: every parameter tensor
/// (a few elements of each) gets the gradient the loss implies.
final class ModelGradientTests: XCTestCase {
    /// Central-difference step.
    static let step: Float = 1e-2
    /// Agreement bound: |analytic − numeric| ≤ relative · max(|analytic|, |numeric|) + absolute.
    /// Float32 forward passes with a Double loss leave about 1e-4 of noise in the quotient at this step, and with every ReLU active the
    /// network is smooth, so the step can be this large.
    static let relative = 2e-2, absolute = 3e-4

    func tinyConfigurations() throws -> [(String, ModelConfiguration)] {
        var sparse = ModelConfiguration(family: .sparsenet, depth: 13, growthRate: 4, stemChannels: 8)
        var dense = ModelConfiguration(family: .densenet, depth: 13, growthRate: 4, stemChannels: 8)
        var denseBC = ModelConfiguration(family: .densenet, depth: 22, growthRate: 4, bottleneck: true,
                                         compression: 0.5, stemChannels: 8)
        var sparseBC = ModelConfiguration(family: .sparsenet, depth: 22, growthRate: 4, bottleneck: true,
                                          compression: 0.5, stemChannels: 8)
        var resnet = ModelConfiguration(family: .resnet, depth: 8, stemChannels: 4)
        var seResNet = resnet, seDenseBC = denseBC
        seResNet.seRatio = 2
        seDenseBC.seRatio = 2
        // Separable: ResNet's stride-2 depthwise convolutions, and a dense family's over concatenations.
        var sepResNet = resnet, sepSparse = sparse
        sepResNet.separable = true
        sepSparse.separable = true
        var configurations = [("sparsenet", sparse), ("densenet", dense), ("densenet-bc", denseBC),
                              ("sparsenet-bc", sparseBC), ("resnet", resnet), ("se-resnet", seResNet), ("se-densenet-bc", seDenseBC),
                              ("sep-resnet", sepResNet), ("sep-sparsenet", sepSparse)]
        for i in configurations.indices {
            configurations[i].1.inputHeight = 8
            configurations[i].1.inputWidth = 8
        }
        sparse.classes = 10; dense.classes = 10; denseBC.classes = 10; sparseBC.classes = 10; resnet.classes = 10
        return configurations
    }

    func testWholeTinyModelsOfEveryFamilyHaveCorrectGradients() throws {
        for (family, configuration) in try tinyConfigurations() {
            let graph = try ModelBuilder.graph(for: configuration)
            let batch = 3
            let network = Network(graph: graph, maxBatch: batch, pool: ComputePool(threads: 2), seed: 11)
            let inputCount = batch * graph.shape(graph.input).elementCount
            for i in 0..<inputCount { network.input[i] = RandomStream.normal(seed: 5, index: UInt64(i)) }
            // Perturb every parameter so no gradient vanishes by symmetry, and shift every batch norm's
            // β to about 4 so that every ReLU behind one is active: the network is then smooth, and a
            // central difference measures its derivative instead of the ReLU kinks it crosses (tiny
            // networks with batch 3 have kinks near any point). ReLU masks are checked kernel by
            // kernel in EngineTests; this test checks that whole models are wired and chained right.
            let values = network.parameters.values.pointer
            for slot in network.parameters.slots {
                let shift: Float = slot.declaration.role == .normShift ? 4 : 0
                for i in slot.range { values[i] += shift + 0.1 * RandomStream.normal(seed: 9, index: UInt64(i)) }
            }
            let labels: [Int32] = [1, 7, 3]
            func loss() -> Double {
                network.forward(batch: batch, training: true)
                return labels.withUnsafeBufferPointer { network.loss(labels: $0.baseAddress!).lossSum } / Double(batch)
            }
            _ = loss()
            network.zeroParameterGradients()
            network.backward()
            let gradients = network.parameters.gradients!.toArray()

            var checked = 0, significant = 0
            for slot in network.parameters.slots {
                let n = slot.declaration.count
                for pick in 0..<3 {
                    let i = slot.offset + Int(RandomStream.bits(seed: 3, index: UInt64(slot.offset * 3 + pick)) % UInt64(n))
                    let saved = values[i]
                    values[i] = saved + Self.step
                    let plus = loss()
                    values[i] = saved - Self.step
                    let minus = loss()
                    values[i] = saved
                    let numeric = (plus - minus) / (2 * Double(Self.step))
                    let analytic = Double(gradients[i])
                    XCTAssertLessThanOrEqual(abs(analytic - numeric),
                                             Self.relative * max(abs(analytic), abs(numeric)) + Self.absolute,
                                             "\(family) \(slot.declaration.name)[\(i - slot.offset)]: analytic \(analytic), numeric \(numeric)")
                    checked += 1
                    if abs(analytic) > 3 * Self.absolute { significant += 1 }
                }
            }
            // Guard against a vacuous pass: most sampled gradients must be well above the noise floor.
            XCTAssertGreaterThan(Double(significant) / Double(checked), 0.5, "\(family): gradients too small to check")
        }
    }

    /// Activation gradients are not zeroed between steps: each layer overwrites an input's
    /// gradient on the backward pass's first write into it. A network that already ran a step on
    /// other data, with NaN then written into every activation gradient, must back-propagate
    /// bitwise the gradients of a fresh network with the same parameters.
    func testBackwardIgnoresWhateverTheActivationGradientsHeldBefore() throws {
        var configurations = try tinyConfigurations()
        var dropout = configurations[1].1
        dropout.dropout = 0.2
        configurations.append(("densenet with dropout", dropout))
        for (family, configuration) in configurations {
            // Each network binds its graph's layers to its own storage, so each gets its own graph.
            let graph = try ModelBuilder.graph(for: configuration)
            let batch = 3, labels: [Int32] = [2, 0, 9]
            let fresh = Network(graph: graph, maxBatch: batch, pool: ComputePool(threads: 2), seed: 4)
            let used = Network(graph: try ModelBuilder.graph(for: configuration), maxBatch: batch,
                               pool: ComputePool(threads: 2), seed: 4)
            let inputCount = batch * graph.shape(graph.input).elementCount
            func step(_ network: Network, inputSeed: UInt64) -> [Float] {
                for i in 0..<inputCount { network.input[i] = RandomStream.normal(seed: inputSeed, index: UInt64(i)) }
                network.forward(batch: batch, training: true)
                _ = labels.withUnsafeBufferPointer { network.loss(labels: $0.baseAddress!) }
                network.zeroParameterGradients()
                network.backward()
                return network.parameters.gradients!.toArray()
            }
            _ = step(used, inputSeed: 8)
            // Back to the fresh network's state: parameters, running statistics, dropout step.
            used.parameters.values.pointer.update(from: fresh.parameters.values.pointer, count: fresh.parameters.count)
            used.buffers.values.pointer.update(from: fresh.buffers.values.pointer, count: fresh.buffers.count)
            used.context.step = fresh.context.step
            for buffer in used.context.gradients { buffer.pointer.update(repeating: .nan, count: buffer.count) }
            let expected = step(fresh, inputSeed: 5), actual = step(used, inputSeed: 5)
            XCTAssertFalse(expected.contains { !$0.isFinite }, "\(family): the fresh network's gradients are not finite")
            let differing = zip(expected, actual).filter { $0.0.bitPattern != $0.1.bitPattern }.count
            XCTAssertEqual(differing, 0, "\(family): \(differing) of \(expected.count) parameter gradients differ")
        }
    }
}
