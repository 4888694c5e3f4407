import CBLAS
#if canImport(Glibc)
import Glibc
#endif

/// Which OpenBLAS kernels run the engine's `sgemm` calls.
///
/// OpenBLAS picks its kernel family once, when the library is loaded, from the CPU (or from the
/// environment variable `OPENBLAS_CORETYPE`, which overrides the detection). Benchmarks print it,
/// because the same binary runs at different speeds with AVX2 (`Haswell`, `Zen`) and AVX-512
/// (`SkylakeX`, `Cooperlake`) kernels.
public enum BLASKernels {
    /// The kernel family OpenBLAS chose in this process (e.g. `Haswell`, `Cooperlake`).
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// `coreName`, followed by "(set by OPENBLAS_CORETYPE)" when the environment chose it rather
    /// than OpenBLAS's CPU detection: such a setting can hold back a CPU with wider vectors.
    public static var summary: String {
        getenv("OPENBLAS_CORETYPE") == nil ? coreName : "\(coreName) (set by OPENBLAS_CORETYPE)"
    }
}
