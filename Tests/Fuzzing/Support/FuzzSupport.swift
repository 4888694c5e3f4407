#if DDPTRAIN_LIBFUZZER
import CLibFuzzer
#endif
import Foundation

/// libFuzzer's per-input entry point: `int LLVMFuzzerTestOneInput(const uint8_t *, size_t)`.
public typealias FuzzTestOneInput = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

/// The `main` of every harness.
///
/// A harness is an executable target under `Tests/Fuzzing/<Harness>/` that defines
/// `LLVMFuzzerTestOneInput` and an `@main` calling `FuzzMain.run`. SwiftPM renames an executable
/// target's entry point (`-entry-point-function-name <module>_main`) and links with
/// `--defsym main=<module>_main`, which overrides the `main` that `-sanitize=fuzzer` links in, so
/// a harness always starts here:
/// - built with `-DDDPTRAIN_LIBFUZZER` (together with `-sanitize=fuzzer,address`, as
///   `Scripts/fuzz.sh` does), `run` hands the process's arguments to libFuzzer's driver;
/// - in ordinary builds (`swift build`, `swift build --build-tests`) it replays the files named
///   on the command line once each, so every harness still compiles and links without the
///   sanitizer, and a corpus or a saved finding can be replayed with a plain debug build.
public enum FuzzMain {
    /// Runs libFuzzer (fuzzing build) or replays the named inputs (ordinary build); never returns.
    public static func run(harness: String, _ testOneInput: FuzzTestOneInput) -> Never {
        #if DDPTRAIN_LIBFUZZER
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, testOneInput))
        #else
        FuzzReplay.main(harness: harness, testOneInput)
        #endif
    }

    /// Calls `body` with libFuzzer's `(data, size)` as a raw buffer (empty for a null pointer).
    public static func withBytes<R>(_ data: UnsafePointer<UInt8>?, _ size: Int,
                                    _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        guard let data, size > 0 else { return try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        return try body(UnsafeRawBufferPointer(start: data, count: size))
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
