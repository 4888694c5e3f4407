import TestSupport
import XCTest
@testable import Engine

/// Checks the 1×1 weight and bias gradient (`PointwiseConvolution.weightGradient`, on
/// `ChannelProducts`) against a naive Double sum, with every kernel set this CPU runs: channel
/// counts past every remainder of the 4 × 4 (or 4 × 2) register tiles, pixel counts that do and do
/// not fill a vector, one and several samples per call, multi-segment inputs with and without the
/// fused BN-ReLU, both accumulate modes, scratch full of NaN and guards after every output.
final class PointwiseWeightGradientTests: XCTestCase, KernelTestCase {
    /// `|engine − reference| ≤ tolerance · (1 + Σ|terms|)`.
    let tolerance = 1e-5

    typealias Case = ConvolutionCase

    func check(_ c: Case, rng: inout TestRandom, file: StaticString = #filePath, line: UInt = #line) {
        let inChannels = c.segments.reduce(0, +)
        let g = ConvolutionGeometry(inChannels: inChannels, outChannels: c.outChannels, kernel: 1, stride: 1,
                                    padding: 0, inHeight: c.height, inWidth: c.width)
        let inputs = ConvolutionReferenceTests.SegmentStorage.random(
            batch: c.batch, segments: c.segments, height: c.height, width: c.width, rng: &rng)
        let dy = ConvolutionReferenceTests.SegmentStorage.random(
            batch: c.batch, segments: [c.outChannels], height: c.height, width: c.width, rng: &rng)[0]
        let scaleValues = rng.floats(inChannels, 0.5, 1.5), shiftValues = rng.floats(inChannels, -0.3, 0.3)
        let scale = FloatBuffer(count: inChannels), shift = FloatBuffer(count: inChannels)
        scale.copy(from: scaleValues); shift.copy(from: shiftValues)
        let activation = c.activation ? InputActivation(scale: scale.pointer, shift: shift.pointer) : nil
        let weightBefore = rng.floats(g.weightCount), biasBefore = rng.floats(c.outChannels)

        // dW[o][i] = Σ_n Σ_p dy[n][o][p] · z[n][i][p], db[o] = Σ dy[n][o].
        let x = inputs.map(\.view), plane = c.height * c.width
        var weight = [Double](repeating: 0, count: g.weightCount), weightMagnitude = weight
        var bias = [Double](repeating: 0, count: c.outChannels), biasMagnitude = bias
        for n in 0..<c.batch {
            for o in 0..<c.outChannels {
                for p in 0..<plane {
                    let d = Double(dy.view.plane(n, o)[p])
                    bias[o] += d
                    biasMagnitude[o] += abs(d)
                    for i in 0..<inChannels {
                        let term = d * ConvolutionReferenceTests.referenceInput(
                            x, n, i, p / c.width, p % c.width,
                            activation: c.activation ? (scaleValues, shiftValues) : nil)
                        weight[o * inChannels + i] += term
                        weightMagnitude[o * inChannels + i] += abs(term)
                    }
                }
            }
        }
        if c.accumulate {
            for i in weight.indices { weight[i] += Double(weightBefore[i]); weightMagnitude[i] += abs(Double(weightBefore[i])) }
            for i in bias.indices { bias[i] += Double(biasBefore[i]); biasMagnitude[i] += abs(Double(biasBefore[i])) }
        }

        var groupings = [(0..<c.batch).map { $0..<$0 + 1 }]
        if c.batch > 1 { groupings.append([0..<c.batch]) }
        for kernels in kernelSets {
            for groups in groupings {
                let scratchCount = PointwiseConvolution.weightGradientScratchCount(g, samples: groups.map(\.count).max()!)
                let scratch = guarded(scratchCount, fill: .nan)
                let dw = guarded(g.weightCount, fill: .nan), db = guarded(c.outChannels, fill: .nan)
                if c.accumulate {
                    dw.pointer.update(from: weightBefore, count: g.weightCount)
                    db.pointer.update(from: biasBefore, count: c.outChannels)
                }
                for (k, samples) in groups.enumerated() {
                    PointwiseConvolution.weightGradient(
                        samples: samples, input: x, geometry: g, activation: activation, outputGradient: dy.view,
                        weightGradient: dw.pointer, biasGradient: c.bias ? db.pointer : nil,
                        accumulate: c.accumulate || k > 0, scratch: scratch.pointer, kernels: kernels)
                }
                let what = "\(c) \(kernels) groups \(groups)"
                expectGuards(scratch, after: scratchCount, "\(what) scratch", file: file, line: line)
                expectGuards(dw, after: g.weightCount, "\(what) weight gradient", file: file, line: line)
                expectGuards(db, after: c.outChannels, "\(what) bias gradient", file: file, line: line)
                var failures = 0
                func expect(_ name: String, _ actual: Float, _ expected: Double, _ magnitude: Double) {
                    if !(abs(Double(actual) - expected) <= tolerance * (1 + magnitude)) {
                        failures += 1
                        if failures <= 5 {
                            XCTFail("\(what): \(name): engine \(actual), reference \(expected)", file: file, line: line)
                        }
                    }
                }
                for i in weight.indices { expect("dW[\(i)]", dw.pointer[i], weight[i], weightMagnitude[i]) }
                for i in 0..<c.outChannels {
                    if c.bias {
                        expect("db[\(i)]", db.pointer[i], bias[i], biasMagnitude[i])
                    } else {
                        XCTAssertEqual(db.pointer[i].bitPattern, (c.accumulate ? biasBefore[i] : .nan).bitPattern,
                                       "\(what): bias gradient \(i) written without a bias", file: file, line: line)
                    }
                }
            }
        }
    }

    func testWeightGradientMatchesReferenceOnRandomShapes() {
        // Output channels 1–9 and input channels 1–11 against the 4 × 4 and 4 × 2 tiles, pixel
        // counts from 1 to 99 (partial vectors), 1–3 samples; the case index picks the flags so
        // that every activation/bias/accumulate mix occurs.
        var rng = TestRandom(seed: 5107)
        for k in 0..<24 {
            let segmentCount = k & 8 != 0 ? 2 : 1
            check(Case(batch: rng.int(1...3), segments: (0..<segmentCount).map { _ in rng.int(1...6) },
                       height: rng.int(1...9), width: rng.int(1...11), outChannels: k % 9 + 1,
                       activation: k & 1 != 0, bias: k & 2 != 0, accumulate: k & 4 != 0), rng: &rng)
        }
    }

    func testWeightGradientMatchesReferenceOnNetworkShapes() {
        // A DenseNet-BC bottleneck (48 out) at 8×8 over three segments, and a separable
        // convolution's pointwise half (24 out) at 16×16.
        var rng = TestRandom(seed: 5108)
        check(Case(batch: 3, segments: [24, 12, 5], height: 8, width: 8, outChannels: 48,
                   activation: true, bias: false, accumulate: false), rng: &rng)
        check(Case(batch: 2, segments: [13], height: 16, width: 16, outChannels: 24,
                   activation: true, bias: true, accumulate: true), rng: &rng)
    }
}
