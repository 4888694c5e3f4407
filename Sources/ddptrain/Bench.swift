import ArgumentParser
import Distributed
import Engine
import Foundation
import Models
import Training

/// `ddptrain bench`: full training steps on synthetic input, timed by phase.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time full training steps (forward, backward, SGD update) on synthetic input.")

    @OptionGroup var options: ModelOptions

    @Option(name: .long, help: "Samples per step (default: 64).")
    var batchSize: Int?

    @Option(name: .long, help: "Worker threads (the engine's only source of parallelism; OpenBLAS runs single-threaded).")
    var threads: Int = 2

    @Option(name: .long, help: "Timed steps (default: 10).")
    var steps: Int?

    @Option(name: .long, help: "Untimed warm-up steps (default: 3).")
    var warmup: Int?

    @Flag(name: .long, help: "Also print the time per layer kind (adds a little timing overhead).")
    var profile = false

    @Option(name: .long, help: "Under mpirun: batch-norm statistics batch (all-reduced) or local (default: batch).")
    var bnSync: BatchNormSync?

    @Option(name: .long, help: "Under mpirun: gradient all-reduce bucket size in MiB (default: 1).")
    var bucketMb: Double?

    @Flag(name: .long, help: ArgumentHelp(
        "Measure this machine's single-precision peak (OpenBLAS sgemm, a register-only FMA loop) at 1 and --threads threads.",
        discussion: "Without a model flag only the peak is measured; with --model (or another model flag) the model is "
            + "benched afterwards and its GFLOP/s is also given as a fraction of the sgemm peak."))
    var peak = false

    @Option(name: .long, help: "With --peak: matrix size n of the sgemm problem, n×n×n per thread (default: 2048).")
    var peakSize: Int?

    /// The model-bench settings, with their defaults.
    var batch: Int { batchSize ?? 64 }
    var timedSteps: Int { steps ?? 10 }
    var warmupSteps: Int { warmup ?? 3 }
    var batchNormSync: BatchNormSync { bnSync ?? .batch }
    var bucketBytes: Int { Int((bucketMb ?? 1) * 1_048_576) }

    /// Whether a model is benched: always without `--peak`, with it only when a model flag is given.
    var benchesModel: Bool { !peak || options.isGiven }

    func validate() throws {
        guard batch >= 1 else { throw ValidationError("--batch-size must be at least 1, got \(batch)") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1, got \(threads)") }
        guard timedSteps >= 1 else { throw ValidationError("--steps must be at least 1, got \(timedSteps)") }
        guard warmupSteps >= 0 else { throw ValidationError("--warmup must not be negative, got \(warmupSteps)") }
        if let peakSize {
            guard peak else { throw ValidationError("--peak-size sets the size of --peak's sgemm; add --peak or drop --peak-size") }
            guard (16...8192).contains(peakSize) else {
                throw ValidationError("--peak-size must be between 16 and 8192, got \(peakSize) (the default 2048 takes about a second)")
            }
        }
        if !benchesModel {
            let unused = [("--batch-size", batchSize != nil), ("--steps", steps != nil), ("--warmup", warmup != nil),
                          ("--profile", profile), ("--bn-sync", bnSync != nil), ("--bucket-mb", bucketMb != nil)]
                .filter(\.1).map(\.0)
            if !unused.isEmpty {
                throw ValidationError("\(unused.joined(separator: ", ")) would do nothing: --peak without a model measures only "
                                      + "the peak; add --model NAME to bench a model after it")
            }
        }
    }

    func run() throws {
        let communicator = Launch.communicator()
        try Launch.run(communicator) { try bench(communicator) }
    }

    func bench(_ communicator: Communicator) throws {
        var sgemmPeak: Double?
        if peak {
            guard communicator.size == 1 else {
                throw ValidationError("--peak measures the cores of one process: run it without mpirun")
            }
            let size = peakSize ?? 2048, bytes = 3 * size * size * MemoryLayout<Float>.size * threads
            if let available = SystemMemory.availableBytes(), bytes > available {
                throw ValidationError("--peak needs \(bytes >> 20) MiB for \(threads) × 3 matrices of \(size)² floats but "
                                      + "\(available >> 20) MiB are available: lower --peak-size or --threads")
            }
            let report = PeakReport.measure(size: size, threads: threads)
            report.lines.forEach { print($0) }
            sgemmPeak = report.sgemm[threads]
        }
        guard benchesModel else { return }
        let configuration = try options.configuration()
        let ranks = communicator.size
        let batchSize = batch, bnSync = batchNormSync
        let graph = try ModelBuilder.checkedGraph(for: configuration, batch: batchSize, threads: threads,
                                                  availableBytes: SystemMemory.availableBytes())
        let pool = ComputePool(threads: threads)
        let network = Network(graph: graph, maxBatch: batchSize, pool: pool, seed: 1)
        if ranks > 1 && bnSync == .batch { network.context.statisticsReducer = communicator }
        let buckets = GradientBuckets(network: network, communicator: communicator, bucketBytes: bucketBytes)
        let optimizer = SGD(arena: network.parameters)
        let inputCount = batchSize * graph.shape(graph.input).elementCount
        for i in 0..<inputCount {
            network.input[i] = RandomStream.normal(seed: 7, index: UInt64(communicator.rank * inputCount + i))
        }
        var labels = (0..<batchSize).map { Int32($0 % configuration.classes) }

        let profile = LayerProfile(layers: graph.layers.count)
        let say: (String) -> Void = communicator.isLeader ? { print($0) } : { _ in }
        say("bench \(configuration.name): \(ranks) rank(s) × batch \(batchSize) = global batch \(ranks * batchSize), "
            + "\(threads) thread(s) per rank\(ranks > 1 ? ", batch norm \(bnSync.rawValue), \(buckets.ranges.count) gradient bucket(s)" : ""), "
            + "\(warmupSteps) warm-up + \(timedSteps) timed steps, OpenBLAS kernels \(BLASKernels.summary), "
            + "convolutions \(ConvolutionAlgorithm.selected.rawValue), own kernels \(KernelSet.summary)")
        var phases: [[Double]] = [[], [], [], [], []]  // forward, backward, update, total, all-reduce wait
        for step in 0..<(warmupSteps + timedSteps) {
            if self.profile && step == warmupSteps { network.profile = profile }
            let t0 = DispatchTime.now().uptimeNanoseconds
            network.forward(batch: batchSize, training: true)
            _ = labels.withUnsafeBufferPointer { network.loss(labels: $0.baseAddress!, normalizer: ranks * batchSize) }
            let t1 = DispatchTime.now().uptimeNanoseconds
            network.zeroParameterGradients()
            buckets.resetTimer()
            network.backward()
            buckets.finish()
            let t2 = DispatchTime.now().uptimeNanoseconds
            optimizer.step(network.parameters, learningRate: 0.01, pool: pool)
            let t3 = DispatchTime.now().uptimeNanoseconds
            if step >= warmupSteps {
                let times = [t1 - t0, t2 - t1, t3 - t2, t3 - t0].map { Double($0) / 1e9 } + [buckets.exposedSeconds]
                for (i, t) in times.enumerated() { phases[i].append(t) }
            }
            labels.shuffle()
        }
        let median = phases.map { $0.sorted()[$0.count / 2] }
        let imagesPerSecond = Double(ranks * batchSize) / median[3]
        let gflops = 3 * Double(graph.macsPerSample) * 2 * Double(ranks * batchSize) / median[3] / 1e9
        say(String(format: "median step %.1f ms: forward %.1f ms, backward %.1f ms (of which all-reduce wait %.1f ms, %.1f%% of the step), update %.1f ms",
                   median[3] * 1e3, median[0] * 1e3, median[1] * 1e3, median[4] * 1e3, 100 * median[4] / median[3], median[2] * 1e3))
        let ofPeak = sgemmPeak.map { String(format: ", %.1f%% of the sgemm peak at %d thread(s)", 100 * gflops / $0, threads) } ?? ""
        say(String(format: "images/s: %.1f   (%.1f GFLOP/s at 3 × %d forward MACs per image%@%@)", imagesPerSecond, gflops,
                   graph.macsPerSample, ranks > 1 ? ", over all \(ranks) ranks" : "", ofPeak))
        if self.profile && communicator.isLeader {
            print("per layer kind, mean per step (forward / backward ms):")
            let rows = profile.byKind(graph), width = max(18, rows.map(\.kind.count).max() ?? 0)
            for row in rows {
                let f = row.forward * 1e3 / Double(timedSteps), b = row.backward * 1e3 / Double(timedSteps)
                print("  " + row.kind.padding(toLength: width, withPad: " ", startingAt: 0)
                      + String(format: "%8.1f %8.1f", f, b))
            }
        }
        say("peak resident memory: \(ResourceUsage.peakResidentMegabytes) MiB\(ranks > 1 ? " (rank 0)" : "")")
    }
}
