import Distributed
import Engine
import Foundation
import Models

/// `ddptrain bench`'s measurement: full training steps of a model on synthetic input, run by the
/// same `StepRunner` that trains, timed by phase and reported as the median step.
///
/// The lines `report` returns are parsed by Scripts/compare-pytorch.sh: keep `images/s: X`,
/// `median step`, the per-kind rows and `peak resident memory` as they are.
public struct Benchmark {
    /// The model benched.
    public var model: ModelConfiguration
    /// Samples per step and rank.
    public var batch = 64
    /// Worker threads per rank.
    public var threads = 2
    /// Untimed steps first.
    public var warmupSteps = 3
    /// Timed steps.
    public var timedSteps = 10
    /// Whether to time each layer kind too.
    public var profile = false
    /// Which ranks' samples batch norm normalises together under mpirun: the global batch, each
    /// rank's share, groups of ranks or the ranks of each host.
    public var batchNormSync = BatchNormSync.batch
    /// Size of a gradient all-reduce bucket.
    public var bucketBytes = 1 << 20
    /// The number format gradients are exchanged in.
    public var allReduceDataType = AllReduceDataType.fp32

    /// A benchmark of `model` with the default settings.
    public init(model: ModelConfiguration) { self.model = model }

    /// Runs the steps on every rank of `communicator` and returns rank 0's report lines (other
    /// ranks get none); `ConfigurationProblem` when `batchNormSync` does not fit the ranks; `sgemmPeak` (GFLOP/s at `threads` threads), when measured, relates the
    /// model's GFLOP/s to it.
    public func run(on communicator: Communicator, sgemmPeak: Double? = nil) throws -> [String] {
        let ranks = communicator.size
        try batchNormSync.validate(worldSize: ranks)
        let graph = try ModelBuilder.checkedGraph(for: model, batch: batch, threads: threads,
                                                  availableBytes: SystemMemory.availableBytes())
        let runner = StepRunner(graph: graph, maxBatch: batch, threads: threads, seed: 1, communicator: communicator,
                                batchNormSync: batchNormSync, bucketBytes: bucketBytes, allReduceDataType: allReduceDataType)
        let network = runner.network
        let inputCount = batch * graph.shape(graph.input).elementCount
        for i in 0..<inputCount {
            network.input[i] = RandomStream.normal(seed: 7, index: UInt64(communicator.rank * inputCount + i))
        }
        var labels = (0..<batch).map { Int32($0 % model.classes) }
        var lines = ["bench \(model.name): \(ranks) rank(s) × batch \(batch) = global batch \(ranks * batch), "
            + "\(threads) thread(s) per rank"
            + (ranks > 1 ? ", batch norm \(batchNormSync.rawValue), \(runner.bucketCount) gradient bucket(s)" : "")
            + (ranks > 1 || allReduceDataType != .fp32 ? ", " + runner.exchangeSummary : "") + ", "
            + "\(warmupSteps) warm-up + \(timedSteps) timed steps, \(Self.kernelSummary)"]
        let layerProfile = LayerProfile(layers: graph.layers.count)
        var steps: [StepRunner.Timings] = []
        for step in 0..<(warmupSteps + timedSteps) {
            if profile && step == warmupSteps { network.profile = layerProfile }
            _ = labels.withUnsafeBufferPointer { runner.forward(count: batch, labels: $0.baseAddress!, globalCount: ranks * batch) }
            // No clipping: a NaN gradient cannot stop the benchmark.
            try? runner.backwardAndUpdate(learningRate: 0.01)
            if step >= warmupSteps { steps.append(runner.timings) }
            labels.shuffle()
        }
        guard communicator.isLeader else { return [] }
        func median(_ phase: (StepRunner.Timings) -> Double) -> Double { steps.map(phase).sorted()[steps.count / 2] }
        let total = median(\.total), forward = median(\.forward), backward = median(\.backward)
        let update = median(\.update), wait = median(\.allReduceWait)
        let gflops = 3 * Double(graph.macsPerSample) * 2 * Double(ranks * batch) / total / 1e9
        lines.append(String(format: "median step %.1f ms: forward %.1f ms, backward %.1f ms (of which all-reduce wait %.1f ms, %.1f%% of the step), update %.1f ms",
                            total * 1e3, forward * 1e3, backward * 1e3, wait * 1e3, 100 * wait / total, update * 1e3))
        let ofPeak = sgemmPeak.map { String(format: ", %.1f%% of the sgemm peak at %d thread(s)", 100 * gflops / $0, threads) } ?? ""
        lines.append(String(format: "images/s: %.1f   (%.1f GFLOP/s at 3 × %d forward MACs per image%@%@)",
                            Double(ranks * batch) / total, gflops, graph.macsPerSample,
                            ranks > 1 ? ", over all \(ranks) ranks" : "", ofPeak))
        if profile {
            lines.append("per layer kind, mean per step (forward / backward ms):")
            let rows = layerProfile.byKind(graph), width = max(18, rows.map(\.kind.count).max() ?? 0)
            for row in rows {
                let f = row.forward * 1e3 / Double(timedSteps), b = row.backward * 1e3 / Double(timedSteps)
                lines.append("  " + row.kind.padding(toLength: width, withPad: " ", startingAt: 0) + String(format: "%8.1f %8.1f", f, b))
            }
        }
        lines.append("peak resident memory: \(ResourceUsage.peakResidentMegabytes) MiB\(ranks > 1 ? " (rank 0)" : "")")
        return lines
    }

    /// Which kernels run the engine: OpenBLAS's, the convolution algorithm, the engine's own
    /// instruction set (and how it was chosen). The training log's start line says the same.
    public static var kernelSummary: String {
        "OpenBLAS kernels \(BLASKernels.summary), convolutions \(ConvolutionAlgorithm.selected.rawValue), "
            + "own kernels \(KernelSet.summary)"
    }
}
