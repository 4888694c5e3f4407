import Foundation
import XCTest
@testable import Data

/// Small CIFAR-format data made up by the tests: deterministic pixels, files in a fresh
/// temporary directory that is removed when the fixture is deinitialised.
final class CIFARFixture {
    /// The temporary directory the files are written to.
    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("ddptrain-data-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    /// The path of `name` in the directory, as `ImageSet.load` names it.
    func path(_ name: String) -> String { directory.path + "/" + name }

    /// The pixel of image `image` (a global id, so every record of every file differs), channel
    /// `c`, position `k` of the plane.
    static func pixel(image: Int, channel c: Int, position k: Int) -> UInt8 {
        UInt8(truncatingIfNeeded: image &* 37 &+ c &* 101 &+ k &* 7 &+ (k >> 5) &* 13)
    }

    /// The label of image `image`.
    static func label(image: Int) -> UInt8 { UInt8(image % CIFAR10.classes) }

    /// One 3073-byte record of image `image`.
    static func record(image: Int, label: UInt8? = nil) -> [UInt8] {
        var bytes = [label ?? Self.label(image: image)]
        for c in 0..<CIFAR10.channels {
            for k in 0..<(CIFAR10.width * CIFAR10.height) {
                bytes.append(pixel(image: image, channel: c, position: k))
            }
        }
        return bytes
    }

    /// Writes `name` holding records of images `images`.
    @discardableResult
    func write(_ name: String, images: Range<Int>) throws -> String {
        try write(name, bytes: images.flatMap { Self.record(image: $0) })
    }

    /// Writes `name` with exactly `bytes`.
    @discardableResult
    func write(_ name: String, bytes: [UInt8]) throws -> String {
        try Data(bytes).write(to: directory.appendingPathComponent(name))
        return path(name)
    }

    /// Makes `name` a sparse file of `bytes` bytes (all zeros, no disk used): a file of any size
    /// without writing it, for the checks that must refuse a size before reading.
    @discardableResult
    func sparse(_ name: String, bytes: Int) throws -> String {
        try write(name, bytes: [])
        let handle = try FileHandle(forWritingTo: directory.appendingPathComponent(name))
        defer { try? handle.close() }
        try handle.truncate(atOffset: UInt64(bytes))
        return path(name)
    }

    /// Writes all six files: training files with `trainingCounts[i]` records each (consecutive
    /// image ids from 0), and a test file of `testCount` images with ids from 1000.
    func writeAll(trainingCounts: [Int] = [2, 3, 1, 2, 2], testCount: Int = 3) throws {
        var next = 0
        for (name, n) in zip(CIFAR10.trainingFiles, trainingCounts) {
            try write(name, images: next..<(next + n))
            next += n
        }
        try write(CIFAR10.testFiles[0], images: 1000..<(1000 + testCount))
    }

    /// An in-memory set of images `ids` made with the same pixels as the files.
    static func imageSet(_ ids: Range<Int>) -> ImageSet {
        ImageSet(pixels: ids.flatMap { record(image: $0).dropFirst() }, labels: ids.map { label(image: $0) })
    }
}

/// Renders a view into a fresh array of 3×32×32 floats.
func rendered(_ body: (UnsafeMutablePointer<Float>) -> Void) -> [Float] {
    var out = [Float](repeating: .nan, count: CIFAR10.imageBytes)
    out.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
    return out
}
