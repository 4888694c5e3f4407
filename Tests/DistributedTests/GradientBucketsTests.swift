@testable import Distributed
@testable import Engine
import XCTest

/// A communicator of a pretend 2-rank run that records the collectives it is asked for.
final class RecordingCommunicator: Communicator {
    var started: [(offset: Int, count: Int)] = []
    /// The bfloat16 sums started, as offsets into the 16-bit copy of the arena, and their lengths.
    var startedBFloat16: [(pointer: UnsafeMutablePointer<UInt16>, count: Int)] = []
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
    /// Records the sum and completes it as a second rank holding the same values would: x ∘ x.
    func startBFloat16Sum(_ values: UnsafeMutablePointer<UInt16>, count: Int) {
        startedBFloat16.append((values, count))
        BFloat16.accumulate(values, into: values, count: count)
    }
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

    /// Asserts that two float arrays are equal, naming the first element that differs instead of
    /// printing both arrays.
    func assertElementsEqual(_ actual: [Float], _ expected: [Float], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actual.count, expected.count, what, file: file, line: line)
        if let i = actual.indices.first(where: { i in i < expected.count && actual[i].bitPattern != expected[i].bitPattern }) {
            XCTFail("\(what): element \(i) is \(actual[i]), expected \(expected[i])", file: file, line: line)
        }
    }

    /// Fills the arena's gradients with values that bfloat16 cannot hold exactly; returns them.
    func fillGradients(_ net: Network) -> [Float] {
        let gradients = net.parameters.gradients!.pointer
        for i in 0..<net.parameters.count { gradients[i] = 0.1 * Float(i % 13 + 1) / 7 - Float(i % 3) * 1e-3 }
        return Array(UnsafeBufferPointer(start: gradients, count: net.parameters.count))
    }

    func testBFloat16BucketsSendRoundedGradientsAndWidenTheSumBackIntoTheArena() {
        let net = network()
        let comm = RecordingCommunicator(base: net.parameters.gradients!.pointer)
        let buckets = GradientBuckets(network: net, communicator: comm, bucketBytes: 400, dataType: .bf16)
        let fp32Buckets = GradientBuckets(network: network(), communicator: comm, bucketBytes: 400)
        XCTAssertEqual(buckets.ranges, fp32Buckets.ranges, "--bucket-mb cuts the same buckets whatever the wire format")
        XCTAssertEqual(buckets.bytesPerStep, net.parameters.count * 2)
        XCTAssertEqual(fp32Buckets.bytesPerStep, net.parameters.count * 4)
        let original = fillGradients(net)
        buckets.finish()
        XCTAssertTrue(comm.started.isEmpty, "a bf16 exchange started a float32 sum")
        XCTAssertEqual(comm.startedBFloat16.map(\.count), buckets.ranges.map(\.count))
        let first = comm.startedBFloat16[0].pointer
        XCTAssertEqual(comm.startedBFloat16.map { $0.pointer - first }, buckets.ranges.map(\.lowerBound),
                       "each bucket has its own part of the 16-bit copy")
        let result = Array(UnsafeBufferPointer(start: net.parameters.gradients!.pointer, count: net.parameters.count))
        let expected = original.map { value -> Float in
            let half = BFloat16.bits(rounding: value)
            return BFloat16.float(BFloat16.sum(half, half))
        }
        assertElementsEqual(result, expected, "the arena holds the widened bfloat16 sum of the rounded gradients")
        XCTAssertNotEqual(result, original.map { 2 * $0 }, "the values were not rounded")
    }

    func testASingleProcessRoundsItsGradientsThroughBFloat16AndLeavesThemAloneInFP32() {
        let net = network()
        let bf16 = GradientBuckets(network: net, communicator: SingleProcessCommunicator(), bucketBytes: 400, dataType: .bf16)
        let original = fillGradients(net)
        bf16.finish()
        let rounded = Array(UnsafeBufferPointer(start: net.parameters.gradients!.pointer, count: net.parameters.count))
        assertElementsEqual(rounded, original.map { BFloat16.float(BFloat16.bits(rounding: $0)) }, "one process's bf16 gradients")
        XCTAssertNotEqual(rounded, original)

        let other = network()
        let fp32 = GradientBuckets(network: other, communicator: SingleProcessCommunicator(), bucketBytes: 400)
        let unchanged = fillGradients(other)
        fp32.finish()
        assertElementsEqual(Array(UnsafeBufferPointer(start: other.parameters.gradients!.pointer, count: other.parameters.count)), unchanged,
                            "one process's fp32 gradients")
    }
}
