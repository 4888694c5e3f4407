/// How the pixels that a shift brings in from outside the image are filled.
public enum ShiftFill: String, Codable, Sendable, CaseIterable {
    /// Repeat the nearest edge pixel (Keras `fill_mode="nearest"`, its default).
    case nearest
    /// Black, pixel value 0 before normalisation (Keras `fill_mode="constant", cval=0`).
    case zero
}
