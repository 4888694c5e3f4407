/// Eight-lane float vectors for the element-wise kernels. Loops over a plane run eight elements
/// at a time through these and finish the remainder with scalars, so the compiler emits AVX
/// code without needing to reassociate float reductions itself.
typealias Float8 = SIMD8<Float>

extension UnsafePointer where Pointee == Float {
    /// Loads eight floats starting at `self + offset` (no alignment needed).
    @inline(__always)
    func load8(_ offset: Int) -> Float8 {
        UnsafeRawPointer(self + offset).loadUnaligned(as: Float8.self)
    }
}

extension UnsafeMutablePointer where Pointee == Float {
    /// Loads eight floats starting at `self + offset` (no alignment needed).
    @inline(__always)
    func load8(_ offset: Int) -> Float8 {
        UnsafeRawPointer(self + offset).loadUnaligned(as: Float8.self)
    }

    /// Stores eight floats starting at `self + offset` (no alignment needed).
    @inline(__always)
    func store8(_ v: Float8, _ offset: Int) {
        UnsafeMutableRawPointer(self + offset).storeBytes(of: v, as: Float8.self)
    }
}

/// `max(0, v)` lane by lane (the standard library's generic `pointwiseMax` is not inlined).
@inline(__always)
func rectify(_ v: Float8) -> Float8 {
    v.replacing(with: 0, where: v .< 0)
}
