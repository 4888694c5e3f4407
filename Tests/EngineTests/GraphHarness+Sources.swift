import TestSupport
import XCTest
@testable import Engine

// The set-ups the layer gradient tests share: a `GraphHarness` over free sources of a given kind,
// filled from the test's own seeded generator, and the batch-norm parameters they draw.

/// How a gradient test fills the free sources of its `GraphHarness`.
enum SourceFill {
    /// `fillUniform` in [lo, hi).
    case uniform(Float = -1, Float = 1)
    /// `fillMirrored`: values that keep a following BN-ReLU clear of its kink.
    case mirrored

    /// Fills `batch` samples of `view` from `rng`, as `fillUniform` or `fillMirrored` would.
    func fill(_ view: TensorView, batch: Int, rng: inout TestRandom) {
        switch self {
        case let .uniform(lo, hi): fillUniform(view, batch: batch, rng: &rng, lo, hi)
        case .mirrored: fillMirrored(view, batch: batch, rng: &rng)
        }
    }
}

extension GraphHarness {
    /// A harness for the layers `layers` adds after one free source of `shape` (a rate-0 dropout
    /// of the input named "source"), the source filled by `fill` from `rng`: the set-up of every
    /// single-input layer's gradient test.
    convenience init(source shape: TensorShape, batch: Int, fill: SourceFill = .uniform(), rng: inout TestRandom,
                     layers: (inout Graph, ValueID) -> Void) {
        var g = Graph(input: shape)
        let source = g.dropout(g.input, rate: 0, name: "source")
        layers(&g, source)
        self.init(graph: g, sources: [source], batch: batch)
        fillSources(fill, rng: &rng)
    }

    /// A harness for the layers `layers` adds directly on the network input of `shape` (which
    /// needs no gradient), the input refilled by `fill` from `rng`: for the tests that parameter
    /// gradients still come out of a layer reading the network input.
    convenience init(networkInput shape: TensorShape, batch: Int, fill: SourceFill = .uniform(), rng: inout TestRandom,
                     layers: (inout Graph) -> Void) {
        var g = Graph(input: shape)
        layers(&g)
        self.init(graph: g, sources: [g.input], batch: batch)
        fillSources(fill, rng: &rng)
    }

    /// A harness for the layers `layers` adds after free sources made by 1×1 convolutions of an
    /// input of `shape`, one per `(name, channels)` of `sources`, each filled in turn by `fill`
    /// from `rng`: the set-up of the multi-input gradient tests (concatenations, multi-segment
    /// convolutions and batch norms).
    convenience init(input shape: TensorShape, pointwiseSources sources: [(name: String, channels: Int)], batch: Int,
                     threads: Int = 2, seed: UInt64 = 1, fill: SourceFill = .uniform(), rng: inout TestRandom,
                     layers: (inout Graph, [ValueID]) -> Void) {
        var g = Graph(input: shape)
        let values = sources.map { g.convolution([g.input], outChannels: $0.channels, kernel: 1, name: $0.name) }
        layers(&g, values)
        self.init(graph: g, sources: values, batch: batch, threads: threads, seed: seed)
        fillSources(fill, rng: &rng)
    }

    /// The first (for the single-source harnesses, the only) source.
    var source: ValueID { sources[0] }

    /// Fills every source, in order, by `fill` from `rng`.
    func fillSources(_ fill: SourceFill, rng: inout TestRandom) {
        for s in sources { fill.fill(view(s), batch: batch, rng: &rng) }
    }

    /// Sets the batch norm `prefix`'s γ (`prefix.weight`) and then β (`prefix.bias`) to `channels`
    /// uniform draws each from `rng`; the default ranges are those that, with `fillMirrored`
    /// input, keep BN-ReLU pre-activations clear of the kink.
    func setNormParameters(_ prefix: String, channels: Int, rng: inout TestRandom,
                           scale: (Float, Float) = (0.6, 1.4), shift: (Float, Float) = (-0.05, 0.05)) {
        setParameter("\(prefix).weight", rng.floats(channels, scale.0, scale.1))
        setParameter("\(prefix).bias", rng.floats(channels, shift.0, shift.1))
    }
}
