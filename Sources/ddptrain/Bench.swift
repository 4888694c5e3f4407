import ArgumentParser
import Distributed  // AllReduceDataType is a flag value
import Training

/// `ddptrain bench`: full training steps on synthetic input, timed by phase.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time full training steps (forward, backward, SGD update) on synthetic input.")

    @OptionGroup var options: ModelOptions

    @Option(name: .long, help: "Samples per step (default: \(defaults.batch)).")
    var batchSize: Int?

    @Option(name: .long, help: "Worker threads (the engine's only source of parallelism; OpenBLAS runs single-threaded).")
    var threads: Int = defaults.threads

    @Option(name: .long, help: "Timed steps (default: \(defaults.timedSteps)).")
    var steps: Int?

    @Option(name: .long, help: "Untimed warm-up steps (default: \(defaults.warmupSteps)).")
    var warmup: Int?

    @Flag(name: .long, help: "Also print the time per layer kind (adds a little timing overhead).")
    var profile = false

    @Option(name: .long, help: ArgumentHelp("Under mpirun: batch-norm statistics batch (all-reduced), local (per rank), group:K (groups of K consecutive ranks) or node (the ranks of each host) (default: \(defaults.batchNormSync.rawValue)).", valueName: "mode"),
            transform: { try BatchNormSync(parsing: $0) })
    var bnSync: BatchNormSync?

    @Option(name: .long, help: "Under mpirun: gradient all-reduce bucket size in MiB (default: \(number(Double(defaults.bucketBytes) / 1_048_576))).")
    var bucketMb: Double?

    @Option(name: .long, help: ArgumentHelp("Number format of the gradient all-reduce: fp32 or bf16 (half the bytes) (default: fp32).", valueName: "type"))
    var allreduceDtype: AllReduceDataType?

    @Flag(name: .long, help: ArgumentHelp(
        "Measure this machine's single-precision peak (OpenBLAS sgemm, a register-only FMA loop) at 1 and --threads threads.",
        discussion: "Without a model flag only the peak is measured; with --model (or another model flag) the model is "
            + "benched afterwards and its GFLOP/s is also given as a fraction of the sgemm peak."))
    var peak = false

    @Option(name: .long, help: "With --peak: matrix size n of the sgemm problem, n×n×n per thread (default: \(PeakReport.defaultSize)).")
    var peakSize: Int?

    /// The model-bench settings, with their defaults.
    var batch: Int { batchSize ?? defaults.batch }
    var timedSteps: Int { steps ?? defaults.timedSteps }
    var warmupSteps: Int { warmup ?? defaults.warmupSteps }
    var batchNormSync: BatchNormSync { bnSync ?? defaults.batchNormSync }
    var bucketBytes: Int { bucketMb.map { Int($0 * 1_048_576) } ?? defaults.bucketBytes }

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
                throw ValidationError("--peak-size must be between 16 and 8192, got \(peakSize) (the default \(PeakReport.defaultSize) takes about a second)")
            }
        }
        if !benchesModel {
            let unused = [("--batch-size", batchSize != nil), ("--steps", steps != nil), ("--warmup", warmup != nil),
                          ("--profile", profile), ("--bn-sync", bnSync != nil), ("--bucket-mb", bucketMb != nil),
                          ("--allreduce-dtype", allreduceDtype != nil)]
                .filter(\.1).map(\.0)
            if !unused.isEmpty {
                throw ValidationError("\(unused.joined(separator: ", ")) would do nothing: --peak without a model measures only "
                                      + "the peak; add --model NAME to bench a model after it")
            }
        }
    }

    func run() throws {
        let communicator = Launch.communicator()
        try Launch.run(communicator, exitStatus: { ExitStatus.of($0).rawValue }) {
            var sgemmPeak: Double?
            if peak {
                guard communicator.size == 1 else {
                    throw ValidationError("--peak measures the cores of one process: run it without mpirun")
                }
                let report = try PeakReport.measure(size: peakSize ?? PeakReport.defaultSize, threads: threads)
                report.lines.forEach { print($0) }
                sgemmPeak = report.sgemm[threads]
            }
            guard benchesModel else { return }
            var benchmark = Benchmark(model: try options.configuration())
            benchmark.batch = batch
            benchmark.threads = threads
            benchmark.warmupSteps = warmupSteps
            benchmark.timedSteps = timedSteps
            benchmark.profile = profile
            benchmark.batchNormSync = batchNormSync
            benchmark.bucketBytes = bucketBytes
            benchmark.allReduceDataType = allreduceDtype ?? .fp32
            try benchmark.run(on: communicator, sgemmPeak: sgemmPeak).forEach { print($0) }
        }
    }
}

/// The defaults `bench`'s help shows, from `Benchmark` (the model does not matter for them).
private var defaults: Benchmark { Benchmark(model: TrainingConfiguration.defaults.model) }
