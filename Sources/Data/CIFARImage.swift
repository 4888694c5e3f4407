/// The image geometry CIFAR-10 and CIFAR-100 share: 32×32 colour images stored as three
/// row-major planes, red then green then blue. The file bytes are therefore already in the
/// engine's CHW layout and are kept that way in memory.
public enum CIFARImage {
    /// Image width, height and channel count.
    public static let width = 32, height = 32, channels = 3
    /// Bytes of one image: the R plane, then the G plane, then the B plane, each 32×32 row-major.
    public static let imageBytes = 3072
}
