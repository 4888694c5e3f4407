import TestSupport
import XCTest
@testable import Engine

/// The parameter arena: a network's backward-order layout and what its layers read and write
/// there, role-based initialisation, and slot lookup.
final class ParameterArenaTests: XCTestCase {
    // MARK: A small network

    struct SmallNetwork {
        let net: Network
        let stem: ValueID, bn: ValueID, conv: ValueID, pooled: ValueID
        static let batch = 4
    }

    /// stem conv3×3 (with bias) → BN-ReLU → BN-ReLU-conv3×3/2 → global pool → linear.
    static func makeNetwork(threads: Int = 1, seed: UInt64 = 3) -> SmallNetwork {
        var g = Graph(input: TensorShape(channels: 3, height: 6, width: 6))
        let stem = g.convolution([g.input], outChannels: 4, kernel: 3, bias: true, name: "stem")
        let bn = g.batchNorm([stem], relu: true, name: "bn1")
        let conv = g.convolution([bn], outChannels: 6, kernel: 3, stride: 2, preactivation: true, name: "conv2")
        let pooled = g.globalAveragePool(conv, name: "pool")
        g.linear(pooled, outFeatures: 5, name: "fc")
        let net = Network(graph: g, maxBatch: SmallNetwork.batch, pool: ComputePool(threads: threads), seed: seed)
        return SmallNetwork(net: net, stem: stem, bn: bn, conv: conv, pooled: pooled)
    }

    /// Fills the input, runs a training forward pass and the cross-entropy loss (which seeds the
    /// output gradient), and zeroes the parameter gradients; backward is left to the caller.
    static func forwardWithLoss(_ s: SmallNetwork) {
        let net = s.net, batch = SmallNetwork.batch
        var rng = TestRandom(seed: 401)
        fillUniform(net.context.view(net.graph.input), batch: batch, rng: &rng)
        net.forward(batch: batch, training: true)
        let labels: [Int32] = [0, 3, 1, 4]
        _ = labels.withUnsafeBufferPointer { net.loss(labels: $0.baseAddress!) }
        net.zeroParameterGradients()
    }

    func gradient(_ net: Network, _ slot: ParameterSlot) -> [Float] {
        Array(net.parameters.gradients!.buffer[slot.range])
    }

    // MARK: Layout

    func testNetworkArenaIsLaidOutInBackwardOrderWithoutGaps() {
        let s = Self.makeNetwork()
        let arena = s.net.parameters
        // Layers last to first, each layer's tensors in its declaration order.
        let expected: [(String, [Int])] = [
            ("fc.weight", [5, 6]), ("fc.bias", [5]),
            ("conv2.norm.weight", [4]), ("conv2.norm.bias", [4]), ("conv2.weight", [6, 4, 3, 3]),
            ("bn1.weight", [4]), ("bn1.bias", [4]),
            ("stem.weight", [4, 3, 3, 3]), ("stem.bias", [4]),
        ]
        XCTAssertEqual(arena.slots.map(\.declaration.name), expected.map(\.0))
        XCTAssertEqual(arena.slots.map(\.declaration.shape), expected.map(\.1))
        var offset = 0
        for slot in arena.slots {
            XCTAssertEqual(slot.offset, offset, "\(slot.declaration.name) is not right after its predecessor")
            offset += slot.declaration.count
        }
        XCTAssertEqual(arena.slots.first?.offset, 0)
        XCTAssertEqual(offset, arena.count)
        XCTAssertEqual(arena.count, s.net.graph.parameterCount)
        XCTAssertEqual(arena.count, 30 + 5 + 8 + 216 + 8 + 108 + 4)
        XCTAssertEqual(arena.gradients?.count, arena.count)

        // The same, derived from the layers: each layer's parameters are one contiguous run, and
        // the runs follow the layers in reverse.
        var cursor = 0
        for layer in s.net.graph.layers.reversed() {
            let run = arena.slots[cursor..<(cursor + layer.parameters.count)]
            XCTAssertEqual(run.map(\.declaration), layer.parameters, "\(layer.name)")
            cursor += layer.parameters.count
        }
        XCTAssertEqual(cursor, arena.slots.count)
    }

    func testNetworkBuffersAreLaidOutInForwardOrderWithoutGradients() {
        let s = Self.makeNetwork()
        let buffers = s.net.buffers
        XCTAssertNil(buffers.gradients)
        XCTAssertEqual(buffers.slots.map(\.declaration.name),
                       ["bn1.running_mean", "bn1.running_var", "conv2.norm.running_mean", "conv2.norm.running_var"])
        XCTAssertEqual(buffers.slots.map(\.offset), [0, 4, 8, 12])
        XCTAssertEqual(buffers.count, 16)
    }

    // MARK: What the layers read and write

    func testLastLayerGradientIsTheArenaPrefixAndMatchesLinearBackward() {
        let s = Self.makeNetwork(threads: 2)
        let net = s.net, batch = SmallNetwork.batch
        Self.forwardWithLoss(s)
        net.backward()
        let w = net.parameters.slot(named: "fc.weight")!, b = net.parameters.slot(named: "fc.bias")!
        XCTAssertEqual(w.range, 0..<30)
        XCTAssertEqual(b.range, 30..<35)
        // dW = dyᵀ·x and db = Σ dy from the pooled features and the loss gradient.
        let x = net.context.view(s.pooled).base, dy = net.context.gradient(net.graph.output).base
        let dw = gradient(net, w), db = gradient(net, b)
        for o in 0..<5 {
            var sb = 0.0
            for n in 0..<batch { sb += Double(dy[n * 5 + o]) }
            XCTAssertEqual(Double(db[o]), sb, accuracy: 1e-6, "fc.bias[\(o)]")
            for i in 0..<6 {
                var sw = 0.0
                for n in 0..<batch { sw += Double(dy[n * 5 + o]) * Double(x[n * 6 + i]) }
                XCTAssertEqual(Double(dw[o * 6 + i]), sw, accuracy: 1e-6, "fc.weight[\(o), \(i)]")
            }
        }
        XCTAssertTrue(dw.contains { $0 != 0 } && db.contains { $0 != 0 })
        // Every other tensor received a gradient in its own slot, except the stem's bias, whose
        // gradient is zero in exact arithmetic because a batch norm follows it.
        for slot in net.parameters.slots where slot.declaration.name != "stem.bias" {
            XCTAssertTrue(gradient(net, slot).contains { abs($0) > 1e-6 }, "\(slot.declaration.name) has no gradient")
        }
    }

    func testLastLayerBackwardAloneCompletesTheGradientPrefixAndTouchesNothingElse() {
        // The property the bucketed all-reduce relies on: once the last layer has run backward,
        // the arena prefix holding its gradient is final and the rest is still untouched.
        let s = Self.makeNetwork()
        let net = s.net
        Self.forwardWithLoss(s)
        net.graph.layers.last!.backward(net.context)
        let partial = net.parameters.gradients!.toArray()
        let prefix = net.parameters.slot(named: "fc.bias")!.range.upperBound
        XCTAssertEqual(prefix, 35)
        XCTAssertTrue(partial[0..<prefix].contains { $0 != 0 })
        XCTAssertEqual(Array(partial[prefix...]), [Float](repeating: 0, count: partial.count - prefix))

        net.zeroParameterGradients()
        net.backward()
        let full = net.parameters.gradients!.toArray()
        XCTAssertEqual(Array(full[0..<prefix]), Array(partial[0..<prefix]))
        XCTAssertTrue(full[prefix...].contains { $0 != 0 })
    }

    func testBatchNormRunningStatisticsAreWrittenToTheirOwnBufferSlots() {
        // From running mean 0, one training pass sets it to momentum × batch mean of the layer's input.
        let s = Self.makeNetwork()
        let net = s.net, batch = SmallNetwork.batch
        Self.forwardWithLoss(s)
        for (name, value) in [("bn1", s.stem), ("conv2.norm", s.bn)] {
            let slot = net.buffers.slot(named: name + ".running_mean")!
            let view = net.context.view(value)
            let plane = view.shape.planeSize
            for c in 0..<view.shape.channels {
                var sum = 0.0
                for n in 0..<batch { for i in 0..<plane { sum += Double(view.plane(n, c)[i]) } }
                let expected = Double(BatchNorm.momentum) * sum / Double(batch * plane)
                XCTAssertEqual(Double(net.buffers.values.pointer[slot.offset + c]), expected,
                               accuracy: 1e-6 + 1e-5 * abs(expected), "\(name).running_mean[\(c)]")
            }
        }
    }

    // MARK: Initialisation

    static let initDeclarations: [ParameterDeclaration] = [
        ParameterDeclaration(name: "a.weight", shape: [32, 32, 3, 3], role: .convolutionWeight(fanIn: 288)),
        ParameterDeclaration(name: "a.bias", shape: [32], role: .convolutionBias),
        ParameterDeclaration(name: "b.norm.weight", shape: [16], role: .normScale),
        ParameterDeclaration(name: "b.norm.bias", shape: [16], role: .normShift),
        ParameterDeclaration(name: "b.weight", shape: [64, 128, 1, 1], role: .convolutionWeight(fanIn: 128)),
        ParameterDeclaration(name: "fc.weight", shape: [10, 256], role: .linearWeight(fanIn: 256)),
        ParameterDeclaration(name: "fc.bias", shape: [10], role: .linearBias(fanIn: 256)),
        ParameterDeclaration(name: "b.norm.running_mean", shape: [16], role: .runningMean),
        ParameterDeclaration(name: "b.norm.running_var", shape: [16], role: .runningVariance),
    ]

    static func initializedArena(seed: UInt64, _ declarations: [ParameterDeclaration] = initDeclarations) -> ParameterArena {
        let arena = ParameterArena(declarations: declarations, withGradients: false)
        arena.initialize(seed: seed)
        return arena
    }

    func values(_ arena: ParameterArena, _ name: String) -> [Float] {
        Array(arena.values.buffer[arena.slot(named: name)!.range])
    }

    static func isRandom(_ role: ParameterRole) -> Bool {
        switch role {
        case .convolutionWeight, .linearWeight, .linearBias: return true
        default: return false
        }
    }

    func testInitializeIsDeterministicInTheSeed() {
        let a = Self.initializedArena(seed: 7), b = Self.initializedArena(seed: 7), c = Self.initializedArena(seed: 8)
        XCTAssertEqual(a.values.toArray(), b.values.toArray())
        for slot in a.slots {
            let name = slot.declaration.name
            if Self.isRandom(slot.declaration.role) {
                let x = values(a, name), y = values(c, name)
                let same = zip(x, y).filter { $0 == $1 }.count
                XCTAssertLessThan(same, max(2, x.count / 100), "\(name): seeds 7 and 8 agree on \(same) of \(x.count)")
            } else {
                XCTAssertEqual(values(a, name), values(c, name), "\(name) should not depend on the seed")
            }
        }
        // Re-initialising overwrites whatever training left behind.
        a.values.copy(from: [Float](repeating: 42, count: a.count))
        a.initialize(seed: 7)
        XCTAssertEqual(a.values.toArray(), b.values.toArray())
    }

    func testInitializeDrawsDependOnTensorNameNotOnPosition() {
        let all = Self.initializedArena(seed: 11)
        let fc = Self.initDeclarations.first { $0.name == "fc.weight" }!
        let alone = Self.initializedArena(seed: 11, [fc])
        XCTAssertEqual(values(alone, "fc.weight"), values(all, "fc.weight"))
        // Two tensors of identical shape and role but different names get different values.
        let twins = Self.initializedArena(seed: 11, [
            ParameterDeclaration(name: "x.weight", shape: [8, 4, 3, 3], role: .convolutionWeight(fanIn: 36)),
            ParameterDeclaration(name: "y.weight", shape: [8, 4, 3, 3], role: .convolutionWeight(fanIn: 36)),
        ])
        XCTAssertNotEqual(values(twins, "x.weight"), values(twins, "y.weight"))
    }

    func testConvolutionWeightsAreHeNormalWithFanIn() {
        let arena = Self.initializedArena(seed: 5)
        for (name, fanIn) in [("a.weight", 288), ("b.weight", 128)] {
            let v = values(arena, name).map(Double.init)
            XCTAssertGreaterThanOrEqual(v.count, 5000)
            let n = Double(v.count)
            let mean = v.reduce(0, +) / n
            let std = (v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)).squareRoot()
            let target = (2 / Double(fanIn)).squareRoot()
            XCTAssertEqual(std, target, accuracy: 0.1 * target, "\(name) std")
            XCTAssertEqual(mean, 0, accuracy: 0.05 * target, "\(name) mean")
            // Normal, not uniform of the same spread: ~68.3 % within one σ (a uniform has 57.7 %).
            let within = Double(v.filter { abs($0) < target }.count) / n
            XCTAssertEqual(within, 0.683, accuracy: 0.03, "\(name) share within one σ")
        }
    }

    func testLinearParametersAreUniformWithinInverseSqrtFanIn() {
        let arena = Self.initializedArena(seed: 5)
        let bound: Float = 1 / Float(256).squareRoot()
        let w = values(arena, "fc.weight"), b = values(arena, "fc.bias")
        XCTAssertTrue(w.allSatisfy { abs($0) <= bound }, "fc.weight leaves ±\(bound): \(w.map(abs).max()!)")
        XCTAssertTrue(b.allSatisfy { abs($0) <= bound }, "fc.bias leaves ±\(bound): \(b.map(abs).max()!)")
        XCTAssertGreaterThan(w.map(abs).max()!, 0.95 * bound, "fc.weight does not fill ±1/√fanIn")
        XCTAssertEqual(Set(b).count, b.count, "fc.bias is not random")
        let n = Double(w.count)
        let mean = w.reduce(0.0) { $0 + Double($1) } / n
        let std = (w.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / (n - 1)).squareRoot()
        XCTAssertEqual(mean, 0, accuracy: 0.05 * Double(bound))
        XCTAssertEqual(std, Double(bound) / 3.0.squareRoot(), accuracy: 0.05 * Double(bound))
    }

    func testDeterministicRolesInitialiseToZeroOrOne() {
        let arena = ParameterArena(declarations: Self.initDeclarations, withGradients: false)
        arena.values.copy(from: [Float](repeating: -3, count: arena.count))
        arena.initialize(seed: 1)
        XCTAssertEqual(values(arena, "a.bias"), [Float](repeating: 0, count: 32))
        XCTAssertEqual(values(arena, "b.norm.weight"), [Float](repeating: 1, count: 16))
        XCTAssertEqual(values(arena, "b.norm.bias"), [Float](repeating: 0, count: 16))
        XCTAssertEqual(values(arena, "b.norm.running_mean"), [Float](repeating: 0, count: 16))
        XCTAssertEqual(values(arena, "b.norm.running_var"), [Float](repeating: 1, count: 16))
    }

    func testNetworkStartsWithUnitScaleZeroShiftAndUnitRunningVariance() {
        let s = Self.makeNetwork()
        let net = s.net
        for name in ["bn1", "conv2.norm"] {
            XCTAssertEqual(values(net.parameters, name + ".weight"), [Float](repeating: 1, count: 4), name)
            XCTAssertEqual(values(net.parameters, name + ".bias"), [Float](repeating: 0, count: 4), name)
            XCTAssertEqual(values(net.buffers, name + ".running_mean"), [Float](repeating: 0, count: 4), name)
            XCTAssertEqual(values(net.buffers, name + ".running_var"), [Float](repeating: 1, count: 4), name)
        }
        XCTAssertEqual(values(net.parameters, "stem.bias"), [Float](repeating: 0, count: 4))
        let bound = 1 / Float(6).squareRoot()
        XCTAssertTrue(values(net.parameters, "fc.weight").allSatisfy { abs($0) <= bound && $0 != 0 })
        // The network seed is the arena seed.
        XCTAssertEqual(net.parameters.values.toArray(), Self.makeNetwork(seed: 3).net.parameters.values.toArray())
        XCTAssertNotEqual(net.parameters.values.toArray(), Self.makeNetwork(seed: 4).net.parameters.values.toArray())
    }

    // MARK: Slots

    func testSlotNamesAreUniqueAndSlotNamedFindsEach() {
        let s = Self.makeNetwork()
        for arena in [s.net.parameters, s.net.buffers, Self.initializedArena(seed: 1)] {
            let names = arena.slots.map(\.declaration.name)
            XCTAssertEqual(Set(names).count, names.count, "duplicate names in \(names)")
            for slot in arena.slots {
                XCTAssertEqual(arena.slot(named: slot.declaration.name), slot)
            }
        }
        let parameters = s.net.parameters
        XCTAssertNil(parameters.slot(named: "fc"))
        XCTAssertNil(parameters.slot(named: "fc.weigh"))
        XCTAssertNil(parameters.slot(named: "bn1.running_mean"), "buffers are not parameters")
        XCTAssertEqual(parameters.slot(named: "conv2.weight")?.declaration.role, .convolutionWeight(fanIn: 36))
    }
}
