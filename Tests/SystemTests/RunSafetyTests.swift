import Foundation
import TestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Regression tests for issue 10 ("never lose a run, never crash on input"), one or more per
/// numbered reproduction, run against the release binary as a user would run it. Each test
/// fails on the code before the fixes (c3099e2) and passes after; the number is in each
/// test's comment.
///
/// The tests are one class split by concern over four files, so `--filter RunSafetyTests` runs
/// them all:
/// - this file: the shared set-up and helpers;
/// - RunDirectoryOwnershipTests.swift: one run per directory, the lock, `--overwrite`,
///   superseded checkpoints, output paths (`--step-log`, `--dump-state`) — reproductions 1–3;
/// - CheckpointValidationTests.swift: edited checkpoint metadata, overflowing weights, a failed
///   final checkpoint — reproductions 4, 5 and 8;
/// - ExitStatusTests.swift: sizes, data files, messages, flags that would do nothing and the exit
///   statuses — reproductions 6, 7, 9 and 10.
///
/// Every run is tiny (40 training and 20 test images, resnet-8 with 4 stem channels, one
/// thread), so most launches take a fraction of a second. Launches that could hang, or fill
/// memory on the old code, go through `guarded`, which bounds their time, address space and
/// resident memory, so a regression fails the test instead of hurting the machine. Needs a
/// release build (`swift build -c release --product ddptrain` or `DDPTRAIN_BINARY`) and Open MPI
/// (for `MPIHarness`); without either every test skips.
final class RunSafetyTests: SystemTestCase {
    // MARK: Runs

    /// The tiny data set most tests use: 40 training images (3 steps of batch 16 per epoch), 20 test images.
    func tinyData() throws -> String { try harness.writeDataSet("data", training: 40, test: 20) }

    /// A path in the scratch directory.
    func path(_ name: String) -> String { harness.path(name) }

    /// `train` of `model` (resnet-8; 4 stem channels, one thread, batch 16) on `data` into `run` (a path).
    func train(_ data: String, run: String, epochs: Int = 2, seed: Int = 0, model: String = "resnet-8",
               _ extra: [String] = []) -> [String] {
        ["train", "--model", model, "--stem-channels", "4", "--threads", "1", "--data", data, "--run-dir", run,
         "--epochs", String(epochs), "--batch-size", "16", "--seed", String(seed)] + extra
    }

    /// The checkpoint file name after `step` steps with `epoch` epochs complete.
    static func checkpoint(epoch: Int, step: Int) -> String { CheckpointEndToEndTests.checkpointName(epoch: epoch, step: step) }

    /// A launch's command, status and output, condensed, for failure messages.
    static func report(_ result: MPIHarness.Result) -> String { CheckpointEndToEndTests.report(result) }

    /// Whether the output shows a crash (a Swift runtime failure, a fatal error, a signal's
    /// backtrace) rather than a message.
    static func crashed(_ output: String) -> Bool {
        ["Fatal error", "Program crashed", "Swift runtime failure", "*** Signal", "Backtrace took"].contains { output.contains($0) }
    }

    /// Asserts that `result` exited with `status`, without a crash, and says every one of `phrases`.
    func assertEnds(_ result: MPIHarness.Result, with status: Int32, saying phrases: [String], _ what: String,
                    file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(result.status, status, "\(what): expected exit \(status):\n\(Self.report(result))", file: file, line: line)
        assertSays(result, phrases, what, file: file, line: line)
    }

    /// Asserts that `result` did not crash and says every one of `phrases`.
    func assertSays(_ result: MPIHarness.Result, _ phrases: [String], _ what: String,
                    file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertFalse(Self.crashed(result.output), "\(what): crashed:\n\(Self.report(result))", file: file, line: line)
        for phrase in phrases where !result.output.contains(phrase) {
            XCTFail("\(what): the output does not say '\(phrase)':\n\(Self.report(result))", file: file, line: line)
        }
    }

    /// Asserts that a successful command exited 0.
    func assertSucceeded(_ result: MPIHarness.Result, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(result.status, 0, "\(what) failed:\n\(Self.report(result))", file: file, line: line)
    }

    // MARK: Files

    /// Every file below `directory` (relative path → bytes; directories map to an empty marker),
    /// without the lock file, whose text names the last process that held the directory.
    static func tree(_ directory: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        guard let walker = FileManager.default.enumerator(atPath: directory) else { return out }
        while let relative = walker.nextObject() as? String {
            let full = directory + "/" + relative
            if relative.hasSuffix(".ddptrain.lock") { continue }
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory)
            out[relative + (isDirectory.boolValue ? "/" : "")] = isDirectory.boolValue ? Data() : try Data(contentsOf: URL(fileURLWithPath: full))
        }
        return out
    }

    /// Asserts that `directory` holds exactly `before` (see `tree`), naming what changed.
    func assertUnchanged(_ directory: String, since before: [String: Data], _ what: String,
                         file: StaticString = #filePath, line: UInt = #line) throws {
        let after = try Self.tree(directory)
        let changed = Set(before.keys).union(after.keys).filter { before[$0] != after[$0] }.sorted()
        XCTAssertTrue(changed.isEmpty, "\(what): \(directory) changed: \(changed)", file: file, line: line)
    }

    /// The names in `directory` (empty when it does not exist).
    static func names(_ directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
    }

    /// What `<run>/latest` says, trimmed.
    static func latest(_ run: String) -> String? {
        (try? String(contentsOfFile: run + "/latest", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The first line of `text` that starts with `prefix`, after the prefix.
    static func line(startingWith prefix: String, in text: String) -> String? {
        text.split(separator: "\n").first { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }
    }

    // MARK: Guarded launches

    /// The end of a `guarded` launch.
    struct Guarded {
        var result: MPIHarness.Result
        /// Killed by a signal it did not handle (a crash, or the guard's SIGKILL).
        var signalled: Bool
        /// Why the guard killed it (hung, too much memory), or nil.
        var killed: String?
        /// The largest resident set seen (VmHWM), in MiB.
        var peakMiB: Int
    }

    /// Runs `ddptrain <arguments>` as one process under a hard address-space limit
    /// (`ulimit -v`, default 4 GiB) and kills it when it runs longer than `timeout` seconds or
    /// its resident set exceeds `killAboveMiB`. For commands that hang or fill memory on the old
    /// code: the test then fails instead of waiting two minutes or pushing a shared machine into
    /// swap. Reports the peak resident set (`VmHWM`, polled every 10 ms).
    func guarded(_ arguments: [String], timeout: TimeInterval, addressSpaceGiB: Int = 4, killAboveMiB: Int? = nil) throws -> Guarded {
        let script = "ulimit -v \(addressSpaceGiB * 1_048_576) && exec \"$0\" \"$@\""
        let (arguments, events) = harness.withEventsFile(arguments)
        let job = try startInBackground("/bin/sh", ["-c", script, harness.binary.path] + arguments)
        let pid = job.process.processIdentifier
        let start = Date()
        var peak = 0, killed: String?
        while !job.wait(timeout: 0.01) {
            if let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) {
                func kib(_ key: String) -> Int? {
                    Self.line(startingWith: key + ":", in: status).flatMap {
                        Int($0.trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "")
                    }
                }
                peak = max(peak, (kib("VmHWM") ?? 0) / 1024)
                if let limit = killAboveMiB, let rss = kib("VmRSS"), rss / 1024 > limit {
                    killed = "its resident memory reached \(rss / 1024) MiB, above the \(limit) MiB allowed"
                }
            }
            if killed == nil, Date().timeIntervalSince(start) > timeout { killed = "it did not end within \(Int(timeout)) s" }
            if killed != nil {
                job.killEverything()
                break
            }
        }
        let seconds = Date().timeIntervalSince(start)
        _ = job.wait(timeout: 10)
        let signalled = job.hasExited && job.process.terminationReason == .uncaughtSignal
        let status = job.hasExited ? job.process.terminationStatus : -1
        var output = job.output
        if let killed { output += "\n[test guard: killed because \(killed)]" }
        if signalled { output += "\n[ended by signal \(status)]" }
        let command = (["ddptrain"] + arguments).joined(separator: " ")
        var result = MPIHarness.Result(status: signalled ? 128 + status : status, output: output, seconds: seconds, command: command)
        result.events = events
        return Guarded(result: result, signalled: signalled, killed: killed, peakMiB: peak)
    }
}
