#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Process resource figures for benchmark reports.
public enum ResourceUsage {
    /// The peak resident set size of this process, in MiB (Linux reports `ru_maxrss` in KiB).
    public static var peakResidentMegabytes: Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Int(usage.ru_maxrss) / 1024
    }
}
