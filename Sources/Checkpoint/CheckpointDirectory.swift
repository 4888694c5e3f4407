import Foundation

/// The naming of checkpoint files in a run directory, and how to find them again.
///
/// A run directory holds `ckpt-e<epoch>-s<globalStep>.ddpt` files and a small text file
/// `latest` naming the newest complete one. Temporary files of a write in progress, or of one
/// killed mid-way, are hidden (`.<name>.tmp`) and never listed.
public enum CheckpointDirectory {
    /// The name of the file that holds the newest checkpoint's file name.
    public static let latestName = "latest"
    /// The name of the file that holds the file name of the checkpoint with the best test
    /// accuracy so far, which pruning never deletes.
    public static let bestName = "best"
    static let prefix = "ckpt-e"
    static let suffix = ".ddpt"

    /// Checkpoint file names are `ckpt-e<epoch:5>-s<globalStep:9>.ddpt`; newest = highest global step.
    public static func fileName(epoch: Int, globalStep: Int) -> String {
        precondition(epoch >= 0 && globalStep >= 0, "checkpoint epoch \(epoch) and step \(globalStep) must not be negative")
        return prefix + padded(epoch, 5) + "-s" + padded(globalStep, 9) + suffix
    }

    /// Paths of checkpoint files in `directory`, newest first (by the step in the name; for equal
    /// steps, by the epoch). Only names of the `fileName` pattern count: `latest`, temporary files
    /// and anything else in the directory are ignored. Empty if the directory cannot be listed.
    public static func candidates(in directory: String) -> [String] {
        POSIXFile.entries(directory)
            .compactMap { name in parse(name).map { (name: name, epoch: $0.epoch, step: $0.globalStep) } }
            .sorted { ($0.step, $0.epoch, $0.name) > ($1.step, $1.epoch, $1.name) }
            .map { POSIXFile.join(directory, $0.name) }
            .filter { POSIXFile.isRegularFile($0) }
    }

    /// The file `latest` points to, if it exists: its path, or nil when `latest` is missing,
    /// does not hold a plain file name, or names a file that is not there.
    public static func latest(in directory: String) -> String? { pointed(by: latestName, in: directory) }

    /// The file `best` points to, if it exists (as `latest(in:)`).
    public static func best(in directory: String) -> String? { pointed(by: bestName, in: directory) }

    /// For a path to a `latest` or `best` pointer file: the checkpoint it names, or nil when it
    /// names none that exists (nil, too, for any other path).
    public static func pointerTarget(_ path: String) -> String? {
        let name = String(path.split(separator: "/").last ?? ""), directory = (path as NSString).deletingLastPathComponent
        guard name == latestName || name == bestName, POSIXFile.isRegularFile(path) else { return nil }
        return pointed(by: name, in: directory.isEmpty ? "." : directory)
    }

    /// The file the pointer `pointer` in `directory` names, if it exists.
    static func pointed(by pointer: String, in directory: String) -> String? {
        guard let data = try? POSIXFile.readAll(POSIXFile.join(directory, pointer)),
              let text = String(data: data, encoding: .utf8) else { return nil }
        let name = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard isPlainName(name) else { return nil }
        let path = POSIXFile.join(directory, name)
        return POSIXFile.isRegularFile(path) ? path : nil
    }

    /// Whether `name` (a file name, not a path) follows the checkpoint naming pattern.
    public static func isCheckpointName(_ name: String) -> Bool { parse(name) != nil }

    /// The epoch and global step in the name of the checkpoint file at `path`, or nil if its
    /// name does not follow the pattern.
    public static func position(of path: String) -> (epoch: Int, globalStep: Int)? {
        parse(String(path.split(separator: "/").last ?? ""))
    }

    /// The epoch and global step of a checkpoint file name, or nil if `name` is not one.
    static func parse(_ name: String) -> (epoch: Int, globalStep: Int)? {
        guard name.hasPrefix(prefix), name.hasSuffix(suffix) else { return nil }
        let middle = name.dropFirst(prefix.count).dropLast(suffix.count)
        let parts = middle.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[1].hasPrefix("s") else { return nil }
        let epochText = parts[0], stepText = parts[1].dropFirst()
        guard !epochText.isEmpty, !stepText.isEmpty,
              epochText.allSatisfy({ $0.isASCII && $0.isNumber }), stepText.allSatisfy({ $0.isASCII && $0.isNumber }),
              let epoch = Int(epochText), let step = Int(stepText) else { return nil }
        return (epoch, step)
    }

    /// The hidden temporary name a write of `name` goes through.
    static func temporaryName(_ name: String) -> String { "." + name + ".tmp" }

    /// True for a temporary file left by this module's writes: `.<checkpoint name>.tmp`,
    /// `.latest.tmp` or `.best.tmp`.
    static func isTemporary(_ name: String) -> Bool {
        guard name.hasPrefix("."), name.hasSuffix(".tmp") else { return false }
        let inner = String(name.dropFirst().dropLast(4))
        return inner == latestName || inner == bestName || parse(inner) != nil
    }

    /// A name that stays inside the directory and is not one of the writer's own files.
    static func isPlainName(_ name: String) -> Bool {
        !name.isEmpty && !name.contains("/") && !name.hasPrefix(".") && name != latestName && name != bestName && !name.contains("\0")
    }

    private static func padded(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}
