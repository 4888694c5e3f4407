import TestSupport
import XCTest
@testable import Engine

/// The common ground of the convolution kernel tests: the kernel sets this CPU runs, and buffers
/// with sentinel guards after the part a kernel may write, so that a store past a kernel's scratch
/// or output is caught.
protocol KernelTestCase {}

extension KernelTestCase {
    /// The kernel sets this CPU runs (`DirectConvolutionTests.kernelSets` prints when AVX-512 is
    /// absent).
    var kernelSets: [KernelSet] { DirectConvolutionTests.kernelSets }
    /// Floats after a scratch or output that must stay untouched.
    var guardCount: Int { 64 }
    /// What the guards hold.
    var sentinel: Float { -12345 }

    /// A buffer of `count` floats of `fill`, then `guardCount` sentinels.
    func guarded(_ count: Int, fill: Float) -> FloatBuffer {
        let b = FloatBuffer(count: count + guardCount)
        b.pointer.update(repeating: fill, count: count)
        (b.pointer + count).update(repeating: sentinel, count: guardCount)
        return b
    }

    /// Fails, once, unless the `guardCount` floats after the first `count` of `buffer` still hold
    /// the sentinel.
    func expectGuards(_ buffer: FloatBuffer, after count: Int, _ what: String,
                      file: StaticString = #filePath, line: UInt = #line) {
        for i in 0..<guardCount where buffer.pointer[count + i] != sentinel {
            XCTFail("\(what): guard \(i) after \(count) floats overwritten", file: file, line: line)
            return
        }
    }

    /// Packs `weight` transposed into `scratch` (a `guarded` buffer) and runs `kernel`'s input
    /// gradient of `batch` samples of `outputGradient` into `targets`, the last sample first (so a
    /// store into the next sample's gradient is not repaired by computing that sample afterwards),
    /// then checks the scratch's guards.
    func runInputGradient(_ kernel: DirectKernel, weight: UnsafePointer<Float>, outputGradient: TensorView,
                          geometry g: ConvolutionGeometry, segments: [Int], batch: Int, into targets: [TensorView],
                          accumulate: Bool, scratch: FloatBuffer, kernels: KernelSet, _ what: String,
                          file: StaticString = #filePath, line: UInt = #line) {
        kernel.packTransposedWeights(weight, geometry: g, segments: segments, scratch: scratch.pointer, kernels: kernels)
        for n in (0..<batch).reversed() {
            kernel.inputGradient(sample: n, outputGradient: outputGradient, geometry: g, inputGradient: targets,
                                 accumulate: accumulate, scratch: scratch.pointer, kernels: kernels)
        }
        expectGuards(scratch, after: scratch.count - guardCount, what, file: file, line: line)
    }
}
