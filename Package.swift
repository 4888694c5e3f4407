// swift-tools-version:6.0
import PackageDescription

import Foundation

/// The CPU that Swift code is compiled for. The engine's element-wise kernels use 8-lane float
/// vectors, which only become single AVX instructions when the compiler may assume AVX2 and FMA
/// (every x86-64 server since 2013-2015). Set `DDPTRAIN_TARGET_CPU` to another LLVM CPU name
/// (e.g. `x86-64` for very old machines, `znver3`) to override.
#if arch(x86_64)
let targetCPU: String? = ProcessInfo.processInfo.environment["DDPTRAIN_TARGET_CPU"] ?? "haswell"
#else
let targetCPU: String? = ProcessInfo.processInfo.environment["DDPTRAIN_TARGET_CPU"]
#endif

/// Release builds are `-O`: integer overflow traps everywhere except in the measured hot loops
/// that use wrapping operators (`&+`, `&*`) and say why. Dynamic exclusivity checks are off in
/// release builds (the engine's buffers are class-held and checked per access otherwise).
let fastMath: [SwiftSetting] = [
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
    .unsafeFlags(targetCPU.map { ["-target-cpu", $0] } ?? []),
]

/// The AVX-512 kernels' settings: as `fastMath`, for a CPU with AVX-512 F/CD/BW/DQ/VL (Intel
/// since Skylake-SP, AMD since Zen 4). Only code that `KernelSet` runs after a CPUID check is
/// compiled this way, so the binary still starts on an AVX2-only machine.
#if arch(x86_64)
let avx512Math: [SwiftSetting] = [
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
    .unsafeFlags(["-target-cpu", "skylake-avx512"]),
]
#else
let avx512Math = fastMath
#endif

// The C libraries ddptrain links, as `systemLibrary` targets (Sources/<name>/module.modulemap):
// the target, its pkg-config name and the Debian packages that provide it (Scripts/setup.sh
// installs them).
let systemLibraries: [(name: String, pkgConfig: String, debian: [String])] = [
    ("CBLAS", "openblas", ["libopenblas-dev"]),
    ("CZstd", "libzstd", ["libzstd-dev"]),
    ("CPNG", "libpng", ["libpng-dev"]),
    ("CTurboJPEG", "libturbojpeg", ["libturbojpeg0-dev"]),
    ("CMPI", "ompi-c", ["libopenmpi-dev", "openmpi-bin"]),
]

let package = Package(
    name: "ddptrain",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "ddptrain", targets: ["ddptrain"]),
        .library(name: "Engine", targets: ["Engine"]),
        .library(name: "Models", targets: ["Models"]),
        .library(name: "Data", targets: ["Data"]),
        .library(name: "Distributed", targets: ["Distributed"]),
        .library(name: "Checkpoint", targets: ["Checkpoint"]),
        .library(name: "Training", targets: ["Training"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    // C libraries through module maps and pkg-config (`systemLibraries` above), then our modules.
    targets: systemLibraries.map { .systemLibrary(name: $0.name, pkgConfig: $0.pkgConfig, providers: [.apt($0.debian)]) } + [
        // CPUID probes for the kernel set chosen at start-up.
        .target(name: "CPUFeatures"),
        // The convolution micro-kernels, one source compiled once per instruction set: the files
        // of KernelsAVX512 are symbolic links to those of KernelsAVX2 (Docs/architecture.md).
        .target(name: "KernelsAVX2", swiftSettings: fastMath),
        .target(name: "KernelsAVX512", swiftSettings: avx512Math),
        // The compute core: tensors, kernels (forward and backward), the layer graph, SGD.
        .target(name: "Engine", dependencies: ["CBLAS", "CPUFeatures", "KernelsAVX2", "KernelsAVX512"],
                swiftSettings: fastMath),
        // SparseNet, DenseNet and ResNet built from names or flags.
        .target(name: "Models", dependencies: ["Engine"], swiftSettings: fastMath),
        // CIFAR-10 files, normalisation, augmentation and epoch order; PNG and JPEG images.
        .target(name: "Data", dependencies: ["Engine", "CPNG", "CTurboJPEG"], swiftSettings: fastMath),
        // Ranks and collectives: OpenMPI, or a single process through the same interface.
        .target(name: "Distributed", dependencies: ["CMPI", "Engine"], swiftSettings: fastMath),
        // Self-checking zstd checkpoint files and their atomic writer.
        .target(name: "Checkpoint", dependencies: ["CZstd"], swiftSettings: fastMath),
        // The training loop: input pipeline, schedules, evaluation, metrics.
        .target(name: "Training", dependencies: ["Engine", "Models", "Data", "Distributed", "Checkpoint"], swiftSettings: fastMath),
        // The command-line tool.
        .executableTarget(
            name: "ddptrain",
            dependencies: [
                "Models", "Data", "Distributed", "Checkpoint", "Training",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: fastMath
        ),

        // What the test targets share: the one CIFAR-format fixture writer, the seeded random
        // source, and the subprocess runner with a hard timeout.
        .target(name: "TestSupport", dependencies: ["Data"], path: "Tests/TestSupport"),
        // Unit tests, one target per module: in-process and fast (a debug build runs them all).
        .testTarget(name: "EngineTests", dependencies: ["Engine", "TestSupport"]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "Engine", "TestSupport"]),
        .testTarget(name: "DataTests", dependencies: ["Data", "TestSupport"]),
        .testTarget(name: "DistributedTests", dependencies: ["Distributed", "Engine"]),
        .testTarget(name: "CheckpointTests", dependencies: ["Checkpoint", "TestSupport"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Data", "Models", "Engine", "Checkpoint", "TestSupport"]),
        // System tests: they launch the release binary, alone, under mpirun, a simulated cluster,
        // SLURM or next to PyTorch, and skip (saying what is missing) without them.
        .testTarget(name: "SystemTests", dependencies: ["Training", "Models", "Checkpoint", "TestSupport"]),
    ]
)

// libFuzzer harnesses (Tests/Fuzzing/<Harness>/, run by Scripts/fuzz.sh; see Docs/fuzzing.md),
// one executable each. Ordinary builds (`swift build [-c release]`, `swift build --build-tests`)
// compile and link them as small replay tools (about 5 s), so they keep compiling; fuzz.sh builds
// each one alone into .build-fuzz with `--product fuzz-… -Xswiftc -sanitize=fuzzer,address
// -Xswiftc -DDDPTRAIN_LIBFUZZER`, where their `main` starts libFuzzer instead. They are not
// products: nothing outside this package uses them.
let fuzzHarnesses: [(name: String, directory: String, dependencies: [Target.Dependency])] = [
    ("fuzz-checkpoint-decoder", "CheckpointDecoder", ["Checkpoint", "CZstd"]),
    ("fuzz-training-state", "TrainingState", ["Training"]),
    ("fuzz-cifar-reader", "CIFARReader", ["Data"]),
    ("fuzz-model-name", "ModelName", ["Models", "Engine"]),
    ("fuzz-safetensors-decoder", "SafetensorsDecoder", ["Checkpoint"]),
]
package.targets += [
    // libFuzzer's driver entry point (the library comes with -sanitize=fuzzer).
    .systemLibrary(name: "CLibFuzzer", path: "Tests/Fuzzing/CLibFuzzer"),
    .target(name: "FuzzSupport", dependencies: ["CLibFuzzer"], path: "Tests/Fuzzing/Support"),
]
for harness in fuzzHarnesses {
    package.targets.append(.executableTarget(name: harness.name, dependencies: ["FuzzSupport"] + harness.dependencies,
                                             path: "Tests/Fuzzing/\(harness.directory)"))
}
