import TestSupport
import XCTest
@testable import Engine

/// LARS (`SGD.Configuration.larsTrust`) against its formula written out in Double: each weight
/// tensor's decayed gradient scaled by η‖w‖ / (‖∇w‖ + λ‖w‖) before the momentum, biases and
/// batch-norm parameters as plain SGD, on one thread and on two.
extension SGDTests {
    func testLARSScalesEachWeightTensorByItsTrustRatioAndLeavesBiasesAndNormsAsSGD() {
        for threads in [1, 2] {
            var c = Self.configuration(momentum: 0.9, nesterov: true, weightDecay: 0.01)
            c.larsTrust = 0.02
            let arena = Self.makeArena(seed: 341)
            let sgd = SGD(arena: arena, configuration: c)
            let pool = ComputePool(threads: threads)
            var p = arena.values.toArray().map(Double.init), buffer = [Double](repeating: 0, count: arena.count)
            var rng = TestRandom(seed: 342)
            for (step, lr) in [0.5, 0.25, 1.0].enumerated() {
                let g = rng.floats(arena.count, -2, 2)
                arena.gradients!.copy(from: g)
                sgd.step(arena, learningRate: Float(lr), pool: pool)
                for slot in arena.slots {
                    let range = slot.range, adapted = !Self.excludedFromDecay(slot.declaration.role)
                    let w = range.map { p[$0] * p[$0] }.reduce(0, +).squareRoot()
                    let d = range.map { Double(g[$0]) * Double(g[$0]) }.reduce(0, +).squareRoot()
                    let trust = adapted ? 0.02 * w / (d + 0.01 * w) : 1
                    for i in range {
                        let decayed = (Double(g[i]) + 0.01 * p[i]) * trust
                        buffer[i] = 0.9 * buffer[i] + decayed
                        p[i] -= lr * (decayed + 0.9 * buffer[i])
                    }
                }
                Self.assertClose(arena.values.toArray(), p, tolerance: 1e-5, "\(threads) thread(s), step \(step + 1) parameters")
                Self.assertClose(sgd.velocity.toArray(), buffer, tolerance: 1e-5, "\(threads) thread(s), step \(step + 1) momentum")
            }
        }
    }

    func testLARSMovesAZeroTensorAsSGDWouldRatherThanNotAtAll() {
        // A zero-initialised weight has no norm to scale by: its trust ratio is 1, not 0.
        var c = Self.configuration(momentum: 0, nesterov: false, weightDecay: 0)
        c.larsTrust = 0.001
        let arena = Self.makeArena(seed: 351)
        arena.values.zero()
        arena.gradients!.copy(from: [Float](repeating: 1, count: arena.count))
        SGD(arena: arena, configuration: c).step(arena, learningRate: 0.1, pool: ComputePool(threads: 1))
        XCTAssertEqual(arena.values.toArray(), [Float](repeating: -0.1, count: arena.count))
    }
}
