import TestSupport
import XCTest
@testable import Engine

// Shared machinery for the engine's gradient tests (the random source is TestSupport's TestRandom): test-data
// builders that keep ReLU pre-activations away from their kink, a central-difference gradient
// checker, and `GraphHarness`, which runs a small `Network` with some of its values treated as
// free inputs ("sources") so that their gradients can be checked too.

// MARK: - Tolerances

/// Step of the central difference `(L(p + h) − L(p − h)) / 2h` (Float forward passes, Double objective).
/// The error is dominated by Float rounding (batch-norm statistics shift every output a little),
/// not by truncation: 2e-2 halves the worst error of 1e-2 and still keeps perturbations smaller
/// than the ReLU margins the data builders guarantee.
let finiteDifferenceStep: Float = 2e-2
/// Accept an analytic gradient `a` against the numerical `n` when
/// `|a − n| ≤ gradientRelativeTolerance · max(|a|, |n|) + gradientAbsoluteTolerance · scale`,
/// where `scale = max(1e-3, largest |analytic| in the tensor)`. The absolute part only keeps
/// near-zero elements (pure noise in Float) from failing. Measured worst error is below 0.25 of the
/// allowance in every test; a gradient 1 % off is rejected (see `GradientCheckerTests`).
let gradientRelativeTolerance = 2e-3
let gradientAbsoluteTolerance = 2e-4
/// Elements sampled per checked tensor (all of them when the tensor is smaller).
let gradientSamplesPerTensor = 20

// MARK: - Test data

/// Fills `batch` samples of `view` so that every channel's values are mirrored around a random
/// per-channel centre: the batch mean is the centre and every normalised value `x̂` has
/// `|x̂| ≥ ~0.2`. Together with |β| ≤ 0.05 and γ ∈ [0.6, 1.4] this keeps every pre-activation of a
/// following BN-ReLU at least ~0.07 away from the kink, more than a perturbation of size
/// `finiteDifferenceStep` of an input (≤ γh/σ ≈ 0.056), of γ (h·|x̂| ≈ 0.03) or of β (h) can move
/// it, so central differences never straddle a kink.
func fillMirrored(_ view: TensorView, batch: Int, rng: inout TestRandom) {
    let m = batch * view.shape.planeSize
    precondition(m % 2 == 0, "mirrored fill needs an even count per channel")
    for c in 0..<view.shape.channels {
        let centre = rng.uniform(-1, 1), spread = rng.uniform(0.5, 2)
        var v: [Float] = []
        for _ in 0..<(m / 2) {
            let magnitude = rng.uniform(0.4, 2)
            v.append(magnitude)
            v.append(-magnitude)
        }
        rng.shuffle(&v)
        for n in 0..<batch {
            let p = view.plane(n, c)
            for i in 0..<view.shape.planeSize { p[i] = centre + spread * v[n * view.shape.planeSize + i] }
        }
    }
}

/// Fills `batch` samples of `view` with uniform values in [lo, hi).
func fillUniform(_ view: TensorView, batch: Int, rng: inout TestRandom, _ lo: Float = -1, _ hi: Float = 1) {
    for n in 0..<batch {
        let p = view.sample(n)
        for i in 0..<view.shape.elementCount { p[i] = rng.uniform(lo, hi) }
    }
}

/// The densely packed contents of the first `batch` samples of `view`.
func contents(_ view: TensorView, batch: Int) -> [Float] {
    var out: [Float] = []
    out.reserveCapacity(batch * view.shape.elementCount)
    for n in 0..<batch {
        let p = view.sample(n)
        for i in 0..<view.shape.elementCount { out.append(p[i]) }
    }
    return out
}

// MARK: - The checker

/// One element whose analytic and numerical gradients disagree.
struct GradientMismatch: CustomStringConvertible {
    var tensor: String
    var index: Int
    var analytic: Double
    var numeric: Double
    var description: String { "\(tensor)[\(index)]: analytic \(analytic), numeric \(numeric)" }
}

/// The outcome of checking one tensor.
struct GradientCheckResult {
    var tensor: String
    var checked: Int
    var mismatches: [GradientMismatch]
    /// max |a − n| / (rtol·max(|a|,|n|) + atol·scale) over the sampled elements; ≤ 1 passes.
    var worstRatio: Double
}

/// Deterministic sample of `samples` indices out of `0..<count`, always including the first and
/// last element (borders are where convolution and pooling bugs live).
func sampledIndices(count: Int, samples: Int = gradientSamplesPerTensor, salt: UInt64 = 0) -> [Int] {
    if count <= samples { return Array(0..<count) }
    var rng = TestRandom(seed: 0xC0FFEE ^ UInt64(count) ^ (salt << 20))
    var chosen: Set<Int> = [0, count - 1]
    while chosen.count < samples { chosen.insert(Int(rng.next() % UInt64(count))) }
    return chosen.sorted()
}

/// Compares `analytic[i]` with the central difference of `objective` in `values[i]` for sampled `i`.
/// `values` is restored afterwards.
func compareWithCentralDifference(
    tensor: String, values: UnsafeMutablePointer<Float>, analytic: [Float],
    step h: Float = finiteDifferenceStep, samples: Int = gradientSamplesPerTensor,
    relativeTolerance: Double = gradientRelativeTolerance,
    absoluteTolerance: Double = gradientAbsoluteTolerance,
    objective: () -> Double
) -> GradientCheckResult {
    // Self-test hook: `GRADCHECK_CORRUPT=1.01 swift test --filter EngineTests` scales every
    // analytic gradient, and every gradient-check test must then fail.
    let corruption = ProcessInfo.processInfo.environment["GRADCHECK_CORRUPT"].flatMap(Float.init) ?? 1
    let analytic = analytic.map { $0 * corruption }
    let scale = max(1e-3, analytic.reduce(0) { max($0, Double(abs($1))) })
    var mismatches: [GradientMismatch] = []
    var worst = 0.0
    let indices = sampledIndices(count: analytic.count, samples: samples, salt: UInt64(tensor.utf8.count))
    for i in indices {
        let original = values[i]
        let up = original + h, down = original - h
        values[i] = up
        let lPlus = objective()
        values[i] = down
        let lMinus = objective()
        values[i] = original
        let numeric = (lPlus - lMinus) / (Double(up) - Double(down))
        let a = Double(analytic[i])
        let allowed = relativeTolerance * max(abs(a), abs(numeric)) + absoluteTolerance * scale
        let error = abs(a - numeric)
        worst = max(worst, error / allowed)
        if !(error <= allowed) {
            mismatches.append(GradientMismatch(tensor: tensor, index: i, analytic: a, numeric: numeric))
        }
    }
    // Leave the network's state as it was before the perturbations.
    _ = objective()
    return GradientCheckResult(tensor: tensor, checked: indices.count, mismatches: mismatches, worstRatio: worst)
}

/// Fails the current test for every mismatch in `result`, and when nothing was checked.
func assertGradientMatches(_ result: GradientCheckResult, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertGreaterThan(result.checked, 0, "\(result.tensor): no elements checked", file: file, line: line)
    if ProcessInfo.processInfo.environment["GRADCHECK_VERBOSE"] != nil {
        print("gradcheck \(result.tensor): \(result.checked) checked, worst error/allowed \(result.worstRatio)")
    }
    for m in result.mismatches.prefix(5) {
        XCTFail("gradient mismatch \(m) (\(result.mismatches.count) of \(result.checked) sampled elements off)",
                file: file, line: line)
    }
}

// MARK: - A network with free input values

/// Runs a small `Network` in training mode with the values in `sources` treated as free inputs:
/// they are filled once by the test and never recomputed (only the layers after the last source
/// run), so their gradients, which the network input lacks, can be checked by perturbing them.
///
/// The scalar objective is either `L = Σ_i r_i · y_i` over the output (`r` fixed, exactly
/// representable weights in [−1, 1), accumulated in Double) or, with `labels`, the mean softmax
/// cross-entropy of the output.
final class GraphHarness {
    let net: Network
    let batch: Int
    let sources: [ValueID]
    /// The first layer that is re-run when evaluating the objective.
    let firstLayer: Int
    /// The weights `r` of the linear objective, one per output element of the batch.
    let weights: [Float]
    /// Labels for the cross-entropy objective (nil: linear objective).
    var labels: [Int32]?
    var smoothing: Float = 0

    /// Builds the network and runs the source-producing layers once. `sources` must be values
    /// produced by the graph's leading layers (or the network input); layers after the last of
    /// them are the ones under test.
    init(graph: Graph, sources: [ValueID], batch: Int, threads: Int = 2, seed: UInt64 = 1) {
        net = Network(graph: graph, maxBatch: batch, pool: ComputePool(threads: threads), seed: seed)
        self.batch = batch
        self.sources = sources
        firstLayer = sources.map(\.index).max() ?? 0
        var rng = TestRandom(seed: seed &+ 77)
        weights = rng.floats(batch * net.outputCount)
        var inputRng = TestRandom(seed: seed &+ 5)
        fillUniform(net.context.view(graph.input), batch: batch, rng: &inputRng)
        // Sets the context's batch and mode, and runs the source layers.
        net.forward(batch: batch, training: true)
    }

    var context: ExecutionContext { net.context }

    func view(_ value: ValueID) -> TensorView { net.context.view(value) }

    /// Runs the layers after the sources and returns the objective.
    func objective() -> Double {
        for layer in net.graph.layers[firstLayer...] { layer.forward(net.context) }
        let y = net.output
        if let labels {
            let result = labels.withUnsafeBufferPointer {
                SoftmaxCrossEntropy.evaluate(logits: y, labels: $0.baseAddress!, batch: batch,
                                             classes: net.outputCount, smoothing: smoothing)
            }
            return result.lossSum / Double(batch)
        }
        var sum = 0.0
        for i in 0..<weights.count { sum += Double(weights[i]) * Double(y[i]) }
        return sum
    }

    /// Evaluates the objective, seeds the output gradient with `∂L/∂y`, zeroes the parameter
    /// gradients and back-propagates. Every other value's gradient is first filled with NaN, as
    /// a previous step might have left it: a layer that adds onto a gradient no one wrote in this
    /// pass, or leaves part of it unwritten, then shows up as NaN in the checked gradients.
    func computeGradients() {
        let out = net.graph.output.index
        for (i, buffer) in net.context.gradients.enumerated() where i != out {
            buffer.pointer.update(repeating: .nan, count: buffer.count)
        }
        _ = objective()
        if let labels {
            _ = labels.withUnsafeBufferPointer { net.loss(labels: $0.baseAddress!, smoothing: smoothing) }
        } else {
            let dy = net.context.gradient(net.graph.output).base
            for i in 0..<weights.count { dy[i] = weights[i] }
        }
        net.zeroParameterGradients()
        net.backward()
    }

    /// The named parameter slot.
    func slot(_ name: String, file: StaticString = #filePath, line: UInt = #line) -> ParameterSlot {
        guard let s = net.parameters.slot(named: name) else {
            XCTFail("no parameter \(name); have \(net.parameters.slots.map(\.declaration.name))", file: file, line: line)
            fatalError()
        }
        return s
    }

    /// Sets a parameter tensor's values.
    func setParameter(_ name: String, _ values: [Float]) {
        let s = slot(name)
        precondition(values.count == s.declaration.count)
        for (i, v) in values.enumerated() { net.parameters.values.pointer[s.offset + i] = v }
    }

    /// Checks the analytic gradient of a source value against central differences.
    /// Call `computeGradients()` first.
    func checkValue(_ value: ValueID, name: String) -> GradientCheckResult {
        let g = net.context.gradient(value)
        let analytic = contents(g, batch: batch)
        // Sources are dense (context values), so the first `batch` samples are contiguous.
        return compareWithCentralDifference(tensor: name, values: net.context.view(value).base, analytic: analytic,
                                            objective: objective)
    }

    /// Checks the analytic gradient of the named parameter. Call `computeGradients()` first.
    func checkParameter(_ name: String) -> GradientCheckResult {
        let s = slot(name)
        let analytic = Array(UnsafeBufferPointer(start: net.parameters.gradients!.pointer + s.offset,
                                                 count: s.declaration.count))
        return compareWithCentralDifference(tensor: name, values: net.parameters.values.pointer + s.offset,
                                            analytic: analytic, objective: objective)
    }

    /// Names of the parameters of the layers under test (those after the sources).
    var parametersUnderTest: [String] {
        net.graph.layers[firstLayer...].flatMap { $0.parameters.map(\.name) }
    }

    /// Computes the gradients and checks every source and every parameter of the layers under
    /// test, failing the current test on any mismatch. Returns the per-tensor results.
    @discardableResult
    func checkAll(sourceNames: [String]? = nil, file: StaticString = #filePath, line: UInt = #line) -> [GradientCheckResult] {
        computeGradients()
        var results: [GradientCheckResult] = []
        for (k, v) in sources.enumerated() where v != net.graph.input {
            results.append(checkValue(v, name: sourceNames?[k] ?? "source\(k)"))
        }
        for name in parametersUnderTest { results.append(checkParameter(name)) }
        for r in results { assertGradientMatches(r, file: file, line: line) }
        return results
    }
}
