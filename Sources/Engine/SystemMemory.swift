import Foundation

/// How much memory this machine can give a new allocation, for refusing a model before it is
/// allocated instead of failing half-way (or being killed by the kernel's out-of-memory killer).
public enum SystemMemory {
    /// Bytes available for new allocations without swapping: on Linux the kernel's `MemAvailable`
    /// estimate from `/proc/meminfo`; where that cannot be read, the physical memory from
    /// `sysconf` (an upper bound); nil when neither is known.
    public static func availableBytes() -> Int? {
        if let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
           let bytes = memAvailable(meminfo: text) {
            return bytes
        }
        return physicalBytes()
    }

    /// The `MemAvailable` line of `/proc/meminfo` text (`MemAvailable:   23456789 kB`) in bytes, or
    /// nil when the line is missing, malformed or too large to count.
    public static func memAvailable(meminfo text: String) -> Int? {
        for line in text.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count == 3, fields[0] == "MemAvailable:", fields[2] == "kB",
                  let kibibytes = Int(fields[1]), kibibytes >= 0 else { continue }
            return try? SizeArithmetic.product(kibibytes, 1024)
        }
        return nil
    }

    /// Physical memory from `sysconf`, or nil when it is not reported.
    public static func physicalBytes() -> Int? {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), pageSize = sysconf(Int32(_SC_PAGESIZE))
        guard pages > 0, pageSize > 0 else { return nil }
        return try? SizeArithmetic.product(pages, pageSize)
    }
}
