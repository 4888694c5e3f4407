import XCTest
@testable import Engine

/// `NetworkFootprint` counts exactly the tensor storage a graph's layers and its network allocate,
/// and reports sizes too large to count instead of overflowing.
final class NetworkFootprintTests: XCTestCase {
    /// Small graphs that between them use every kind of layer.
    static func graphs() -> [(String, Graph)] {
        // A ResNet-like stage: conv with bias → BN-ReLU → BN-ReLU-conv/2 → BN → squeeze-excitation → option-A residual → pool → linear.
        var r = Graph(input: TensorShape(channels: 3, height: 8, width: 8))
        let stem = r.convolution([r.input], outChannels: 4, kernel: 3, bias: true, name: "stem")
        let bn = r.batchNorm([stem], relu: true, name: "bn")
        let conv = r.convolution([bn], outChannels: 6, kernel: 3, stride: 2, preactivation: true, name: "conv")
        let se = r.squeezeExcitation(r.batchNorm([conv], relu: false, name: "norm2"), hidden: 2, name: "se")
        let add = r.residual(se, shortcut: bn, relu: true, name: "add")
        r.linear(r.globalAveragePool(add, name: "pool"), outFeatures: 5, name: "fc")

        // A DenseNet-BC-like block: bottleneck, dropout, concatenation, transitions unfused and pooled, head.
        var d = Graph(input: TensorShape(channels: 2, height: 4, width: 6))
        let s = d.convolution([d.input], outChannels: 5, kernel: 3, name: "stem")
        let b = d.dropout(d.convolution([s], outChannels: 8, kernel: 1, preactivation: true, name: "bottleneck"), rate: 0.3,
                          name: "bottleneck.dropout")
        let y = d.dropout(d.convolution([b], outChannels: 3, kernel: 3, preactivation: true, name: "conv"), rate: 0.2, name: "dropout")
        let joined = d.concatenation([s, y], name: "concat")
        let t = d.averagePool(d.convolution([joined, y], outChannels: 4, kernel: 1, preactivation: true, name: "transition"),
                              name: "transition.pool")
        let p = d.pooledConvolution([joined, y], outChannels: 3, name: "pooled.transition")
        let h = d.batchNorm([t, p], relu: true, name: "head.norm")
        d.linear(d.globalAveragePool(h, name: "head.pool"), outFeatures: 10, name: "head.fc")
        return [("resnet-like", r), ("densenet-like", d)]
    }

    /// The tensor storage reachable from `root`, found by reflection rather than by knowing where
    /// it is: every `FloatBuffer` once (which allocates at least one float), and for every batch
    /// norm the `2c + 1` doubles of sums it allocates by pointer.
    static func storageBytes(reachableFrom root: Any) -> Int {
        var seen = Set<ObjectIdentifier>(), total = 0
        func visit(_ value: Any) {
            let mirror = Mirror(reflecting: value)
            if mirror.displayStyle == .class {
                let object = value as AnyObject
                guard seen.insert(ObjectIdentifier(object)).inserted else { return }
                if let buffer = object as? FloatBuffer {
                    total += max(buffer.count, 1) * MemoryLayout<Float>.stride
                    return
                }
                if let norm = object as? NormalizationState { total += (2 * norm.channels + 1) * MemoryLayout<Double>.stride }
            }
            for child in mirror.children { visit(child.value) }
        }
        visit(root)
        return total
    }

    func testFootprintCountsExactlyTheStorageTheGraphAndItsNetworkAllocate() throws {
        for (name, graph) in Self.graphs() {
            let footprint = try XCTUnwrap(NetworkFootprint(graph: graph))
            let graphBytes = Self.storageBytes(reachableFrom: graph)
            XCTAssertGreaterThan(graphBytes, 0, name)
            XCTAssertEqual(footprint.layerStateBytes, graphBytes, name)
            for (batch, threads) in [(1, 1), (5, 3)] {
                let network = Network(graph: graph, maxBatch: batch, pool: ComputePool(threads: threads))
                let allocated = Self.storageBytes(reachableFrom: network)
                // Tolerance: none. The count is exact for tensor storage; Swift's own objects are not counted.
                XCTAssertEqual(Network.allocationBytes(graph: graph, maxBatch: batch, threads: threads), allocated - graphBytes,
                               "\(name), batch \(batch), \(threads) threads")
                XCTAssertEqual(footprint.totalBytes(maxBatch: batch, threads: threads), allocated, name)
            }
        }
    }

    func testFootprintCountsLayersParametersAndMACsAsTheGraphDeclaresThem() throws {
        for (name, graph) in Self.graphs() {
            let footprint = try XCTUnwrap(NetworkFootprint(graph: graph))
            XCTAssertEqual(footprint.layers, graph.layers.count, name)
            XCTAssertEqual(footprint.parameters, graph.parameterCount, name)
            XCTAssertEqual(footprint.macsPerSample, graph.macsPerSample, name)
            XCTAssertEqual(footprint.valueElements, graph.shapes.map(\.elementCount), name)
        }
    }

    func testSizesTooLargeToCountAreNil() throws {
        let graph = Self.graphs()[0].1
        XCTAssertNotNil(Network.allocationBytes(graph: graph, maxBatch: 1, threads: 1))
        XCTAssertNil(Network.allocationBytes(graph: graph, maxBatch: .max, threads: 1))
        XCTAssertNil(Network.allocationBytes(graph: graph, maxBatch: 1, threads: .max))
        XCTAssertNil(Network.allocationBytes(graph: graph, maxBatch: 0, threads: 1))
        XCTAssertNil(Network.allocationBytes(graph: graph, maxBatch: 1, threads: 0))
        var footprint = NetworkFootprint()
        footprint.normalizedChannels = [Int.max / 4]
        XCTAssertNil(footprint.layerStateBytes)
        XCTAssertNil(footprint.totalBytes(maxBatch: 1, threads: 1))
        XCTAssertEqual(try SizeArithmetic.product(1 << 31, 1 << 31), 1 << 62)
        XCTAssertThrowsError(try SizeArithmetic.product(1 << 32, 1 << 31))
        XCTAssertEqual(try SizeArithmetic.sum(.max - 1, 1), .max)
        XCTAssertThrowsError(try SizeArithmetic.sum(.max, 1))
    }

    func testMemAvailableIsReadFromMeminfoInBytes() {
        let meminfo = "MemTotal:       24576000 kB\nMemFree:        20000000 kB\nMemAvailable:   23068672 kB\nBuffers:    1 kB\n"
        XCTAssertEqual(SystemMemory.memAvailable(meminfo: meminfo), 23_068_672 * 1024)
        XCTAssertNil(SystemMemory.memAvailable(meminfo: "MemTotal:       24576000 kB\n"))
        XCTAssertNil(SystemMemory.memAvailable(meminfo: "MemAvailable:   lots kB\n"))
        XCTAssertNil(SystemMemory.memAvailable(meminfo: "MemAvailable:   9223372036854775807 kB\n"))
        let available = SystemMemory.availableBytes(), physical = SystemMemory.physicalBytes()
        XCTAssertGreaterThan(available ?? 0, 0)
        XCTAssertLessThanOrEqual(available ?? .max, physical ?? 0, "MemAvailable cannot exceed the physical memory")
    }
}
