import TestSupport
import XCTest
@testable import Engine

/// The optimizer: Nesterov and plain momentum against an independent Double implementation of
/// PyTorch's `torch.optim.SGD` update, which roles weight decay skips, and independence from the
/// thread count.
final class SGDTests: XCTestCase {
    // MARK: Reference

    /// `torch.optim.SGD` (dampening 0) written out in Double, one element at a time:
    /// `g ← g + λp`; `buf ← g` on the first step, `buf ← μ·buf + g` afterwards;
    /// `p ← p − lr·(g + μ·buf)` (Nesterov) or `p ← p − lr·buf`.
    struct ReferenceSGD {
        let momentum: Double
        let nesterov: Bool
        /// λ per element (0 where the element is not decayed).
        let decay: [Double]
        var buffer: [Double]?

        mutating func step(_ p: inout [Double], gradient: [Double], learningRate lr: Double) {
            var g = gradient
            for i in g.indices { g[i] += decay[i] * p[i] }
            if var buf = buffer {
                for i in buf.indices { buf[i] = momentum * buf[i] + g[i] }
                buffer = buf
            } else {
                buffer = g
            }
            let buf = buffer!
            for i in p.indices {
                p[i] -= lr * (nesterov ? g[i] + momentum * buf[i] : buf[i])
            }
        }
    }

    /// Fails once, naming the worst element, unless every `actual[i]` is within
    /// `tolerance · max(1, |expected[i]|)` of `expected[i]`.
    static func assertClose(_ actual: [Float], _ expected: [Double], tolerance: Double = 1e-6, _ message: String,
                            file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actual.count, expected.count, message, file: file, line: line)
        guard !actual.isEmpty, actual.count == expected.count else { return }
        let errors = actual.indices.map { abs(Double(actual[$0]) - expected[$0]) / max(1, abs(expected[$0])) }
        let worst = errors.indices.max { errors[$0] < errors[$1] }!
        XCTAssertLessThanOrEqual(errors[worst], tolerance,
                                 "\(message) [\(worst)]: \(actual[worst]) vs \(expected[worst])", file: file, line: line)
    }

    /// Biases and batch-norm parameters, spelled out independently of `ParameterRole.isBiasOrNorm`.
    static func excludedFromDecay(_ role: ParameterRole) -> Bool {
        switch role {
        case .convolutionBias, .linearBias, .normScale, .normShift: return true
        case .convolutionWeight, .linearWeight, .runningMean, .runningVariance: return false
        }
    }

    /// A conv weight and bias, a norm scale and shift, and a linear weight and bias: every
    /// trainable role, in a deliberately mixed order.
    static let declarations: [ParameterDeclaration] = [
        ParameterDeclaration(name: "fc.weight", shape: [5, 8], role: .linearWeight(fanIn: 8)),
        ParameterDeclaration(name: "fc.bias", shape: [5], role: .linearBias(fanIn: 8)),
        ParameterDeclaration(name: "conv.norm.weight", shape: [3], role: .normScale),
        ParameterDeclaration(name: "conv.norm.bias", shape: [3], role: .normShift),
        ParameterDeclaration(name: "conv.weight", shape: [4, 3, 3, 3], role: .convolutionWeight(fanIn: 27)),
        ParameterDeclaration(name: "conv.bias", shape: [4], role: .convolutionBias),
    ]

    /// The default configuration with the given fields replaced, so that each test states all of
    /// its configuration in one expression.
    static func configuration(momentum: Float? = nil, nesterov: Bool? = nil, weightDecay: Float? = nil,
                              decayBiasAndNorm: Bool? = nil) -> SGD.Configuration {
        var c = SGD.Configuration()
        if let momentum { c.momentum = momentum }
        if let nesterov { c.nesterov = nesterov }
        if let weightDecay { c.weightDecay = weightDecay }
        if let decayBiasAndNorm { c.decayBiasAndNorm = decayBiasAndNorm }
        return c
    }

    static func makeArena(seed: UInt64) -> ParameterArena {
        let arena = ParameterArena(declarations: declarations, withGradients: true)
        var rng = TestRandom(seed: seed)
        arena.values.copy(from: rng.floats(arena.count))
        return arena
    }

    /// λ per element of `arena` as PyTorch would apply it with the given option.
    static func decayPerElement(_ arena: ParameterArena, weightDecay: Float, decayBiasAndNorm: Bool) -> [Double] {
        var d = [Double](repeating: 0, count: arena.count)
        for slot in arena.slots where decayBiasAndNorm || !excludedFromDecay(slot.declaration.role) {
            for i in slot.range { d[i] = Double(weightDecay) }
        }
        return d
    }

    /// Runs `learningRates.count` steps of the engine and of the reference with fresh random
    /// gradients before every step, and compares parameters and momentum buffers after each.
    func checkAgainstReference(_ configuration: SGD.Configuration, threads: Int = 1,
                               learningRates: [Float] = [0.1, 0.05, 0.2],
                               file: StaticString = #filePath, line: UInt = #line) {
        let arena = Self.makeArena(seed: 301)
        let sgd = SGD(arena: arena, configuration: configuration)
        let pool = ComputePool(threads: threads)
        var reference = ReferenceSGD(
            momentum: Double(configuration.momentum), nesterov: configuration.nesterov,
            decay: Self.decayPerElement(arena, weightDecay: configuration.weightDecay,
                                        decayBiasAndNorm: configuration.decayBiasAndNorm),
            buffer: nil)
        var p = arena.values.toArray().map(Double.init)
        var rng = TestRandom(seed: 302)
        for (step, lr) in learningRates.enumerated() {
            let g = rng.floats(arena.count, -2, 2)
            arena.gradients!.copy(from: g)
            sgd.step(arena, learningRate: lr, pool: pool)
            reference.step(&p, gradient: g.map(Double.init), learningRate: Double(lr))
            Self.assertClose(arena.values.toArray(), p, "step \(step + 1) parameters", file: file, line: line)
            Self.assertClose(sgd.velocity.toArray(), reference.buffer!, "step \(step + 1) momentum", file: file, line: line)
            // The gradients are the caller's: the step must not change them.
            XCTAssertEqual(arena.gradients!.toArray(), g, "step \(step + 1) changed the gradients", file: file, line: line)
        }
    }

    // MARK: Update rule

    func testNesterovStepsMatchPyTorchFormula() {
        checkAgainstReference(Self.configuration(momentum: 0.9, nesterov: true, weightDecay: 0.01))
    }

    func testPlainMomentumStepsMatchPyTorchFormula() {
        checkAgainstReference(Self.configuration(momentum: 0.9, nesterov: false, weightDecay: 0.01))
    }

    func testNesterovWithoutBiasAndNormDecayMatchesPyTorchParameterGroups() {
        // PyTorch's usual split: one group with weight decay for the weights, one without for
        // biases and batch-norm parameters.
        checkAgainstReference(Self.configuration(weightDecay: 0.02, decayBiasAndNorm: false))
    }

    func testFirstStepSetsMomentumBufferToDecayedGradient() {
        // buf = g + λp exactly on step one (μ·0 + g), so plain momentum moves by lr·(g + λp).
        let c = Self.configuration(nesterov: false, weightDecay: 0.5)
        let arena = Self.makeArena(seed: 311)
        let p0 = arena.values.toArray()
        var rng = TestRandom(seed: 312)
        let g = rng.floats(arena.count)
        arena.gradients!.copy(from: g)
        let sgd = SGD(arena: arena, configuration: c)
        XCTAssertEqual(sgd.velocity.toArray(), [Float](repeating: 0, count: arena.count))
        sgd.step(arena, learningRate: 0.25, pool: ComputePool(threads: 1))
        let buf = (0..<arena.count).map { Double(g[$0]) + 0.5 * Double(p0[$0]) }
        Self.assertClose(sgd.velocity.toArray(), buf, "momentum")
        Self.assertClose(arena.values.toArray(), (0..<arena.count).map { Double(p0[$0]) - 0.25 * buf[$0] }, "parameters")
    }

    func testDefaultConfigurationIsNesterovMomentumPointNineWithDecayOnEveryParameter() {
        let c = SGD.Configuration()
        XCTAssertEqual(c.momentum, 0.9)
        XCTAssertTrue(c.nesterov)
        XCTAssertEqual(c.weightDecay, 1e-4)
        XCTAssertTrue(c.decayBiasAndNorm)
        let arena = Self.makeArena(seed: 321)
        XCTAssertEqual(SGD(arena: arena).velocity.count, arena.count)
    }

    // MARK: Weight decay and roles

    func testIsBiasOrNormHoldsExactlyForBiasesAndNormParameters() {
        let expected: [(ParameterRole, Bool)] = [
            (.convolutionWeight(fanIn: 9), false), (.convolutionBias, true),
            (.linearWeight(fanIn: 4), false), (.linearBias(fanIn: 4), true),
            (.normScale, true), (.normShift, true),
            (.runningMean, false), (.runningVariance, false),
        ]
        for (role, isBiasOrNorm) in expected {
            XCTAssertEqual(role.isBiasOrNorm, isBiasOrNorm, "\(role)")
        }
    }

    func testNoBiasAndNormDecayLeavesBiasesAndNormParametersUntouchedByZeroGradients() {
        // With zero gradients only weight decay moves a parameter: with `decayBiasAndNorm = false`
        // biases and norm parameters stay bit-identical, weights shrink by the decay alone.
        for nesterov in [true, false] {
            let c = Self.configuration(nesterov: nesterov, weightDecay: 0.1, decayBiasAndNorm: false)
            let arena = Self.makeArena(seed: 331)
            let p0 = arena.values.toArray()
            let sgd = SGD(arena: arena, configuration: c)
            let pool = ComputePool(threads: 1)
            var reference = p0.map(Double.init)
            var buf = [Double](repeating: 0, count: arena.count)
            for _ in 0..<2 {
                arena.gradients!.zero()
                sgd.step(arena, learningRate: 0.5, pool: pool)
                for i in 0..<arena.count {
                    let g = 0.1 * reference[i]
                    buf[i] = 0.9 * buf[i] + g
                    reference[i] -= 0.5 * (nesterov ? g + 0.9 * buf[i] : buf[i])
                }
            }
            let p = arena.values.toArray()
            var decayed: Set<String> = []
            for slot in arena.slots {
                let name = slot.declaration.name
                if Array(p[slot.range]) != Array(p0[slot.range]) { decayed.insert(name) }
                if decayed.contains(name) {
                    Self.assertClose(Array(p[slot.range]), Array(reference[slot.range]), "\(name) (nesterov \(nesterov))")
                }
            }
            XCTAssertEqual(decayed, ["conv.weight", "fc.weight"], "nesterov \(nesterov)")
        }
    }

    func testDecayBiasAndNormDecaysEveryRole() {
        let c = Self.configuration(weightDecay: 0.1, decayBiasAndNorm: true)
        let arena = Self.makeArena(seed: 341)
        let p0 = arena.values.toArray()
        let sgd = SGD(arena: arena, configuration: c)
        arena.gradients!.zero()
        sgd.step(arena, learningRate: 0.5, pool: ComputePool(threads: 1))
        // First Nesterov step with g = 0: p ← p − lr·(1 + μ)·λp.
        let p = arena.values.toArray()
        for slot in arena.slots {
            Self.assertClose(Array(p[slot.range]), p0[slot.range].map { Double($0) * (1 - 0.5 * 1.9 * 0.1) },
                             slot.declaration.name)
        }
    }

    // MARK: Threads

    func testStepsAreBitIdenticalWithOneAndThreeThreads() {
        func run(threads: Int, nesterov: Bool) -> (values: [Float], velocity: [Float]) {
            let c = Self.configuration(nesterov: nesterov, weightDecay: 0.01, decayBiasAndNorm: false)
            let arena = Self.makeArena(seed: 351)
            let sgd = SGD(arena: arena, configuration: c)
            let pool = ComputePool(threads: threads)
            var rng = TestRandom(seed: 352)
            for lr: Float in [0.1, 0.3, 0.05] {
                arena.gradients!.copy(from: rng.floats(arena.count))
                sgd.step(arena, learningRate: lr, pool: pool)
            }
            return (arena.values.toArray(), sgd.velocity.toArray())
        }
        for nesterov in [true, false] {
            let one = run(threads: 1, nesterov: nesterov), three = run(threads: 3, nesterov: nesterov)
            XCTAssertNotEqual(one.values, Self.makeArena(seed: 351).values.toArray(), "the steps did nothing")
            XCTAssertEqual(one.values, three.values, "parameters (nesterov \(nesterov))")
            XCTAssertEqual(one.velocity, three.velocity, "momentum (nesterov \(nesterov))")
        }
    }

    func testThreeThreadStepsMatchPyTorchFormula() {
        // Every slot is updated, whichever worker gets it.
        checkAgainstReference(SGD.Configuration(), threads: 3)
        checkAgainstReference(Self.configuration(nesterov: false, weightDecay: 0.03, decayBiasAndNorm: false), threads: 3)
    }
}
