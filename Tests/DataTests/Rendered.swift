import Data

/// Renders a view into a fresh array of 3×32×32 floats.
func rendered(_ body: (UnsafeMutablePointer<Float>) -> Void) -> [Float] {
    var out = [Float](repeating: .nan, count: CIFARImage.imageBytes)
    out.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
    return out
}
