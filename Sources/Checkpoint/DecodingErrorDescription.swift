/// JSON decoding errors as sentences that name the field, e.g. "field tensors[3].shape is
/// missing": the checkpoint header and the training state inside a checkpoint are both
/// reported this way, so a user editing either by hand is told where the problem is.
public enum DecodingErrorDescription {
    /// `error` as a sentence naming its field path; `document` is the subject when the error
    /// names no field (for example "it" or "the metadata").
    public static func sentence(_ error: DecodingError, document: String) -> String {
        switch error {
        case .keyNotFound(let key, let context):
            return "field \(path(context.codingPath + [key])) is missing"
        case .typeMismatch(let type, let context):
            return "field \(path(context.codingPath)) is not of type \(type)"
        case .valueNotFound(let type, let context):
            return "field \(path(context.codingPath)) is null, expected \(type)"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "\(document) cannot be decoded: \(context.debugDescription)"
                : "field \(path(context.codingPath)) is invalid (\(context.debugDescription))"
        @unknown default:
            return "\(document) cannot be decoded: \(error)"
        }
    }

    /// Coding keys as a path: `tensors[3].shape`, `configuration.augmentation.crop`.
    static func path(_ keys: [CodingKey]) -> String {
        var text = ""
        for key in keys {
            if let index = key.intValue { text += "[\(index)]" } else { text += (text.isEmpty ? "" : ".") + key.stringValue }
        }
        return text
    }
}
