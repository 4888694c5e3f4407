import TestSupport
import XCTest
@testable import Engine

/// The gradient checker itself must reject wrong gradients, or every gradient test could pass
/// vacuously.
final class GradientCheckerTests: XCTestCase {
    /// A 3×3 convolution whose true gradients are known to pass.
    func convolutionHarness() -> GraphHarness {
        var rng = TestRandom(seed: 3)
        let h = GraphHarness(source: TensorShape(channels: 2, height: 5, width: 5), batch: 2, rng: &rng) {
            $0.convolution([$1], outChannels: 3, kernel: 3, bias: true, name: "conv")
        }
        h.computeGradients()
        return h
    }

    func analytic(_ h: GraphHarness, _ name: String) -> (UnsafeMutablePointer<Float>, [Float]) {
        let s = h.slot(name)
        return (h.net.parameters.values.pointer + s.offset,
                Array(UnsafeBufferPointer(start: h.net.parameters.gradients!.pointer + s.offset, count: s.declaration.count)))
    }

    func testCheckerAcceptsTheTrueGradient() {
        let h = convolutionHarness()
        let (values, gradient) = analytic(h, "conv.weight")
        let result = compareWithCentralDifference(tensor: "w", values: values, analytic: gradient, objective: h.objective)
        XCTAssertEqual(result.checked, gradientSamplesPerTensor)
        XCTAssertTrue(result.mismatches.isEmpty, "\(result.mismatches)")
    }

    func testCheckerRejectsAGradientThatIsOnePercentTooLarge() {
        let h = convolutionHarness()
        let (values, gradient) = analytic(h, "conv.weight")
        let result = compareWithCentralDifference(tensor: "w", values: values, analytic: gradient.map { $0 * 1.01 },
                                                  objective: h.objective)
        XCTAssertGreaterThanOrEqual(result.mismatches.count, result.checked / 2)
    }

    func testCheckerRejectsASingleWrongElement() {
        let h = convolutionHarness()
        let source = h.sources[0]
        var gradient = contents(h.context.gradient(source), batch: 2)
        let wrong = sampledIndices(count: gradient.count, salt: 1)[3]
        gradient[wrong] += 0.05
        let result = compareWithCentralDifference(tensor: "x", values: h.view(source).base, analytic: gradient,
                                                  objective: h.objective)
        XCTAssertEqual(result.mismatches.map(\.index), [wrong])
    }

    func testCheckerRestoresPerturbedValues() {
        let h = convolutionHarness()
        let (values, gradient) = analytic(h, "conv.weight")
        let before = Array(UnsafeBufferPointer(start: values, count: gradient.count))
        let output = h.objective()
        _ = compareWithCentralDifference(tensor: "w", values: values, analytic: gradient, objective: h.objective)
        XCTAssertEqual(Array(UnsafeBufferPointer(start: values, count: gradient.count)), before)
        XCTAssertEqual(h.objective(), output)
    }

    func testSampledIndicesAreDeterministicAndIncludeBothEnds() {
        let a = sampledIndices(count: 500), b = sampledIndices(count: 500)
        XCTAssertEqual(a, b)
        XCTAssertEqual(a.count, gradientSamplesPerTensor)
        XCTAssertEqual(a.first, 0)
        XCTAssertEqual(a.last, 499)
        XCTAssertEqual(Set(a).count, a.count)
        XCTAssertEqual(sampledIndices(count: 7), Array(0..<7))
    }
}
