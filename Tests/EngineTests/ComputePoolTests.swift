import TestSupport
import XCTest
@testable import Engine

/// The thread pool's work split, and that results do not depend on the thread count.
final class ComputePoolTests: XCTestCase {
    func testChunksPartitionTheRangeIntoAtMostThreadsContiguousPieces() {
        for threads in 1...4 {
            let pool = ComputePool(threads: threads)
            for count in [0, 1, 2, 3, 5, 8, 13] {
                let visits = UnsafeMutablePointer<Int>.allocate(capacity: max(count, 1))
                visits.initialize(repeating: 0, count: max(count, 1))
                let ranges = UnsafeMutablePointer<Range<Int>?>.allocate(capacity: threads)
                ranges.initialize(repeating: nil, count: threads)
                defer { visits.deallocate(); ranges.deallocate() }
                pool.chunks(count) { range, worker in
                    precondition(worker >= 0 && worker < threads)
                    precondition(ranges[worker] == nil, "worker \(worker) used twice")
                    ranges[worker] = range
                    for i in range { visits[i] += 1 }
                }
                let used = (0..<threads).compactMap { ranges[$0] }
                XCTAssertEqual(used.count, min(threads, count), "threads \(threads) count \(count)")
                XCTAssertTrue(used.allSatisfy { !$0.isEmpty })
                XCTAssertEqual((0..<count).map { visits[$0] }, Array(repeating: 1, count: count))
            }
        }
    }

    /// stem conv → BN-ReLU-conv3×3 → conv1×1/2 over two segments → BN-ReLU → global pool → linear,
    /// one forward and backward with the cross-entropy loss on `threads` threads.
    func runNetwork(threads: Int) -> (values: [[Float]], gradients: [[Float]], parameterGradients: [Float], loss: Double) {
        let batch = 4, shape = TensorShape(channels: 3, height: 7, width: 6)
        var g = Graph(input: shape)
        let stem = g.convolution([g.input], outChannels: 4, kernel: 3, bias: true, name: "stem")
        let c1 = g.convolution([stem], outChannels: 3, kernel: 3, preactivation: true, name: "conv1")
        let c2 = g.convolution([stem, c1], outChannels: 5, kernel: 1, stride: 2, bias: true, name: "conv2")
        let bn = g.batchNorm([c2], relu: true, name: "bn")
        let pooled = g.globalAveragePool(bn, name: "gap")
        g.linear(pooled, outFeatures: 3, name: "fc")
        let net = Network(graph: g, maxBatch: batch, pool: ComputePool(threads: threads), seed: 9)
        var rng = TestRandom(seed: 91)
        fillUniform(TensorView(base: net.input, shape: shape), batch: batch, rng: &rng)
        net.forward(batch: batch, training: true)
        let labels: [Int32] = [0, 2, 1, 2]
        let loss = labels.withUnsafeBufferPointer { net.loss(labels: $0.baseAddress!, smoothing: 0.1) }
        net.zeroParameterGradients()
        net.backward()
        let ids = (0..<g.shapes.count).map { ValueID(index: $0) }
        return (ids.map { contents(net.context.view($0), batch: batch) },
                ids.dropFirst().map { contents(net.context.gradient($0), batch: batch) },
                net.parameters.gradients!.toArray(), loss.lossSum)
    }

    func testConvolutionNetworkGivesSameResultsOnOneAndThreeThreads() {
        let one = runNetwork(threads: 1), three = runNetwork(threads: 3)
        // Forward values and activation gradients are computed per sample or per channel in the
        // same order whatever the split: identical.
        XCTAssertEqual(one.values, three.values)
        XCTAssertEqual(one.loss, three.loss)
        XCTAssertEqual(one.gradients, three.gradients)
        // Weight gradients are reduced across workers: equal up to float summation order.
        XCTAssertEqual(one.parameterGradients.count, three.parameterGradients.count)
        let scale = one.parameterGradients.reduce(Float(0)) { max($0, abs($1)) }
        XCTAssertGreaterThan(scale, 0)
        for (i, (a, b)) in zip(one.parameterGradients, three.parameterGradients).enumerated() {
            XCTAssertEqual(a, b, accuracy: 1e-5 * max(scale, abs(a)), "parameter gradient \(i)")
        }
    }
}
