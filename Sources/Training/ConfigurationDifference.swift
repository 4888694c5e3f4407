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
