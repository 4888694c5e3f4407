import TestSupport
import XCTest
@testable import Engine

/// Finite-difference gradient checks of `ConvolutionLayer` (and so of `Convolution.forward/backward`,
/// im2col/col2im and the fused BN-ReLU) through small single-layer networks. The objective is
/// `L = Σ r·y`; see `GradientCheck.swift` for the tolerance.
final class ConvolutionTests: XCTestCase {
    /// Builds `sources → conv` where each input segment is a free source value (produced by a
    /// throw-away 1×1 convolution of the network input), fills the sources and checks the
    /// gradients of every segment and every parameter of the convolution.
    @discardableResult
    func checkConvolution(segments: [Int], height: Int, width: Int, outChannels: Int, kernel: Int, stride: Int,
                          padding: Int? = nil, bias: Bool, preactivation: Bool = false, batch: Int = 2,
                          threads: Int = 2, seed: UInt64 = 1,
                          file: StaticString = #filePath, line: UInt = #line) -> [GradientCheckResult] {
        var rng = TestRandom(seed: seed &+ 1000)
        let h = GraphHarness(input: TensorShape(channels: 2, height: height, width: width),
                             pointwiseSources: segments.enumerated().map { ("source\($0)", $1) }, batch: batch,
                             threads: threads, seed: seed, fill: preactivation ? .mirrored : .uniform(), rng: &rng) {
            $0.convolution($1, outChannels: outChannels, kernel: kernel, stride: stride, padding: padding,
                           bias: bias, preactivation: preactivation, name: "conv")
        }
        if preactivation { h.setNormParameters("conv.norm", channels: segments.reduce(0, +), rng: &rng) }
        if bias { h.setParameter("conv.bias", rng.floats(outChannels, -0.5, 0.5)) }
        let results = h.checkAll(sourceNames: segments.indices.map { "input segment \($0)" }, file: file, line: line)
        var expected = ["conv.weight"] + (bias ? ["conv.bias"] : []) + (preactivation ? ["conv.norm.weight", "conv.norm.bias"] : [])
        expected += segments.indices.map { "input segment \($0)" }
        XCTAssertEqual(Set(results.map(\.tensor)), Set(expected), file: file, line: line)
        return results
    }

    func testThreeByThreeStrideOneConvolutionGradientsMatchCentralDifference() {
        checkConvolution(segments: [3], height: 6, width: 5, outChannels: 4, kernel: 3, stride: 1, bias: false)
    }

    func testThreeByThreeStrideOneConvolutionWithBiasGradientsMatchCentralDifference() {
        checkConvolution(segments: [3], height: 5, width: 6, outChannels: 4, kernel: 3, stride: 1, bias: true)
    }

    func testStrideTwoThreeByThreeConvolutionGradientsMatchCentralDifference() {
        // Odd and even sizes: 7 → 4 and 6 → 3 with padding 1.
        checkConvolution(segments: [3], height: 7, width: 6, outChannels: 4, kernel: 3, stride: 2, bias: false)
        checkConvolution(segments: [2], height: 6, width: 7, outChannels: 3, kernel: 3, stride: 2, bias: true, batch: 3)
    }

    func testPointwiseConvolutionGradientsMatchCentralDifference() {
        // 1×1 stride 1 padding 0 takes the packing-free `isPointwise` paths forward and backward.
        checkConvolution(segments: [4], height: 4, width: 5, outChannels: 3, kernel: 1, stride: 1, bias: false)
        checkConvolution(segments: [4], height: 5, width: 4, outChannels: 3, kernel: 1, stride: 1, bias: true, batch: 3)
    }

    func testStrideTwoPointwiseConvolutionGradientsMatchCentralDifference() {
        checkConvolution(segments: [3], height: 7, width: 6, outChannels: 4, kernel: 1, stride: 2, bias: false)
        checkConvolution(segments: [3], height: 6, width: 7, outChannels: 4, kernel: 1, stride: 2, bias: true)
    }

    func testConvolutionOverTwoConcatenatedInputsGradientsMatchCentralDifference() {
        checkConvolution(segments: [2, 3], height: 5, width: 6, outChannels: 3, kernel: 3, stride: 1, bias: true)
        checkConvolution(segments: [3, 1], height: 7, width: 7, outChannels: 3, kernel: 3, stride: 2, bias: false)
        // Two segments force the im2col path even for a pointwise kernel.
        checkConvolution(segments: [2, 3], height: 4, width: 5, outChannels: 4, kernel: 1, stride: 1, bias: false)
    }

    func testPreactivatedConvolutionGradientsMatchCentralDifferenceInTrainingMode() {
        // Fused BN-ReLU-conv over two segments: gradients of both raw inputs, γ, β, W and b.
        checkConvolution(segments: [2, 3], height: 4, width: 5, outChannels: 3, kernel: 3, stride: 1,
                         bias: true, preactivation: true)
    }

    func testPreactivatedPointwiseConvolutionGradientsMatchCentralDifferenceInTrainingMode() {
        // The DenseNet bottleneck: BN-ReLU-conv1×1 on one segment (pointwise input-gradient path into scratch).
        checkConvolution(segments: [4], height: 4, width: 4, outChannels: 3, kernel: 1, stride: 1,
                         bias: false, preactivation: true)
    }

    func testPreactivatedStrideTwoConvolutionGradientsMatchCentralDifferenceInTrainingMode() {
        checkConvolution(segments: [3], height: 6, width: 5, outChannels: 2, kernel: 3, stride: 2,
                         bias: false, preactivation: true, batch: 2)
    }

    func testPreactivatedConvolutionReadingNetworkInputStillGetsNormAndWeightGradients() {
        // A conv on `g.input` computes no input gradient, but its fused BN's γ and β still need theirs.
        var rng = TestRandom(seed: 31)
        let h = GraphHarness(networkInput: TensorShape(channels: 3, height: 4, width: 5), batch: 2, fill: .mirrored,
                             rng: &rng) {
            $0.convolution([$0.input], outChannels: 2, kernel: 3, bias: true, preactivation: true, name: "conv")
        }
        h.setNormParameters("conv.norm", channels: 3, rng: &rng)
        let results = h.checkAll()
        XCTAssertEqual(Set(results.map(\.tensor)), ["conv.weight", "conv.bias", "conv.norm.weight", "conv.norm.bias"])
    }

    func testDenseBlockInputSharedByTwoConvolutionsAccumulatesBothGradients() {
        // DenseNet pattern: `a` feeds conv1 and, concatenated with conv1's output, conv2;
        // ∂L/∂a must be the sum over both consumers. Backward runs conv2 first, so conv1 (plain,
        // then preactivated) is the one that must add to, not overwrite, the gradient of `a`.
        for preactivation in [false, true] {
            var rng = TestRandom(seed: 33)
            let h = GraphHarness(input: TensorShape(channels: 2, height: 4, width: 5), pointwiseSources: [("source", 3)],
                                 batch: 2, fill: .mirrored, rng: &rng) { g, sources in
                let a = sources[0]
                let c1 = g.convolution([a], outChannels: 2, kernel: 3, preactivation: preactivation, name: "conv1")
                g.convolution([a, c1], outChannels: 3, kernel: 3, bias: true, name: "conv2")
            }
            if preactivation { h.setNormParameters("conv1.norm", channels: 3, rng: &rng) }
            let results = h.checkAll(sourceNames: ["a"])
            XCTAssertEqual(results.count, 1 + 3 + (preactivation ? 2 : 0))
        }
    }

    func testConvolutionOverNetworkInputAndAnotherValueBackpropagatesIntoTheOtherValue() {
        // `Graph.convolution` marks a conv over [input, other] as needing its input gradient, so
        // `other` must receive ∂L/∂other even though the network input itself has no gradient.
        var rng = TestRandom(seed: 32)
        let h = GraphHarness(input: TensorShape(channels: 2, height: 4, width: 4), pointwiseSources: [("source", 2)],
                             batch: 2, rng: &rng) {
            $0.convolution([$0.input] + $1, outChannels: 3, kernel: 3, name: "conv")
        }
        h.checkAll(sourceNames: ["other"])
    }
}
