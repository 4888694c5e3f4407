import Foundation

extension CheckpointFile {
    // MARK: - Encoding

    /// Rejects metadata that is not one UTF-8 JSON object.
    static func checkMetadata(_ metadata: Data) throws {
        func invalid(_ reason: String) -> CheckpointError {
            .malformedHeader(path: CheckpointError.encodingPath, reason: "the metadata \(reason); it must be one UTF-8 JSON object")
        }
        try metadata.withUnsafeBytes { bytes in
            guard String(validating: bytes.bindMemory(to: UInt8.self), as: UTF8.self) != nil else {
                throw invalid("is not valid UTF-8")
            }
            guard JSONObjectScanner.isSingleObject(bytes) else { throw invalid("does not hold a single object") }
        }
        do {
            guard try JSONSerialization.jsonObject(with: metadata) is [String: Any] else {
                throw invalid("is not an object")
            }
        } catch let error as CheckpointError {
            throw error
        } catch {
            throw invalid("is not valid JSON (\(error.localizedDescription))")
        }
    }

    /// The tensor table for `tensors` stored one after another, or why they cannot be stored.
    static func layout(_ tensors: [NamedTensor]) throws -> [CheckpointSummary.Tensor] {
        func invalid(_ reason: String) -> CheckpointError {
            .malformedHeader(path: CheckpointError.encodingPath, reason: reason)
        }
        var names = Set<String>()
        var offset = 0
        var rows: [CheckpointSummary.Tensor] = []
        for (k, tensor) in tensors.enumerated() {
            guard !tensor.name.isEmpty else { throw invalid("tensor \(k) has an empty name") }
            guard names.insert(tensor.name).inserted else { throw invalid("two tensors are named '\(tensor.name)'") }
            guard !tensor.section.isEmpty else { throw invalid("tensor '\(tensor.name)' has an empty section") }
            guard let count = tensor.elementCount, count == tensor.values.count else {
                throw invalid("tensor '\(tensor.name)' has shape \(tensor.shape) but \(tensor.values.count) values")
            }
            rows.append(CheckpointSummary.Tensor(name: tensor.name, shape: tensor.shape, section: tensor.section,
                                                 offset: offset, count: count))
            offset += count
        }
        return rows
    }

    /// All values, concatenated as little-endian float32 bytes.
    static func rawPayload(_ tensors: [NamedTensor]) -> [UInt8] {
        let total = tensors.reduce(0) { $0 + $1.values.count } * 4
        return [UInt8](unsafeUninitializedCapacity: total) { buffer, initialized in
            var at = 0
            for tensor in tensors {
                withLittleEndianBytes(tensor.values) { bytes in
                    guard bytes.count > 0 else { return }
                    UnsafeMutableRawPointer(buffer.baseAddress! + at).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
                    at += bytes.count
                }
            }
            initialized = total
        }
    }

    /// Calls `body` with the little-endian bytes of `values` (their own memory on little-endian machines).
    static func withLittleEndianBytes<R>(_ values: [Float], _ body: (UnsafeRawBufferPointer) -> R) -> R {
        #if _endian(little)
        return values.withUnsafeBytes(body)
        #else
        return values.map { $0.bitPattern.littleEndian }.withUnsafeBytes(body)
        #endif
    }

    /// `count` floats starting at element `offset` of the little-endian raw payload.
    static func floats(_ raw: [UInt8], offset: Int, count: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            raw.withUnsafeBytes { bytes in
                for i in 0..<count {
                    buffer[i] = Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(
                        fromByteOffset: 4 * (offset + i), as: UInt32.self)))
                }
            }
            initialized = count
        }
    }

    static func shuffled(_ raw: [UInt8]) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: raw.count) { buffer, initialized in
            raw.withUnsafeBytes { ByteShuffle.shuffle($0, into: UnsafeMutableRawBufferPointer(buffer)) }
            initialized = raw.count
        }
    }

    static func unshuffled(_ shuffled: [UInt8]) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: shuffled.count) { buffer, initialized in
            shuffled.withUnsafeBytes { ByteShuffle.unshuffle($0, into: UnsafeMutableRawBufferPointer(buffer)) }
            initialized = shuffled.count
        }
    }

    /// `2025-03-01T12:34:56Z`.
    static func iso8601(_ date: Date) -> String {
        ISO8601DateFormatter().string(from: date)
    }
}
