@testable import Distributed
@testable import Engine
import XCTest

/// A communicator of a pretend 2-rank run that records the collectives it is asked for.
final class RecordingCommunicator: Communicator {
    var started: [(offset: Int, count: Int)] = []
    var progressCalls = 0
    var waits = 0
    let base: UnsafeMutablePointer<Float>
    init(base: UnsafeMutablePointer<Float>) { self.base = base }

    var rank: Int { 0 }
    var size: Int { 2 }
    func sumAcrossRanks(_ values: UnsafeMutablePointer<Float>, count: Int) {}
    func sumAcrossRanks(_ values: UnsafeMutablePointer<Double>, count: Int) {}
    func range(of value: UInt64) -> (min: UInt64, max: UInt64) { (value, value) }
    func broadcast(_ values: UnsafeMutablePointer<Float>, count: Int) {}
    func broadcast(_ bytes: inout [UInt8]) {}
    func startSum(_ values: UnsafeMutablePointer<Float>, count: Int) { started.append((values - base, count)) }
    func progress() { progressCalls += 1 }
    func waitAll() { waits += 1 }
    func split(color: Int) -> Communicator { self }
    func splitByHost() -> Communicator { self }
    func abort(_ message: String, status: Int32) -> Never { fatalError(message) }
}

final class GradientBucketsTests: XCTestCase {
    func network() -> Network {
        var g = Graph(input: TensorShape(channels: 3, height: 8, width: 8))
        let a = g.convolution([g.input], outChannels: 8, kernel: 3, name: "stem")
        let b = g.convolution([a], outChannels: 8, kernel: 3, preactivation: true, name: "conv")
        let p = g.globalAveragePool(b, name: "pool")
        g.linear(p, outFeatures: 10, name: "fc")
        return Network(graph: g, maxBatch: 2, pool: ComputePool(threads: 1), seed: 1)
    }

    func testBucketsTileTheArenaInOrder() {
        let net = network()
        let comm = RecordingCommunicator(base: net.parameters.gradients!.pointer)
        let buckets = GradientBuckets(network: net, communicator: comm, bucketBytes: 400)
        XCTAssertEqual(buckets.ranges.first?.lowerBound, 0)
        XCTAssertEqual(buckets.ranges.last?.upperBound, net.parameters.count)
        for (a, b) in zip(buckets.ranges, buckets.ranges.dropFirst()) { XCTAssertEqual(a.upperBound, b.lowerBound) }
        XCTAssertTrue(buckets.ranges.allSatisfy { $0.count <= 100 })
    }

    func testBucketsStartAsSoonAsBackwardHasFinishedThemAndAllCompleteBeforeTheStep() {
        let net = network()
        let comm = RecordingCommunicator(base: net.parameters.gradients!.pointer)
        let buckets = GradientBuckets(network: net, communicator: comm, bucketBytes: 400)
        var startedWhenReady: [(prefix: Int, started: Int)] = []
        let hook = net.onGradientsReady!
        net.onGradientsReady = { prefix in
            hook(prefix)
            startedWhenReady.append((prefix, comm.started.count))
        }
        for i in 0..<(2 * 3 * 64) { net.input[i] = Float(i % 7) * 0.1 }
        net.forward(batch: 2, training: true)
        var labels: [Int32] = [1, 2]
        _ = net.loss(labels: &labels)
        net.zeroParameterGradients()
        net.backward()
        // After each layer, exactly the buckets inside the finished prefix have started.
        for (prefix, started) in startedWhenReady {
            XCTAssertEqual(started, buckets.ranges.filter { $0.upperBound <= prefix }.count, "prefix \(prefix)")
        }
        // Some buckets start while backward is still running (before the stem, the last layer),
        // and not all of them: the stem's gradient is the last bucket's.
        let beforeStem = startedWhenReady.dropLast().last!.started
        XCTAssertGreaterThan(beforeStem, 0)
        XCTAssertLessThan(beforeStem, buckets.ranges.count)
        buckets.finish()
        XCTAssertEqual(comm.started.map(\.offset), buckets.ranges.map(\.lowerBound))
        XCTAssertEqual(comm.started.map(\.count), buckets.ranges.map(\.count))
        XCTAssertEqual(comm.waits, 1)
        XCTAssertGreaterThan(comm.progressCalls, 0)
    }

    func testSingleProcessCollectivesLeaveValuesUnchanged() {
        let comm = SingleProcessCommunicator()
        var floats: [Float] = [1, 2, 3]
        var doubles: [Double] = [4, 5]
        comm.sumAcrossRanks(&floats, count: 3)
        comm.sumAcrossRanks(&doubles, count: 2)
        var bytes: [UInt8] = [9, 8]
        comm.broadcast(&bytes)
        XCTAssertEqual(floats, [1, 2, 3])
        XCTAssertEqual(doubles, [4, 5])
        XCTAssertEqual(bytes, [9, 8])
        XCTAssertEqual(comm.range(of: 42).min, 42)
        XCTAssertEqual(comm.rank, 0)
        XCTAssertEqual(comm.size, 1)
        XCTAssertTrue(comm.isLeader)
    }
}
