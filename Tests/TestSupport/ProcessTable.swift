import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The machine's processes as Linux `/proc` shows them (empty elsewhere), for finding and ending
/// what a test's subprocess started. A process is named by its id and start time together, so a
/// reused id is never signalled.
public enum ProcessTable {
    /// Every process's parent and start time.
    public static func processes() -> [Int32: (parent: Int32, started: UInt64)] {
        var table: [Int32: (parent: Int32, started: UInt64)] = [:]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry),
                  let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            // After "pid (comm) " come the state (field 3), the parent (4), … the start time (22).
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 19, let parent = Int32(fields[1]), let started = UInt64(fields[19]) {
                table[pid] = (parent, started)
            }
        }
        return table
    }

    /// The processes descended from `pid`, with their start times.
    public static func descendants(of pid: Int32) -> [Int32: UInt64] {
        let table = processes()
        var found: [Int32: UInt64] = [:]
        var frontier: Set<Int32> = [pid]
        while !frontier.isEmpty {
            let children = table.filter { frontier.contains($0.value.parent) }
            for (child, info) in children { found[child] = info.started }
            frontier = Set(children.keys)
        }
        return found
    }

    /// The command-line arguments of `pid`, empty when it cannot be read.
    public static func arguments(of pid: Int32) -> [String] {
        guard let raw = try? Foundation.Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline")) else { return [] }
        return raw.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Sends `signal` to each process of `family` that is still the one seen (same start time).
    public static func kill(_ family: [Int32: UInt64], signal: Int32) {
        let table = processes()
        for (pid, started) in family where table[pid]?.started == started { sendSignal(pid, signal) }
    }

    /// `kill(2)`.
    static func sendSignal(_ pid: Int32, _ signal: Int32) {
        #if canImport(Glibc)
        _ = Glibc.kill(pid, signal)
        #else
        _ = Darwin.kill(pid, signal)
        #endif
    }
}
