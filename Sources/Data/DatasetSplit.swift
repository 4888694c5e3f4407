/// Which part of CIFAR-10: the 50,000 training images (five batch files) or the 10,000 test
/// images (one file). The raw value is what flags and metrics files use.
public enum DatasetSplit: String, Codable, Sendable {
    /// The training images, `data_batch_1.bin` … `data_batch_5.bin`.
    case train
    /// The held-out test images, `test_batch.bin`.
    case test
}
