import Foundation

/// The safetensors weight format (Hugging Face's, which PyTorch, JAX and most inference tools
/// read): an 8-byte little-endian header length N, N bytes of JSON header, then the tensors'
/// little-endian bytes end to end. The header maps each tensor name to
/// `{"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}` (byte offsets into the data
/// after the header) and may hold `"__metadata__"`, a map from strings to strings.
///
/// Written: float32 and int64 tensors, in the order given, the header padded with spaces to a
/// multiple of 8 bytes. Read: F32, F64, F16 and BF16 (converted to float32) and I64 tensors;
/// the offsets must cover the data exactly, without gaps or overlaps, as the reference reader
/// requires.
public enum SafetensorsFile {
    /// One tensor's elements.
    public enum Values: Sendable, Equatable {
        case float32([Float])
        case int64([Int64])

        /// Number of elements.
        public var count: Int {
            switch self {
            case .float32(let v): v.count
            case .int64(let v): v.count
            }
        }
    }

    /// A named tensor of the file.
    public struct Tensor: Sendable, Equatable {
        /// The name (a PyTorch `state_dict` key).
        public var name: String
        /// Dimensions, outermost first (empty for a scalar).
        public var shape: [Int]
        /// The elements, row-major.
        public var values: Values

        /// A float32 tensor; the product of `shape` must be `values.count`.
        public static func float32(_ name: String, shape: [Int], _ values: [Float]) -> Tensor {
            Tensor(name: name, shape: shape, values: .float32(values))
        }

        /// An int64 tensor (such as PyTorch's `num_batches_tracked`, a scalar of shape `[]`).
        public static func int64(_ name: String, shape: [Int], _ values: [Int64]) -> Tensor {
            Tensor(name: name, shape: shape, values: .int64(values))
        }
    }

    /// The reference reader refuses headers above 100 MB; so does this one.
    static let maximumHeaderBytes = 100_000_000

    // MARK: Writing

    /// The file's bytes for `tensors` (in this order) and `metadata`.
    ///
    /// - Throws: `SafetensorsError.invalid` (with `path`) for a duplicate or empty name, the
    ///   reserved name `__metadata__`, or a shape whose product is not the element count.
    public static func encode(_ tensors: [Tensor], metadata: [String: String], path: String) throws(SafetensorsError) -> [UInt8] {
        var seen = Set<String>()
        var entries: [String] = []
        var offset = 0
        for t in tensors {
            guard !t.name.isEmpty, t.name != "__metadata__", seen.insert(t.name).inserted else {
                throw .invalid(path: path, reason: "tensor name '\(t.name)' is empty, reserved or given twice")
            }
            guard t.shape.allSatisfy({ $0 >= 0 }), elementCount(t.shape) == t.values.count else {
                throw .invalid(path: path, reason: "tensor '\(t.name)' has shape \(t.shape) but \(t.values.count) elements")
            }
            let (dtype, size): (String, Int) = switch t.values {
            case .float32: ("F32", 4)
            case .int64: ("I64", 8)
            }
            let end = offset + size * t.values.count
            entries.append("\(CheckpointHeader.quoted(t.name)):{\"dtype\":\"\(dtype)\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],"
                           + "\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted().map { "\(CheckpointHeader.quoted($0)):\(CheckpointHeader.quoted(metadata[$0]!))" }
            entries.insert("\"__metadata__\":{\(pairs.joined(separator: ","))}", at: 0)
        }
        var header = Array(("{" + entries.joined(separator: ",") + "}").utf8)
        while header.count % 8 != 0 { header.append(UInt8(ascii: " ")) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(8 + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { bytes.append(contentsOf: $0) }
        bytes += header
        for t in tensors {
            switch t.values {
            case .float32(let v): for x in v { withUnsafeBytes(of: x.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
            case .int64(let v): for x in v { withUnsafeBytes(of: x.littleEndian) { bytes.append(contentsOf: $0) } }
            }
        }
        return bytes
    }

    // MARK: Reading

    /// The tensors (in data order) and metadata of the file `bytes` read from `path`.
    ///
    /// - Throws: `SafetensorsError` naming `path` and what is wrong: too short, a header length
    ///   out of range, a header that is not the JSON described above, an unsupported dtype, or
    ///   offsets that do not tile the data.
    public static func decode(_ bytes: Data, path: String) throws(SafetensorsError) -> (tensors: [Tensor], metadata: [String: String]) {
        guard bytes.count >= 8 else { throw .invalid(path: path, reason: "it has \(bytes.count) bytes, fewer than the 8-byte header length") }
        let length = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard length >= 2, length <= UInt64(min(maximumHeaderBytes, bytes.count - 8)) else {
            throw .invalid(path: path, reason: "its header length \(length) is not between 2 and the \(bytes.count - 8) bytes after it "
                           + "(or above \(maximumHeaderBytes)): it is not a safetensors file, or it is truncated")
        }
        let headerEnd = 8 + Int(length)
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: bytes.subdata(in: 8..<headerEnd))
        } catch {
            throw .invalid(path: path, reason: "its header is not valid JSON (\(error.localizedDescription))")
        }
        guard let header = object as? [String: Any] else { throw .invalid(path: path, reason: "its header is not a JSON object") }
        var metadata: [String: String] = [:]
        if let raw = header["__metadata__"] {
            guard let map = raw as? [String: String] else {
                throw .invalid(path: path, reason: "its __metadata__ is not a map from strings to strings")
            }
            metadata = map
        }
        let dataBytes = bytes.count - headerEnd
        var layout: [(name: String, dtype: String, shape: [Int], begin: Int, end: Int)] = []
        for (name, raw) in header where name != "__metadata__" {
            // The encoder refuses an empty name, and so does the reader: no file it accepts is one
            // ddptrain could not write back.
            guard !name.isEmpty else { throw .invalid(path: path, reason: "a tensor has an empty name") }
            guard let entry = raw as? [String: Any], let dtype = entry["dtype"] as? String,
                  let shape = integers(entry["shape"]), let offsets = integers(entry["data_offsets"]), offsets.count == 2 else {
                throw .invalid(path: path, reason: "tensor '\(name)' has no dtype, shape and data_offsets [begin, end]")
            }
            guard let size = elementBytes[dtype] else { throw .unsupportedDType(path: path, name: name, dtype: dtype) }
            let count = shape.allSatisfy({ $0 >= 0 }) ? elementCount(shape) : nil
            let (need, overflow) = (count ?? 0).multipliedReportingOverflow(by: size)
            guard count != nil, !overflow, offsets[0] >= 0, offsets[0] <= offsets[1], offsets[1] <= dataBytes,
                  offsets[1] - offsets[0] == need else {
                throw .invalid(path: path, reason: "tensor '\(name)' (\(dtype), shape \(shape)) has data_offsets \(offsets), "
                               + "which do not hold \(count.map { "\($0) elements" } ?? "its elements") within the \(dataBytes) data bytes")
            }
            layout.append((name, dtype, shape, offsets[0], offsets[1]))
        }
        layout.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var expected = 0
        for t in layout {
            guard t.begin == expected else {
                throw .invalid(path: path, reason: "tensor '\(t.name)' starts at data byte \(t.begin), not at \(expected): "
                               + "the tensors' data overlap or leave a gap")
            }
            expected = t.end
        }
        guard expected == dataBytes else {
            throw .invalid(path: path, reason: "the tensors cover \(expected) of the \(dataBytes) data bytes: the file is truncated or has bytes left over")
        }
        let tensors = bytes.withUnsafeBytes { raw in
            layout.map { t in
                Tensor(name: t.name, shape: t.shape,
                       values: values(UnsafeRawBufferPointer(rebasing: raw[(headerEnd + t.begin)..<(headerEnd + t.end)]), dtype: t.dtype))
            }
        }
        return (tensors, metadata)
    }

    /// Bytes per element of the dtypes this reader converts.
    static let elementBytes = ["F32": 4, "F64": 8, "F16": 2, "BF16": 2, "I64": 8]

    /// The elements of `raw` (little-endian `dtype`), as float32 or int64.
    static func values(_ raw: UnsafeRawBufferPointer, dtype: String) -> Values {
        let n = raw.count / elementBytes[dtype]!
        switch dtype {
        case "I64":
            return .int64((0..<n).map { Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self)) })
        case "F64":
            return .float32((0..<n).map { Float(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * $0, as: UInt64.self)))) })
        case "F16":
            return .float32((0..<n).map { Float(Float16(bitPattern: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self)))) })
        case "BF16":
            return .float32((0..<n).map {
                Float(bitPattern: UInt32(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self))) << 16)
            })
        default:
            return .float32((0..<n).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) })
        }
    }

    /// The product of `shape`, or nil when it does not fit an `Int`.
    static func elementCount(_ shape: [Int]) -> Int? {
        var product = 1
        for d in shape {
            let (p, overflow) = product.multipliedReportingOverflow(by: d)
            if overflow { return nil }
            product = p
        }
        return product
    }

    /// A JSON array of whole numbers as `[Int]`, or nil.
    static func integers(_ value: Any?) -> [Int]? {
        guard let array = value as? [Any] else { return nil }
        var result: [Int] = []
        for item in array {
            guard let number = item as? NSNumber, let exact = Int(exactly: number.doubleValue) else { return nil }
            result.append(exact)
        }
        return result
    }
}

/// Why a safetensors file cannot be read or written; every message names the file.
public enum SafetensorsError: Error, CustomStringConvertible, Equatable {
    /// The file is not a well-formed safetensors file; `reason` says how.
    case invalid(path: String, reason: String)
    /// A tensor has a dtype this build does not read.
    case unsupportedDType(path: String, name: String, dtype: String)

    public var description: String {
        switch self {
        case .invalid(let path, let reason):
            return "'\(path)' is not a usable safetensors file: \(reason)"
        case .unsupportedDType(let path, let name, let dtype):
            return "'\(path)': tensor '\(name)' has dtype \(dtype); ddptrain reads F32, F64, F16, BF16 and I64 tensors. "
                + "Save the weights as float32 (e.g. model.float()) and try again"
        }
    }
}
