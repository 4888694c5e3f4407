import Foundation

/// Finds the byte ranges of a JSON object's members without decoding their values, so that the
/// caller's metadata can be handed back exactly as it was embedded, byte for byte (a JSON parser
/// would reorder keys and reformat numbers).
///
/// The scanner assumes its input already parsed as JSON (it is called after `JSONDecoder` or
/// `JSONSerialization` accepted it) and only tracks strings and nesting.
enum JSONObjectScanner {
    /// One member of the top-level object.
    struct Member {
        /// The key, decoded.
        var key: String
        /// The value's bytes including the whitespace around it: everything between the `:` and
        /// the `,` or `}` that ends the member.
        var value: Range<Int>
    }

    /// The members of the object that `bytes` holds, in order, or nil if `bytes` is not an
    /// object of well-formed structure.
    static func members(_ bytes: UnsafeRawBufferPointer) -> [Member]? {
        let b = bytes.bindMemory(to: UInt8.self)
        var i = skipSpace(b, 0)
        guard i < b.count, b[i] == UInt8(ascii: "{") else { return nil }
        i = skipSpace(b, i + 1)
        var members: [Member] = []
        if i < b.count, b[i] == UInt8(ascii: "}") {
            return skipSpace(b, i + 1) == b.count ? members : nil
        }
        while true {
            guard i < b.count, b[i] == UInt8(ascii: "\"") else { return nil }
            guard let keyEnd = endOfString(b, i) else { return nil }
            guard let key = decodeKey(b, i..<keyEnd) else { return nil }
            i = skipSpace(b, keyEnd)
            guard i < b.count, b[i] == UInt8(ascii: ":") else { return nil }
            let valueStart = i + 1
            guard let valueEnd = endOfValue(b, skipSpace(b, valueStart)) else { return nil }
            i = skipSpace(b, valueEnd)
            guard i < b.count else { return nil }
            members.append(Member(key: key, value: valueStart..<i))
            if b[i] == UInt8(ascii: "}") { return skipSpace(b, i + 1) == b.count ? members : nil }
            guard b[i] == UInt8(ascii: ",") else { return nil }
            i = skipSpace(b, i + 1)
        }
    }

    /// True if `bytes` is, apart from JSON whitespace around it, a single value that starts with `{`.
    static func isSingleObject(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let b = bytes.bindMemory(to: UInt8.self)
        let start = skipSpace(b, 0)
        guard start < b.count, b[start] == UInt8(ascii: "{"), let end = endOfValue(b, start) else { return false }
        return skipSpace(b, end) == b.count
    }

    static func isSpace(_ c: UInt8) -> Bool {
        c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D
    }

    private static func skipSpace(_ b: UnsafeBufferPointer<UInt8>, _ start: Int) -> Int {
        var i = start
        while i < b.count, isSpace(b[i]) { i += 1 }
        return i
    }

    /// The index after the closing quote of the string that opens at `start`.
    private static func endOfString(_ b: UnsafeBufferPointer<UInt8>, _ start: Int) -> Int? {
        var i = start + 1
        while i < b.count {
            switch b[i] {
            case UInt8(ascii: "\\"): i += 2
            case UInt8(ascii: "\""): return i + 1
            default: i += 1
            }
        }
        return nil
    }

    /// The index after the value that starts at `start` (an object, array, string or literal).
    private static func endOfValue(_ b: UnsafeBufferPointer<UInt8>, _ start: Int) -> Int? {
        guard start < b.count else { return nil }
        switch b[start] {
        case UInt8(ascii: "\""):
            return endOfString(b, start)
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var depth = 0
            var i = start
            while i < b.count {
                switch b[i] {
                case UInt8(ascii: "\""):
                    guard let end = endOfString(b, i) else { return nil }
                    i = end
                    continue
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth == 0 { return i + 1 }
                default:
                    break
                }
                i += 1
            }
            return nil
        default:
            var i = start
            while i < b.count, !isSpace(b[i]), b[i] != UInt8(ascii: ","), b[i] != UInt8(ascii: "}"),
                  b[i] != UInt8(ascii: "]") {
                i += 1
            }
            return i > start ? i : nil
        }
    }

    /// The key whose quoted form is `range`; escapes are decoded by `JSONSerialization`.
    private static func decodeKey(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> String? {
        let quoted = UnsafeBufferPointer(rebasing: b[range])
        if !quoted.contains(UInt8(ascii: "\\")) {
            return String(decoding: UnsafeBufferPointer(rebasing: quoted.dropFirst().dropLast()), as: UTF8.self)
        }
        let data = Data(quoted)
        return (try? JSONSerialization.jsonObject(with: data, options: .fragmentsAllowed)) as? String
    }
}
