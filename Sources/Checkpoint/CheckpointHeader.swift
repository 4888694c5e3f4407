import Foundation

/// The JSON header of a checkpoint: what the file holds and how it is compressed, followed by
/// the caller's metadata object embedded byte for byte.
///
/// It is written by hand rather than by `JSONEncoder` so that the keys come in a fixed, readable
/// order and the metadata bytes are not re-serialised.
struct CheckpointHeader {
    /// The header's fields other than `metadata`.
    struct Table: Decodable {
        struct Compression: Decodable {
            var codec: String
            var level: Int32
            var shuffle: Bool
        }

        struct Entry: Decodable {
            var name: String
            var shape: [Int]
            var section: String
            var offset: Int
            var count: Int
        }

        var format: Int
        var softwareVersion: String
        var created: String
        var compression: Compression
        var tensors: [Entry]

        enum CodingKeys: String, CodingKey {
            case format, created, compression, tensors
            case softwareVersion = "software_version"
        }
    }

    /// The decoded fields.
    var table: Table
    /// The exact bytes of the `metadata` value (with any whitespace around it), within the header.
    var metadata: Range<Int>

    /// The header's UTF-8 bytes. `metadata` must already be known to be a single JSON object.
    static func render(format: UInt32, softwareVersion: String, created: String, level: Int32, shuffle: Bool,
                       tensors: [CheckpointSummary.Tensor], metadata: Data) -> [UInt8] {
        var text = "{\"format\":\(format),\"software_version\":\(quoted(softwareVersion)),"
            + "\"created\":\(quoted(created)),"
            + "\"compression\":{\"codec\":\"zstd\",\"level\":\(level),\"shuffle\":\(shuffle)},\n"
            + "\"tensors\":["
        for (k, t) in tensors.enumerated() {
            text += (k == 0 ? "\n" : ",\n")
            text += "{\"name\":\(quoted(t.name)),\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],"
                + "\"section\":\(quoted(t.section)),\"offset\":\(t.offset),\"count\":\(t.count)}"
        }
        text += "\n],\n\"metadata\":"
        var bytes = Array(text.utf8)
        bytes.append(contentsOf: metadata)
        bytes.append(UInt8(ascii: "}"))
        return bytes
    }

    /// Parses and checks the header's structure (not yet its agreement with the payload).
    static func parse(_ bytes: UnsafeRawBufferPointer) throws(HeaderProblem) -> CheckpointHeader {
        let data = Data(bytes)
        guard String(validating: bytes.bindMemory(to: UInt8.self), as: UTF8.self) != nil else {
            throw HeaderProblem("it is not valid UTF-8")
        }
        let table: Table
        do {
            table = try JSONDecoder().decode(Table.self, from: data)
        } catch let error as DecodingError {
            throw HeaderProblem(DecodingErrorDescription.sentence(error, document: "it"))
        } catch {
            throw HeaderProblem("it is not valid JSON: \(error)")
        }
        guard let members = JSONObjectScanner.members(bytes) else {
            throw HeaderProblem("it is not a single JSON object")
        }
        let metadata = members.filter { $0.key == "metadata" }
        guard metadata.count == 1 else {
            throw HeaderProblem(metadata.isEmpty ? "it has no \"metadata\" field"
                                : "it has \(metadata.count) \"metadata\" fields")
        }
        let range = metadata[0].value
        guard JSONObjectScanner.isSingleObject(UnsafeRawBufferPointer(rebasing: bytes[range])) else {
            throw HeaderProblem("its \"metadata\" field is not a JSON object")
        }
        return CheckpointHeader(table: table, metadata: range)
    }

    /// Why a header was rejected.
    struct HeaderProblem: Error {
        let reason: String
        init(_ reason: String) { self.reason = reason }
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped.
    static func quoted(_ string: String) -> String {
        var out = "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
