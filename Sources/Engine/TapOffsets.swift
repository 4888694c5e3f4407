/// Where the taps of a 3×3 kernel (all nine, row by row, or the few of a sub-kernel) lie relative
/// to an output pixel's position in the arrays a micro-kernel reads: `ky·r + kx` on a stride-1
/// padded plane with row stride `r`, or a phase plane and an offset within it for stride 2
/// (`StridedConvolution`). A value type on the stack, handed to the kernels as a pointer, so no
/// call allocates.
struct TapOffsets {
    /// The offsets; taps past the count given at creation are 0.
    private var offsets: (Int, Int, Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0, 0, 0)

    /// The taps of a stride-1 plane with rows `rowStride` floats apart.
    init(rowStride r: Int) {
        self.init { ky, kx in ky * r + kx }
    }

    /// The nine taps `(0, 0), (0, 1), …, (2, 2)` at `offset(ky, kx)`.
    init(_ offset: (_ ky: Int, _ kx: Int) -> Int) {
        self.init(count: 9) { t in offset(t / 3, t % 3) }
    }

    /// `count` (at most 9) taps, tap `t` at `offset(t)`.
    init(count: Int, _ offset: (_ tap: Int) -> Int) {
        precondition(count <= 9, "a 3×3 kernel has at most 9 taps")
        withUnsafeMutableBytes(of: &offsets) { raw in
            let p = raw.bindMemory(to: Int.self)
            for t in 0..<count { p[t] = offset(t) }
        }
    }

    /// Calls `body` with a pointer to the nine offsets.
    func withPointer<R>(_ body: (UnsafePointer<Int>) -> R) -> R {
        withUnsafeBytes(of: offsets) { raw in body(raw.bindMemory(to: Int.self).baseAddress!) }
    }
}
