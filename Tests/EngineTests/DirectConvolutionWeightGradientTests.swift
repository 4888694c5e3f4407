import TestSupport
import XCTest
@testable import Engine

/// Checks the 3×3 weight and bias gradient, direct (`DirectConvolution.weightGradient`) and
/// Winograd (`WinogradConvolution.weightGradient`), against a naive Double sum over the
/// reference's taps (`ConvolutionReferenceTests.forEachTap`), with every kernel set this CPU runs,
/// one sample per call and several samples per call: widths 1–33,
/// heights 1–9, multi-segment channel-slice inputs and output gradients, with and without the
/// fused BN-ReLU, both accumulate modes, output channel counts with every remainder of the 8- and
/// 4-channel tiles, scratch full of NaN and guards after every output.
final class DirectConvolutionWeightGradientTests: XCTestCase, KernelTestCase {
    /// `|engine − reference| ≤ tolerance · (1 + Σ|terms|)`: float sums of up to ~900 products,
    /// bounded by the sum of their magnitudes (the reference keeps it alongside the sum).
    let tolerance = 1e-5

    typealias Case = ConvolutionCase

    /// The random data of a case and the Double reference gradients, with the sums of magnitudes.
    struct Fixture {
        var g: ConvolutionGeometry
        var inputs: [ConvolutionReferenceTests.SegmentStorage]
        var outputGradient: ConvolutionReferenceTests.SegmentStorage
        var scale: FloatBuffer, shift: FloatBuffer
        var activation: InputActivation?
        var weightBefore: [Float], biasBefore: [Float]
        var referenceWeight: [Double], weightMagnitude: [Double]
        var referenceBias: [Double], biasMagnitude: [Double]
    }

    /// Random data for `c` (`poison(k, view)` may edit input segment `k`, or with `k` −1 the
    /// output gradient) and the reference gradients.
    func fixture(_ c: Case, rng: inout TestRandom, poison: ((Int, TensorView) -> Void)? = nil) -> Fixture {
        let inChannels = c.segments.reduce(0, +)
        let g = ConvolutionGeometry(inChannels: inChannels, outChannels: c.outChannels, kernel: 3, stride: 1,
                                    padding: 1, inHeight: c.height, inWidth: c.width)
        let inputs = ConvolutionReferenceTests.SegmentStorage.random(
            batch: c.batch, segments: c.segments, height: c.height, width: c.width, rng: &rng, edit: poison)
        let dy = ConvolutionReferenceTests.SegmentStorage.random(
            batch: c.batch, segments: [c.outChannels], height: c.height, width: c.width, rng: &rng,
            edit: { _, view in poison?(-1, view) })[0]
        let scaleValues = rng.floats(inChannels, 0.5, 1.5), shiftValues = rng.floats(inChannels, -0.3, 0.3)
        let scale = FloatBuffer(count: inChannels), shift = FloatBuffer(count: inChannels)
        scale.copy(from: scaleValues); shift.copy(from: shiftValues)
        let weightBefore = rng.floats(g.weightCount), biasBefore = rng.floats(c.outChannels)

        // dW[o][c][ky][kx] = Σ dy[n][o][oy][ox] · z[n][c][iy][ix] over the taps inside the input.
        var weight = [Double](repeating: 0, count: g.weightCount), weightMagnitude = weight
        var bias = [Double](repeating: 0, count: c.outChannels), biasMagnitude = bias
        let x = inputs.map(\.view), plane = g.outPlane
        func gradient(_ yi: Int) -> Double {
            let n = yi / (c.outChannels * plane), o = yi / plane % c.outChannels
            return Double(dy.view.plane(n, o)[yi % plane])
        }
        ConvolutionReferenceTests.forEachTap(batch: c.batch, geometry: g) { n, yi, ch, wi, iy, ix in
            let term = gradient(yi) * ConvolutionReferenceTests.referenceInput(
                x, n, ch, iy, ix, activation: c.activation ? (scaleValues, shiftValues) : nil)
            weight[wi] += term
            weightMagnitude[wi] += abs(term)
        }
        for yi in 0..<(c.batch * c.outChannels * plane) {
            bias[yi / plane % c.outChannels] += gradient(yi)
            biasMagnitude[yi / plane % c.outChannels] += abs(gradient(yi))
        }
        if c.accumulate {
            for i in weight.indices { weight[i] += Double(weightBefore[i]); weightMagnitude[i] += abs(Double(weightBefore[i])) }
            for i in bias.indices { bias[i] += Double(biasBefore[i]); biasMagnitude[i] += abs(Double(biasBefore[i])) }
        }
        return Fixture(g: g, inputs: inputs, outputGradient: dy, scale: scale, shift: shift,
                       activation: c.activation ? InputActivation(scale: scale.pointer, shift: shift.pointer) : nil,
                       weightBefore: weightBefore, biasBefore: biasBefore, referenceWeight: weight,
                       weightMagnitude: weightMagnitude, referenceBias: bias, biasMagnitude: biasMagnitude)
    }

    /// The weight-gradient kernels: the direct dot products (`ThreeByThreeWeightGradient`) and
    /// outer products (`BroadcastWeightGradient`), each forced, and Winograd.
    enum Kernel: CaseIterable { case direct, broadcast, winograd }

    /// The gradients `kernel` computes with `kernels`, calling it once per group of samples
    /// (`groups` partitions `0..<batch`, in order), after checking that no guard was overwritten.
    func run(_ c: Case, _ f: Fixture, kernel: Kernel = .direct, kernels: KernelSet, groups: [Range<Int>],
             file: StaticString = #filePath, line: UInt = #line) -> (weight: [Float], bias: [Float]) {
        let g = f.g
        let largest = groups.map(\.count).max()!
        let scratchCount = kernel == .winograd ? WinogradConvolution.weightGradientScratchCount(g, samples: largest)
            : DirectConvolution.weightGradientScratchCount(g, samples: largest)
        // Scratch as a reused panel leaves it: NaN, so an element read before it is written shows.
        let scratch = guarded(scratchCount, fill: .nan)
        // Gradients to add to, or NaN where they must be overwritten; guards after both.
        let dw = guarded(g.weightCount, fill: .nan), db = guarded(c.outChannels, fill: .nan)
        if c.accumulate {
            dw.pointer.update(from: f.weightBefore, count: g.weightCount)
            db.pointer.update(from: f.biasBefore, count: c.outChannels)
        }
        for (k, samples) in groups.enumerated() {
            let accumulate = c.accumulate || k > 0
            if kernel == .winograd {
                WinogradConvolution.weightGradient(
                    samples: samples, input: f.inputs.map(\.view), geometry: g, activation: f.activation,
                    outputGradient: f.outputGradient.view, weightGradient: dw.pointer,
                    biasGradient: c.bias ? db.pointer : nil, accumulate: accumulate, scratch: scratch.pointer,
                    kernels: kernels)
            } else if samples.count == 1 && kernel == .direct {
                // The one-sample entry point follows the kernel set's rule; the direct dot
                // products are forced through the `samples:` one below on the other calls.
                DirectConvolution.weightGradient(
                    sample: samples.lowerBound, input: f.inputs.map(\.view), geometry: g, activation: f.activation,
                    outputGradient: f.outputGradient.view, weightGradient: dw.pointer,
                    biasGradient: c.bias ? db.pointer : nil, accumulate: accumulate, scratch: scratch.pointer,
                    kernels: kernels)
            } else {
                DirectConvolution.weightGradient(
                    samples: samples, input: f.inputs.map(\.view), geometry: g, activation: f.activation,
                    outputGradient: f.outputGradient.view, weightGradient: dw.pointer,
                    biasGradient: c.bias ? db.pointer : nil, accumulate: accumulate, scratch: scratch.pointer,
                    kernels: kernels, broadcast: kernel == .broadcast)
            }
        }
        expectGuards(scratch, after: scratchCount, "\(c) \(kernel) \(kernels) scratch", file: file, line: line)
        expectGuards(dw, after: g.weightCount, "\(c) \(kernels) weight gradient", file: file, line: line)
        expectGuards(db, after: c.outChannels, "\(c) \(kernels) bias gradient", file: file, line: line)
        if !c.bias {
            for i in 0..<c.outChannels {
                XCTAssertEqual(db.pointer[i].bitPattern, (c.accumulate ? f.biasBefore[i] : .nan).bitPattern,
                               "\(c) \(kernels): bias gradient \(i) written without a bias", file: file, line: line)
            }
        }
        return (Array(dw.toArray()[0..<g.weightCount]), Array(db.toArray()[0..<c.outChannels]))
    }

    /// Runs `c` with both kernels and every kernel set, one sample per call and all samples in one
    /// call, and reports the first few disagreements with the reference.
    func check(_ c: Case, rng: inout TestRandom, file: StaticString = #filePath, line: UInt = #line) {
        let f = fixture(c, rng: &rng)
        var groupings = [(0..<c.batch).map { $0..<$0 + 1 }]
        if c.batch > 1 { groupings.append([0..<c.batch]) }
        if c.batch > 2 { groupings.append([0..<1, 1..<c.batch]) }
        for kernel in Kernel.allCases {
            for kernels in kernelSets {
                for groups in groupings {
                    let (weight, bias) = run(c, f, kernel: kernel, kernels: kernels, groups: groups, file: file, line: line)
                    var failures = 0
                    func expect(_ what: String, _ actual: Float, _ expected: Double, _ magnitude: Double) {
                        if !(abs(Double(actual) - expected) <= tolerance * (1 + magnitude)) {
                            failures += 1
                            if failures <= 5 {
                                XCTFail("\(c) \(kernel) \(kernels) groups \(groups): \(what): engine \(actual), reference \(expected)",
                                        file: file, line: line)
                            }
                        }
                    }
                    for i in weight.indices { expect("dW[\(i)]", weight[i], f.referenceWeight[i], f.weightMagnitude[i]) }
                    if c.bias {
                        for i in bias.indices { expect("db[\(i)]", bias[i], f.referenceBias[i], f.biasMagnitude[i]) }
                    }
                }
            }
        }
    }

    func testWeightGradientMatchesReferenceOnEveryWidth() {
        // Widths 1–33, each with a random height 1–9 and 1–3 samples; the width's low bits pick
        // the activation, accumulate and multi-segment flags, and its remainder mod 8 that of the
        // 1–16 output channels against the 8- and 4-channel tiles, so every combination occurs.
        var rng = TestRandom(seed: 1103)
        var remainders = Set<Int>(), flags = Set<String>()
        for width in 1...33 {
            let segmentCount = width & 4 != 0 ? rng.int(2...3) : 1
            let c = Case(batch: rng.int(1...3), segments: (0..<segmentCount).map { _ in rng.int(1...4) },
                         height: rng.int(1...9), width: width, outChannels: (width + 7) % 8 + 1 + 8 * rng.int(0...1),
                         activation: width & 1 != 0, bias: rng.bool(), accumulate: width & 2 != 0)
            remainders.insert(c.outChannels % 8)
            flags.insert("act \(c.activation) accumulate \(c.accumulate) multi \(segmentCount > 1)")
            check(c, rng: &rng)
        }
        // The draw reached every channel remainder and every activation/accumulate/segment mix.
        XCTAssertEqual(remainders.count, 8, "remainders: \(remainders.sorted())")
        XCTAssertEqual(flags.count, 8, "\(flags.sorted())")
    }

    func testWeightGradientMatchesReferenceWithManyChannels() {
        // Input channels past the 8- and 4-input tiles (8 + 4 + 1 = 13, 8 + 8 + 3 = 19) and
        // output channels in whole pairs of broadcast blocks, a pair and one block, and a pair and
        // a padded block.
        var rng = TestRandom(seed: 4021)
        for (segments, out, side) in [([13], 32, 6), ([11, 8], 48, 5), ([5, 4], 40, 7), ([3], 64, 4)] {
            check(Case(batch: 2, segments: segments, height: side, width: side + 1, outChannels: out,
                       activation: true, bias: true, accumulate: out == 48), rng: &rng)
        }
    }

    func testWeightGradientMatchesReferenceOnNetworkStageShapes() {
        // The CIFAR stages' sides 32, 16 and 8 with DenseNet-like (12 out) and ResNet-like channels.
        var rng = TestRandom(seed: 77)
        for (side, segments, out, batch) in [(32, [3, 2], 12, 1), (16, [7, 2, 3], 12, 2), (8, [9, 4], 16, 3),
                                             (8, [5], 8, 4), (16, [4], 4, 1)] {
            check(Case(batch: batch, segments: segments, height: side, width: side, outChannels: out,
                       activation: true, bias: true, accumulate: false), rng: &rng)
        }
    }

    func testNaNInInputOrOutputGradientPoisonsTheSameGradientsAsIm2col() {
        // A NaN at an interior input pixel makes all 9 taps of its channel NaN for every output
        // channel; a NaN in the output gradient makes its output channel's weight and bias
        // gradients NaN. Nothing else becomes NaN, as with im2col + sgemm.
        var rng = TestRandom(seed: 9)
        for (target, activation) in [(1, false), (1, true), (-1, true)] {
            let c = Case(batch: 2, segments: [2, 1], height: 5, width: 11, outChannels: 5,
                         activation: activation, bias: true, accumulate: false)
            let f = fixture(c, rng: &rng, poison: { segment, view in
                // Segment 1 (channel 2) or the output gradient's channel 3, sample 1, pixel (2, 6).
                if segment == target { view.plane(1, target == 1 ? 0 : 3)[2 * 11 + 6] = .nan }
            })
            // im2col + sgemm on the same data.
            let g = f.g
            let col = FloatBuffer(count: g.patchSize * g.outPlane)
            let dw = FloatBuffer(count: g.weightCount), db = FloatBuffer(count: c.outChannels)
            for n in 0..<c.batch {
                Convolution.backward(sample: n, input: f.inputs.map(\.view), geometry: g, activation: f.activation,
                                     weight: dw.pointer, outputGradient: f.outputGradient.view,
                                     weightGradient: dw.pointer, biasGradient: db.pointer, accumulateWeights: n > 0,
                                     inputGradient: nil, accumulateInput: false, col: col.pointer, dcol: col.pointer)
            }
            for kernel in Kernel.allCases {
                for kernels in kernelSets {
                    let (weight, bias) = run(c, f, kernel: kernel, kernels: kernels, groups: [0..<1, 1..<2])
                    let what = "\(kernel) \(kernels) target \(target)"
                    var nanCount = 0
                    for i in weight.indices {
                        XCTAssertEqual(weight[i].isNaN, dw.pointer[i].isNaN, "\(what) dW[\(i)]")
                        if weight[i].isNaN { nanCount += 1 }
                    }
                    for i in bias.indices {
                        XCTAssertEqual(bias[i].isNaN, db.pointer[i].isNaN, "\(what) db[\(i)]")
                    }
                    // Input channel 2 of all 5 output channels, or output channel 3 over all 3 inputs.
                    XCTAssertEqual(nanCount, target == 1 ? 5 * 9 : 3 * 9, what)
                }
            }
        }
    }
}
