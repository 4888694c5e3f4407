import CPNG
import CTurboJPEG
import Foundation

/// A decoded photo: 8-bit RGB, interleaved, row-major.
public struct RGBImage: Sendable, Equatable {
    /// Width and height in pixels.
    public var width: Int, height: Int
    /// `width × height × 3` bytes: R, G, B of each pixel, rows top to bottom.
    public var pixels: [UInt8]
}

/// Why an image file cannot be used; every message names the file.
public enum ImageError: Error, CustomStringConvertible, Equatable {
    /// The file cannot be read.
    case unreadable(path: String, reason: String)
    /// The file is neither PNG nor JPEG (by its first bytes).
    case unsupported(path: String, reason: String)
    /// The decoder refused the file: damaged, truncated, or a variant it does not read.
    case undecodable(path: String, format: String, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason): "cannot read image '\(path)': \(reason)"
        case .unsupported(let path, let reason): "'\(path)' is not a PNG or JPEG image: \(reason)"
        case .undecodable(let path, let format, let reason): "\(format) image '\(path)' cannot be decoded: \(reason)"
        }
    }
}

/// PNG and JPEG decoding (libpng's simplified API, libjpeg-turbo's TurboJPEG) and the rule that
/// brings a photo to the network's input: scale it so that its shorter side is 32 pixels
/// (area-averaging when shrinking, bilinear when enlarging), then cut the centre 32×32. A
/// 32×32 image passes through unchanged.
public enum ImageFile {
    /// The largest width or height decoded; a larger image is refused before its pixels are
    /// allocated (a 64-megapixel photo is 192 MiB of RGB).
    public static let maximumSide = 8192, maximumPixels = 64 << 20

    /// The image in the file at `path`, decoded by its format (PNG or JPEG, told by its first bytes).
    public static func decode(_ path: String) throws(ImageError) -> RGBImage {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw .unreadable(path: path, reason: (error as NSError).localizedDescription)
        }
        return try decode(data, path: path)
    }

    /// `data` decoded as PNG or JPEG; `path` names it in errors.
    public static func decode(_ data: Data, path: String) throws(ImageError) -> RGBImage {
        let png: [UInt8] = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], jpeg: [UInt8] = [0xff, 0xd8, 0xff]
        let head = [UInt8](data.prefix(8))
        if head.starts(with: png) { return try decodePNG(data, path: path) }
        if head.starts(with: jpeg) { return try decodeJPEG(data, path: path) }
        throw .unsupported(path: path, reason: data.isEmpty ? "the file is empty"
                           : "it starts with bytes \(head.map { String(format: "%02x", $0) }.joined(separator: " "))")
    }

    private static func checkSize(_ width: Int, _ height: Int, path: String, format: String) throws(ImageError) {
        guard width >= 1, height >= 1, width <= maximumSide, height <= maximumSide, width * height <= maximumPixels else {
            throw .undecodable(path: path, format: format,
                               reason: "its size \(width)×\(height) is outside 1…\(maximumSide) per side and \(maximumPixels) pixels")
        }
    }

    static func decodeJPEG(_ data: Data, path: String) throws(ImageError) -> RGBImage {
        guard let handle = tjInitDecompress() else { throw .undecodable(path: path, format: "JPEG", reason: "the decoder could not start") }
        defer { tjDestroy(handle) }
        func failure() -> ImageError { .undecodable(path: path, format: "JPEG", reason: String(cString: tjGetErrorStr2(handle))) }
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        let bytes = [UInt8](data)
        guard tjDecompressHeader3(handle, bytes, UInt(bytes.count), &width, &height, &subsampling, &colorspace) == 0 else { throw failure() }
        try checkSize(Int(width), Int(height), path: path, format: "JPEG")
        var pixels = [UInt8](repeating: 0, count: Int(width) * Int(height) * 3)
        // A warning (for example "Premature end of JPEG file") also fails: a damaged photo is
        // reported, not classified from the grey the decoder fills in.
        guard tjDecompress2(handle, bytes, UInt(bytes.count), &pixels, width, 0, height, Int32(TJPF_RGB.rawValue), 0) == 0 else {
            throw failure()
        }
        return RGBImage(width: Int(width), height: Int(height), pixels: pixels)
    }

    static func decodePNG(_ data: Data, path: String) throws(ImageError) -> RGBImage {
        var image = png_image()
        image.version = ddp_png_image_version()
        func failure() -> ImageError {
            let message = withUnsafeBytes(of: image.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            return .undecodable(path: path, format: "PNG", reason: message)
        }
        // libpng keeps the pointer from begin_read to finish_read, so the bytes stay pinned
        // across both calls (an array's implicit pointer lasts one call only).
        let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, data.count), alignment: 16)
        defer { bytes.deallocate() }
        _ = data.copyBytes(to: bytes.bindMemory(to: UInt8.self))
        guard png_image_begin_read_from_memory(&image, bytes.baseAddress, data.count) != 0 else { throw failure() }
        defer { png_image_free(&image) }
        try checkSize(Int(image.width), Int(image.height), path: path, format: "PNG")
        image.format = ddp_png_format_rgb()
        var pixels = [UInt8](repeating: 0, count: Int(image.width) * Int(image.height) * 3)
        guard png_image_finish_read(&image, nil, &pixels, 0, nil) != 0 else { throw failure() }
        return RGBImage(width: Int(image.width), height: Int(image.height), pixels: pixels)
    }

    // MARK: To the network's input

    /// `image` scaled so its shorter side is `side` and centre-cropped to `side × side`, as a
    /// CIFAR record's pixels: the R plane, then G, then B, each row-major.
    public static func planarInput(_ image: RGBImage, side: Int = CIFARImage.width) -> [UInt8] {
        let short = min(image.width, image.height)
        // The scaled image's size, and where its centre crop starts (in scaled pixels).
        let scaledWidth = max(side, (image.width * side + short / 2) / short)
        let scaledHeight = max(side, (image.height * side + short / 2) / short)
        let columns = weights(source: image.width, scaled: scaledWidth, from: (scaledWidth - side) / 2, count: side)
        let rows = weights(source: image.height, scaled: scaledHeight, from: (scaledHeight - side) / 2, count: side)
        var out = [UInt8](repeating: 0, count: 3 * side * side)
        for (y, row) in rows.enumerated() {
            for (x, column) in columns.enumerated() {
                for c in 0..<3 {
                    var sum = 0.0
                    for (sy, wy) in row {
                        for (sx, wx) in column { sum += wy * wx * Double(image.pixels[(sy * image.width + sx) * 3 + c]) }
                    }
                    out[c * side * side + y * side + x] = UInt8(max(0, min(255, sum.rounded())))
                }
            }
        }
        return out
    }

    /// For output pixels `from ..< from + count` of a `source`-pixel axis scaled to `scaled`
    /// pixels: the source pixels each one reads and their weights (summing to 1). Shrinking
    /// averages the covered area (each source pixel weighted by how much of it the output pixel
    /// covers); enlarging interpolates linearly between the two nearest source pixel centres.
    static func weights(source: Int, scaled: Int, from: Int, count: Int) -> [[(Int, Double)]] {
        let scale = Double(source) / Double(scaled)
        return (from..<(from + count)).map { o in
            if scale >= 1 {
                let begin = Double(o) * scale, end = begin + scale
                var taps: [(Int, Double)] = []
                var s = Int(begin)
                while Double(s) < end, s < source {
                    let covered = min(end, Double(s + 1)) - max(begin, Double(s))
                    if covered > 1e-12 { taps.append((s, covered / scale)) }
                    s += 1
                }
                return taps
            }
            let centre = (Double(o) + 0.5) * scale - 0.5
            let left = max(0, min(source - 1, Int(centre.rounded(.down)))), right = min(source - 1, left + 1)
            let t = max(0, min(1, centre - Double(left)))
            return right == left ? [(left, 1)] : [(left, 1 - t), (right, t)]
        }
    }
}
