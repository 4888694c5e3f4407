#if DDPTRAIN_LIBFUZZER
import CLibFuzzer
#endif
import Foundation

/// A fuzz harness: an executable target under `Tests/Fuzzing/<Harness>/` whose `@main` type
/// conforms, naming itself and the check it runs on one input. The check traps (a failed
/// `precondition`) when the code under test misbehaves.
public protocol FuzzHarness {
    /// The executable's name, for messages (`fuzz-cifar-reader`).
    static var name: String { get }
    /// Checks one input.
    static func test(_ input: UnsafeRawBufferPointer)
}

extension FuzzHarness {
    /// The harness's entry point: starts libFuzzer or replays the named inputs (see `FuzzMain`).
    public static func main() { FuzzMain.run(name: name, test) }
}

/// libFuzzer's per-input entry point: `int LLVMFuzzerTestOneInput(const uint8_t *, size_t)`.
public typealias FuzzTestOneInput = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

/// The one `LLVMFuzzerTestOneInput` of every harness: runs the check `FuzzMain.run` was given on
/// one input (libFuzzer's `main` needs the symbol even though `LLVMFuzzerRunDriver` is handed it
/// too); always returns 0.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let check = FuzzMain.check else { return 0 }
    if let data, size > 0 {
        check(UnsafeRawBufferPointer(start: data, count: size))
    } else {
        check(UnsafeRawBufferPointer(start: nil, count: 0))
    }
    return 0
}

/// How every harness starts.
///
/// SwiftPM renames an executable target's entry point (`-entry-point-function-name
/// <module>_main`) and links with `--defsym main=<module>_main`, which overrides the `main` that
/// `-sanitize=fuzzer` links in, so a harness always starts in `FuzzHarness.main`:
/// - built with `-DDDPTRAIN_LIBFUZZER` (together with `-sanitize=fuzzer,address`, as
///   `Scripts/fuzz.sh` does), `run` hands the process's arguments to libFuzzer's driver;
/// - in ordinary builds (`swift build`, `swift build --build-tests`) it replays the files named
///   on the command line once each, so every harness still compiles and links without the
///   sanitizer, and a corpus or a saved finding can be replayed with a plain debug build.
public enum FuzzMain {
    /// The harness's check, set once by `run` before any input arrives (one harness per process).
    nonisolated(unsafe) static var check: ((UnsafeRawBufferPointer) -> Void)?

    /// Runs libFuzzer (fuzzing build) or replays the named inputs (ordinary build) through
    /// `check`; never returns.
    public static func run(name: String, _ check: @escaping (UnsafeRawBufferPointer) -> Void) -> Never {
        Self.check = check
        #if DDPTRAIN_LIBFUZZER
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzTestOneInput))
        #else
        FuzzReplay.main(harness: name, fuzzTestOneInput)
        #endif
    }
}

/// The stand-in for libFuzzer in ordinary builds: runs a harness once on each input file named
/// on the command line (every regular file directly inside a named directory). A crash in the
/// harness ends the process as it would under libFuzzer, only without the sanitizer's report.
enum FuzzReplay {
    /// Replays the inputs named in `CommandLine.arguments` through `testOneInput` and exits:
    /// 0 when every input ran, 2 for a usage error or an input that cannot be read.
    static func main(harness: String, _ testOneInput: FuzzTestOneInput) -> Never {
        let arguments = CommandLine.arguments.dropFirst()
        if arguments.isEmpty || arguments.contains(where: { $0 == "-h" || $0 == "--help" }) {
            print("""
                usage: \(harness) INPUT-FILE-OR-DIRECTORY…
                This build has no libFuzzer: it runs the harness once on each input and says whether
                all of them ran. Scripts/fuzz.sh builds the fuzzing version (-sanitize=fuzzer,address).
                """)
            exit(arguments.isEmpty ? 2 : 0)
        }
        var ran = 0
        for argument in arguments {
            if argument.hasPrefix("-") {
                print("\(harness): ignoring '\(argument)' (a libFuzzer flag; this build has no libFuzzer)")
                continue
            }
            for path in inputFiles(argument) {
                guard let bytes = FileManager.default.contents(atPath: path) else {
                    print("\(harness): cannot read \(path)")
                    exit(2)
                }
                _ = bytes.withUnsafeBytes { testOneInput($0.bindMemory(to: UInt8.self).baseAddress, $0.count) }
                ran += 1
                print("\(harness): ran \(path) (\(bytes.count) bytes)")
            }
        }
        print("\(harness): \(ran) input(s) ran without a crash")
        exit(0)
    }

    /// `path` itself, or the regular files directly inside it (sorted) when it is a directory.
    static func inputFiles(_ path: String) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            return [path]
        }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.sorted().map { (path as NSString).appendingPathComponent($0) }.filter {
            var nested: ObjCBool = false
            return FileManager.default.fileExists(atPath: $0, isDirectory: &nested) && !nested.boolValue
        }
    }
}
