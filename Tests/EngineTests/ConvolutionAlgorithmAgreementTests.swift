import TestSupport
import XCTest
@testable import Engine

/// Runs the same small networks with the engine's own kernels (direct, Winograd where its rule
/// picks it: these layers sum 7–13 channels, and Winograd in every direction) and with im2col +
/// `sgemm`, with
/// uneven per-worker sample ranges (so the weight gradient's sample groups, worker partials and
/// accumulate flags are all exercised), and compares every parameter and input gradient.
final class ConvolutionAlgorithmAgreementTests: XCTestCase {
    /// Float sums in different orders over at most a few thousand products.
    let tolerance: Float = 2e-4

    /// `sources → conv` (as in `ConvolutionTests`) built with `algorithm`; returns the gradients of
    /// the convolution's parameters and of the source values after one backward pass.
    func gradients(_ algorithm: ConvolutionAlgorithm, segments: [Int], side: Int, outChannels: Int, kernel: Int,
                   stride: Int, preactivation: Bool, bias: Bool, batch: Int, threads: Int) -> [String: [Float]] {
        var g = Graph(input: TensorShape(channels: 2, height: side, width: side))
        var sources: [ValueID] = []
        for (k, channels) in segments.enumerated() {
            sources.append(g.convolution([g.input], outChannels: channels, kernel: 1, name: "source\(k)"))
        }
        g.convolutionAlgorithm = algorithm
        g.convolution(sources, outChannels: outChannels, kernel: kernel, stride: stride, bias: bias,
                      preactivation: preactivation, name: "conv")
        let h = GraphHarness(graph: g, sources: sources, batch: batch, threads: threads, seed: 3)
        var rng = TestRandom(seed: 11)
        for s in sources { fillUniform(h.view(s), batch: batch, rng: &rng) }
        h.computeGradients()
        var result: [String: [Float]] = [:]
        for slot in h.net.parameters.slots where slot.declaration.name.hasPrefix("conv") {
            result[slot.declaration.name] = Array(UnsafeBufferPointer(start: h.net.parameters.gradients!.pointer + slot.offset,
                                                                      count: slot.declaration.count))
        }
        for (k, s) in sources.enumerated() {
            let v = h.context.gradient(s)
            result["source\(k)"] = Array(UnsafeBufferPointer(start: v.base, count: batch * v.shape.elementCount))
        }
        return result
    }

    func check(segments: [Int], side: Int, outChannels: Int, kernel: Int, stride: Int = 1, preactivation: Bool,
               bias: Bool, batch: Int, threads: Int, file: StaticString = #filePath, line: UInt = #line) {
        let reference = gradients(.im2col, segments: segments, side: side, outChannels: outChannels, kernel: kernel,
                                  stride: stride, preactivation: preactivation, bias: bias, batch: batch,
                                  threads: threads)
        for algorithm in [ConvolutionAlgorithm.direct, .winograd, .winogradAll] {
            let own = gradients(algorithm, segments: segments, side: side, outChannels: outChannels, kernel: kernel,
                                stride: stride, preactivation: preactivation, bias: bias, batch: batch,
                                threads: threads)
            XCTAssertEqual(Set(own.keys), Set(reference.keys), file: file, line: line)
            for (name, expected) in reference {
                guard let actual = own[name], actual.count == expected.count else {
                    XCTFail("\(algorithm) \(name): missing or mis-sized", file: file, line: line)
                    continue
                }
                let scale = max(1, expected.map(abs).max() ?? 1)
                let worst = zip(actual, expected).map { abs($0 - $1) }.max() ?? 0
                XCTAssertLessThanOrEqual(worst, tolerance * scale,
                                         "\(algorithm) \(kernel)×\(kernel)/\(stride) \(side)² batch \(batch): \(name)",
                                         file: file, line: line)
            }
        }
    }

    func testOwnKernelsAgreeWithIm2colOnThreeByThreeLayers() {
        // 16×16 takes 4 samples per weight-gradient call: 11 samples over 2 workers are groups of
        // 4 + 1 and 4 + 2; 5 samples at 8×8 split 2 + 3.
        check(segments: [3, 4], side: 8, outChannels: 7, kernel: 3, preactivation: true, bias: false, batch: 5, threads: 2)
        check(segments: [5], side: 16, outChannels: 9, kernel: 3, preactivation: false, bias: true, batch: 11, threads: 2)
        check(segments: [4], side: 5, outChannels: 13, kernel: 3, preactivation: false, bias: false, batch: 3, threads: 3)
        check(segments: [2, 3], side: 17, outChannels: 12, kernel: 3, preactivation: true, bias: true, batch: 3, threads: 1)
    }

    func testOwnKernelsAgreeWithIm2colOnStridedThreeByThreeLayers() {
        // 24×24 → 12×12 takes 7 samples per weight-gradient call: 16 samples over 2 workers are
        // groups of 7 + 1 each; 7×7 → 4×4 has phases of unequal size.
        check(segments: [4], side: 16, outChannels: 8, kernel: 3, stride: 2, preactivation: false, bias: false,
              batch: 5, threads: 2)
        check(segments: [3, 2], side: 24, outChannels: 6, kernel: 3, stride: 2, preactivation: true, bias: true,
              batch: 16, threads: 2)
        check(segments: [5], side: 7, outChannels: 13, kernel: 3, stride: 2, preactivation: false, bias: true,
              batch: 3, threads: 3)
    }

    func testOwnKernelsAgreeWithIm2colOnPointwiseLayers() {
        check(segments: [3, 4], side: 8, outChannels: 7, kernel: 1, preactivation: true, bias: false, batch: 5, threads: 2)
        check(segments: [6], side: 4, outChannels: 16, kernel: 1, preactivation: false, bias: true, batch: 3, threads: 2)
    }
}
