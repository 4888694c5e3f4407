/// Constants of the CIFAR-10 binary format (`cifar-10-binary.tar.gz`): each file is a sequence
/// of 3073-byte records, one label byte (0–9) followed by the image (`CIFARImage`).
public enum CIFAR10 {
    /// Bytes of one record: one label byte followed by `CIFARImage.imageBytes` pixel bytes.
    public static let recordBytes = 1 + CIFARImage.imageBytes
    /// Number of classes; labels are `0..<classes`.
    public static let classes = 10
    /// The classes' names by label, as `batches.meta.txt` of the binary version lists them.
    public static let classNames = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    /// The file of the binary version that lists the class names, one per line.
    public static let classNamesFile = "batches.meta.txt"
    /// The most records one file may hold: each of the five training files and the test file of
    /// the real data set holds exactly 10,000, and smaller files (test fixtures, subsets) are
    /// allowed. A larger size means the wrong file, so it is refused before anything is allocated.
    public static let maxRecordsPerFile = 10_000
    /// The training split's files, in the order their records are concatenated.
    public static let trainingFiles = (1...5).map { "data_batch_\($0).bin" }
    /// The test split's file.
    public static let testFiles = ["test_batch.bin"]

    /// The file names that make up `split`, in load order.
    public static func files(for split: DatasetSplit) -> [String] {
        switch split {
        case .train: return trainingFiles
        case .test: return testFiles
        }
    }
}
