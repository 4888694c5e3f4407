#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A fixed-size, 64-byte aligned, zero-initialised block of `Float`s that owns its memory.
///
/// Every tensor, parameter arena and scratch area in the engine lives in one of these, so hot
/// loops see plain contiguous pointers and never pay for copy-on-write or bounds checks.
public final class FloatBuffer: @unchecked Sendable {
    /// The first element. Valid for `count` elements for the lifetime of the buffer.
    public let pointer: UnsafeMutablePointer<Float>
    /// The number of elements.
    public let count: Int

    /// Allocates `count` zeroed floats aligned to a cache line.
    public init(count: Int) {
        precondition(count >= 0, "FloatBuffer count must not be negative")
        self.count = count
        var raw: UnsafeMutableRawPointer?
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        let status = posix_memalign(&raw, 64, bytes)
        guard status == 0, let raw else {
            fatalError("out of memory allocating \(bytes) bytes")
        }
        memset(raw, 0, bytes)
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    deinit { free(pointer) }

    /// The whole buffer as a buffer pointer.
    public var buffer: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: pointer, count: count)
    }

    /// Sets every element to zero.
    public func zero() { memset(pointer, 0, count * MemoryLayout<Float>.stride) }

    /// Copies the contents out into an array (for tests and serialisation, not hot paths).
    public func toArray() -> [Float] { Array(buffer) }

    /// Overwrites the start of the buffer with `values`.
    public func copy(from values: [Float]) {
        precondition(values.count <= count, "copy of \(values.count) values into a buffer of \(count)")
        values.withUnsafeBufferPointer { src in
            pointer.update(from: src.baseAddress!, count: src.count)
        }
    }
}
