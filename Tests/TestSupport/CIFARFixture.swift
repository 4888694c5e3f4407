import Data
import Foundation

/// CIFAR-10 and CIFAR-100 binary files made up by the tests, in the real layouts (1 label byte,
/// or CIFAR-100's coarse and fine label bytes, + 3072 pixel bytes per record): the one writer
/// every test target uses.
///
/// Image `id` has label `id % 10`; each channel is a brightness set by the label plus noise in
/// ±48 from a hash of (image, byte). So the set is learnable but not trivial, every image differs
/// from every other, and a test can compute any expected pixel from `pixel(image:channel:position:)`.
public final class CIFARFixture {
    /// The directory the files are written to.
    public let directory: URL
    /// Whether `directory` was made by `init()` and is removed with the fixture.
    private let ownsDirectory: Bool

    /// A fixture in a fresh temporary directory, removed when the fixture is deinitialised.
    public init() throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("ddptrain-data-\(UUID().uuidString)", isDirectory: true)
        ownsDirectory = true
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    /// A fixture writing into `directory` (created if missing), which its caller owns and removes.
    public init(at directory: URL) throws {
        self.directory = directory
        ownsDirectory = false
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    deinit { if ownsDirectory { try? FileManager.default.removeItem(at: directory) } }

    /// The path of `name` in the directory, as `ImageSet.load` names it.
    public func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    // MARK: The images

    /// Pixels per channel.
    private static let planeSize = CIFARImage.width * CIFARImage.height

    /// The first image id of the test file that `writeAll` and `writeDataSet` write.
    public static let firstTestImage = 100_000

    /// The label of image `image`.
    public static func label(image: Int) -> UInt8 { UInt8(image % CIFAR10.classes) }

    /// The pixel of image `image`, channel `c`, position `k` of the 32×32 plane.
    public static func pixel(image: Int, channel c: Int, position k: Int) -> UInt8 {
        let base = 48 + (Int(label(image: image)) * (c + 3) * 23) % 160
        let noise = Int(TestRandom.hash(UInt64(image) << 20 | UInt64(c * Self.planeSize + k)) % 97) - 48
        return UInt8(clamping: base + noise)
    }

    /// One 3073-byte record of image `image`, with its own label unless `label` is given.
    public static func record(image: Int, label: UInt8? = nil) -> [UInt8] {
        var bytes = [label ?? Self.label(image: image)]
        bytes.reserveCapacity(CIFAR10.recordBytes)
        for c in 0..<CIFARImage.channels {
            for k in 0..<Self.planeSize { bytes.append(pixel(image: image, channel: c, position: k)) }
        }
        return bytes
    }

    /// An in-memory set of images `ids`, with the same pixels as the files.
    public static func imageSet(_ ids: Range<Int>) -> ImageSet {
        ImageSet(pixels: ids.flatMap { record(image: $0).dropFirst() }, labels: ids.map { label(image: $0) })
    }

    // MARK: Writing files

    /// Writes `name` holding the records of images `images`; returns its path.
    @discardableResult
    public func write(_ name: String, images: Range<Int>) throws -> String {
        try write(name, bytes: images.flatMap { Self.record(image: $0) })
    }

    /// Writes `name` with exactly `bytes`; returns its path.
    @discardableResult
    public func write(_ name: String, bytes: [UInt8]) throws -> String {
        try Foundation.Data(bytes).write(to: directory.appendingPathComponent(name))
        return path(name)
    }

    /// Makes `name` a sparse file of `bytes` bytes (all zeros, no disk used): a file of any size
    /// without writing it, for the checks that must refuse a size before reading.
    @discardableResult
    public func sparse(_ name: String, bytes: Int) throws -> String {
        try write(name, bytes: [])
        let handle = try FileHandle(forWritingTo: directory.appendingPathComponent(name))
        defer { try? handle.close() }
        try handle.truncate(atOffset: UInt64(bytes))
        return path(name)
    }

    /// Appends `extraBytes` bytes to `name`, so its size is no longer a whole number of records.
    public func appendPartialRecord(to name: String, extraBytes: Int = 100) throws {
        let url = directory.appendingPathComponent(name)
        var data = try Foundation.Data(contentsOf: url)
        data.append(Foundation.Data(repeating: 7, count: extraBytes))
        try data.write(to: url)
    }

    /// Writes all six files: training files with `trainingCounts[i]` records each (consecutive
    /// image ids from 0) and a test file of `testCount` images from `firstTestImage`.
    public func writeAll(trainingCounts: [Int] = [2, 3, 1, 2, 2], testCount: Int = 3) throws {
        precondition(trainingCounts.count == CIFAR10.trainingFiles.count, "one count per training file")
        var next = 0
        for (name, n) in zip(CIFAR10.trainingFiles, trainingCounts) {
            try write(name, images: next..<(next + n))
            next += n
        }
        try write(CIFAR10.testFiles[0], images: Self.firstTestImage..<(Self.firstTestImage + testCount))
    }

    // MARK: CIFAR-100

    /// The fine label of image `image` in the CIFAR-100 files: `image % 100`.
    public static func fineLabel(image: Int) -> UInt8 { UInt8(image % CIFAR100.fineClasses) }

    /// The superclass the fixture gives fine class `fine`: `fine / 5`, so each of the 20
    /// superclasses holds five fine classes, as in the real data set (whose grouping differs).
    public static func coarseLabel(fine: UInt8) -> UInt8 { fine / 5 }

    /// One 3074-byte CIFAR-100 record of image `image`: coarse and fine label (its own unless
    /// given), then the pixels of `record(image:)`.
    public static func cifar100Record(image: Int, coarse: UInt8? = nil, fine: UInt8? = nil) -> [UInt8] {
        let f = fine ?? fineLabel(image: image)
        return [coarse ?? coarseLabel(fine: f), f] + record(image: image).dropFirst()
    }

    /// Writes CIFAR-100's `train.bin` with images `0..<trainingCount` and `test.bin` with
    /// `testCount` images from `firstTestImage`; returns the directory's path.
    @discardableResult
    public func writeCIFAR100(training trainingCount: Int, test testCount: Int) throws -> String {
        try write(CIFAR100.trainingFiles[0], bytes: (0..<trainingCount).flatMap { Self.cifar100Record(image: $0) })
        try write(CIFAR100.testFiles[0], bytes: (Self.firstTestImage..<(Self.firstTestImage + testCount)).flatMap { Self.cifar100Record(image: $0) })
        return directory.path
    }

    /// Writes a whole data set of `trainingCount` images spread evenly over the five training
    /// files (each needs at least one) and `testCount` test images; returns the directory's path.
    @discardableResult
    public func writeDataSet(training trainingCount: Int, test testCount: Int) throws -> String {
        let files = CIFAR10.trainingFiles.count
        precondition(trainingCount >= files, "each of the five training files needs at least one record")
        try writeAll(trainingCounts: (0..<files).map { trainingCount * ($0 + 1) / files - trainingCount * $0 / files },
                     testCount: testCount)
        return directory.path
    }
}
