import Foundation

/// Finds which fields of two JSON-encoded configurations differ, as dotted paths.
enum ConfigurationDifference {
    /// Dotted paths (`model.growthRate`, `schedule.baseRate`, …) whose values differ.
    static func fields(_ a: Data, _ b: Data) -> [String] {
        guard let x = try? JSONSerialization.jsonObject(with: a), let y = try? JSONSerialization.jsonObject(with: b) else {
            return []
        }
        var out: [String] = []
        compare(x, y, path: "", into: &out)
        return out
    }

    /// The JSON text of the value at dotted `path` in the encoded configuration `data` (`-` when
    /// it has none), for messages such as `schedule.baseRate 0.1 → 0.01`.
    static func value(at path: String, in data: Data) -> String {
        var node = try? JSONSerialization.jsonObject(with: data)
        for key in path.split(separator: ".") { node = (node as? [String: Any])?[String(key)] }
        guard let node else { return "-" }
        if let text = node as? String { return text }
        if let data = try? JSONSerialization.data(withJSONObject: node, options: [.sortedKeys, .fragmentsAllowed]) {
            return String(decoding: data, as: UTF8.self)
        }
        return "\(node)"
    }

    private static func compare(_ x: Any, _ y: Any, path: String, into out: inout [String]) {
        if let dx = x as? [String: Any], let dy = y as? [String: Any] {
            for key in Set(dx.keys).union(dy.keys).sorted() {
                let p = path.isEmpty ? key : path + "." + key
                guard let vx = dx[key], let vy = dy[key] else { out.append(p); continue }
                compare(vx, vy, path: p, into: &out)
            }
        } else if let ax = x as? [Any], let ay = y as? [Any] {
            if ax.count != ay.count { out.append(path); return }
            var differs: [String] = []
            for (vx, vy) in zip(ax, ay) { compare(vx, vy, path: path, into: &differs) }
            if !differs.isEmpty { out.append(path) }
        } else if "\(x)" != "\(y)" {
            out.append(path)
        }
    }
}
