import Foundation
import TestSupport
import XCTest

/// One ddptrain SGD step equals the same step in PyTorch, for a small member of every model family.
///
/// Each test runs `Scripts/pytorch_crosscheck.py`: it writes a CIFAR-format data set whose whole
/// training split is one batch, trains two steps with the release binary (augmentation off, one
/// thread, a checkpoint after every step), loads the step-1 checkpoint (weights, batch-norm running
/// statistics, momentum buffers) into an independent float64 PyTorch model through an explicit name
/// map, takes one step there with `torch.optim.SGD`, and compares the loss, every parameter, every
/// momentum buffer and every running mean and variance with the step-2 checkpoint. It exits 0 when
/// all are within tolerance, 1 naming the worst tensor when not, 2 when it could not compare; the
/// tolerances and their reasons are in the script. Two more tests inject a bug into the reference
/// and check that the comparison catches it, so a passing cross-check means something.
///
/// Needs a release build (`swift build -c release --product ddptrain` or `DDPTRAIN_BINARY`) and a
/// Python that can import torch and numpy: `DDPTRAIN_TORCH_PYTHON` (a path or a command name), else
/// `python3`; plus Python's `zstandard` or the `zstd` command to read checkpoints. Without them
/// every test skips and says what is missing. Every run has `MPIHarness.timeout`.
final class PyTorchCrossCheckTests: XCTestCase {
    static let script = MPIHarness.repository.appendingPathComponent("Scripts/pytorch_crosscheck.py")

    /// The Python to use, or why there is none (probed once per test run: importing torch is slow).
    static let torchPython: (command: [String]?, reason: String) = findTorchPython()

    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("ddptrain-xcheck-\(UUID().uuidString)",
                                                                                   isDirectory: true)
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDown() {
        if let scratch { try? FileManager.default.removeItem(at: scratch) }
        scratch = nil
    }

    // MARK: One test per family

    func testResNetStepMatchesFloat64PyTorchIncludingOptionAShortcut() throws {
        try expectMatch(["--model", "resnet-8", "--stem-channels", "4"])
    }

    func testDenseNetStepMatchesFloat64PyTorch() throws {
        try expectMatch(["--model", "densenet-10-4"])
    }

    func testDenseNetBCStepWithBottleneckAndCompressionMatchesFloat64PyTorch() throws {
        try expectMatch(["--model", "densenet-bc-10-4"])
    }

    /// Three layers per block, so the exponential aggregation (nearest first, offsets 1, 2, 4)
    /// drops the block input at layer 3 and the concatenation order matters.
    func testSparseNetStepWithExponentialAggregationMatchesFloat64PyTorch() throws {
        try expectMatch(["--model", "sparsenet-13-4"])
    }

    func testSparseNetBCStepMatchesFloat64PyTorch() throws {
        try expectMatch(["--model", "sparsenet-bc-16-4"])
    }

    /// SE-ResNet: a squeeze-and-excitation unit on every residual branch (after norm2, before the
    /// sum), ratio 2 so that the hidden layers have 2, 4 and 8 features.
    ///
    /// No SE dense family is checked here: there every consumer of a unit's output is a batch
    /// norm, which is invariant to scaling a channel, so the gradients of the units' biases are
    /// near-zero sums of cancelling terms (momentum buffers of 1e-6 to 1e-4) and their error
    /// relative to the result is ill-conditioned in any float32 engine. Measured 2026-12-07 on
    /// se-densenet-10-4, se-densenet-bc-10-4 and se-sparsenet-13-4 (data seeds 0–3): ddptrain's
    /// worst err/scale on those buffers was 8e-6 to 1.6e-3 against the 2e-5 tolerance, every other
    /// tensor within tolerance; float32 PyTorch's gradients of the same tensors differ from
    /// float64 PyTorch's by 2.4–3.5e-2 of their size.
    func testSEResNetStepMatchesFloat64PyTorch() throws {
        try expectMatch(["--model", "se-resnet-8", "--stem-channels", "4", "--se", "2"])
    }

    /// A separable SparseNet: every layer's 3×3 is a fused BN-ReLU, a depthwise 3×3 over the
    /// concatenated inputs and a pointwise 1×1 (`nn.Conv2d(groups=C)` then 1×1 in PyTorch).
    func testSeparableSparseNetStepMatchesFloat64PyTorch() throws {
        try expectMatch(["--model", "sep-sparsenet-13-4"])
    }

    /// A separable ResNet: the two downsampling 3×3s become stride-2 depthwise convolutions.
    func testSeparableResNetStepWithStrideTwoDepthwiseMatchesFloat64PyTorch() throws {
        try expectMatch(["--model", "resnet-8", "--stem-channels", "4", "--separable"])
    }

    // MARK: The comparison has teeth

    /// A reference whose SparseNet layers concatenate their inputs oldest first is told apart.
    func testCrossCheckCatchesReversedSparseNetAggregationOrder() throws {
        try expectCaught(["--model", "sparsenet-13-4", "--inject-bug", "sparse-aggregation-order"], model: "sparsenet-13-4")
    }

    /// A reference without weight decay is told apart: λ = 1e-4 changes the momentum buffers by
    /// about 8e-3 of their size here, some 400 times the tolerance.
    func testCrossCheckCatchesMissingWeightDecay() throws {
        try expectCaught(["--model", "resnet-8", "--stem-channels", "4", "--inject-bug", "weight-decay"], model: "resnet-8")
    }

    // MARK: Helpers

    func expectMatch(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let result = try crossCheck(arguments)
        XCTAssertEqual(result.status, 0, "the ddptrain step differs from PyTorch's:\n\(result.tail)", file: file, line: line)
        XCTAssertTrue(result.output.contains("PASS "), "no PASS line:\n\(result.tail)", file: file, line: line)
    }

    func expectCaught(_ arguments: [String], model: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let result = try crossCheck(arguments)
        XCTAssertEqual(result.status, 1, "the injected bug was not reported as a numerical mismatch:\n\(result.tail)",
                       file: file, line: line)
        XCTAssertTrue(result.output.contains("FAIL \(model) with injected bug"), "no FAIL line:\n\(result.tail)",
                      file: file, line: line)
    }

    /// Runs the cross-check script with `arguments` (plus the binary and a scratch directory).
    func crossCheck(_ arguments: [String]) throws -> MPIHarness.Result {
        let binary = try TestBinaries.releaseBinary().path
        guard let python = Self.torchPython.command else { throw XCTSkip(Self.torchPython.reason) }
        guard FileManager.default.fileExists(atPath: Self.script.path) else {
            throw XCTSkip("\(Self.script.path) is not present")
        }
        let command = python + [Self.script.path, "--binary", binary, "--work", scratch.appendingPathComponent("work").path,
                                "--timeout", "60"] + arguments
        return try TestProcess.run(command[0], Array(command.dropFirst()), environment: ProcessInfo.processInfo.environment,
                                  directory: scratch, log: scratch.appendingPathComponent("output.log"))
    }

    /// `DDPTRAIN_TORCH_PYTHON` if it can import torch and numpy, else `python3` if it can; and a
    /// checkpoint decoder (Python's zstandard or the zstd command).
    static func findTorchPython() -> (command: [String]?, reason: String) {
        let explicit = ProcessInfo.processInfo.environment["DDPTRAIN_TORCH_PYTHON"].flatMap { $0.isEmpty ? nil : $0 }
        let name = explicit ?? "python3"
        // A path runs as is; a bare command name goes through env, which searches PATH.
        let command = name.contains("/") ? [name] : ["/usr/bin/env", name]
        let directory = FileManager.default.temporaryDirectory
        let probeLog = directory.appendingPathComponent("ddptrain-torch-probe-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: probeLog) }
        func probe(_ code: String) -> Bool {
            let result = try? TestProcess.run(command[0], Array(command.dropFirst()) + ["-c", code],
                                             environment: ProcessInfo.processInfo.environment, directory: directory, log: probeLog)
            return result?.status == 0
        }
        guard probe("import torch, numpy; print(torch.__version__)") else {
            let how = explicit == nil
                ? "python3 cannot import torch and numpy; set DDPTRAIN_TORCH_PYTHON to a Python that can "
                  + "(Scripts/setup.sh's torch_python makes one: a venv with PyTorch's CPU build, NumPy and zstandard)"
                : "DDPTRAIN_TORCH_PYTHON=\(name) cannot import torch and numpy"
            return (nil, "no Python with PyTorch for the cross-check: \(how)")
        }
        guard probe("import zstandard") || TestBinaries.findOnPath("zstd") != nil else {
            return (nil, "reading checkpoints in Python needs the zstandard package (in \(name)) or the zstd command")
        }
        return (command, "")
    }
}
