// swift-tools-version:6.0
import PackageDescription

/// Release builds of the numeric modules skip overflow and exclusivity checks in hot loops.
let fastMath: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "ddptrain",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "ddptrain", targets: ["ddptrain"]),
        .library(name: "Engine", targets: ["Engine"]),
        .library(name: "Models", targets: ["Models"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // C libraries, through module maps and pkg-config.
        .systemLibrary(
            name: "CBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),

        // The compute core: tensors, kernels (forward and backward), the layer graph, SGD.
        .target(name: "Engine", dependencies: ["CBLAS"], swiftSettings: fastMath),
        // SparseNet, DenseNet and ResNet built from names or flags.
        .target(name: "Models", dependencies: ["Engine"], swiftSettings: fastMath),
        // The command-line tool.
        .executableTarget(
            name: "ddptrain",
            dependencies: [
                "Engine", "Models",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: fastMath
        ),

        .testTarget(name: "EngineTests", dependencies: ["Engine"]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "Engine"]),
    ]
)
