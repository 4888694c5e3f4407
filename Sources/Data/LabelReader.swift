/// Reads and checks the label bytes of one record after another: CIFAR-10's one label must be
/// 0–9; CIFAR-100's coarse label 0–19 and fine label 0–99, and every fine class must keep the
/// superclass it had in the earlier records of the split (swapped or damaged label bytes break
/// that long before they break the ranges). Returns the label the run learns.
struct LabelReader {
    /// The data set the records are read as.
    let dataset: Dataset
    /// CIFAR-100: the superclass each fine class has had so far (`unseen` before its first record).
    private var superclassOf = [UInt8](repeating: LabelReader.unseen, count: CIFAR100.fineClasses)
    private static let unseen: UInt8 = .max

    init(dataset: Dataset) { self.dataset = dataset }

    /// The learnt label of the record at `record`, the `index`-th of `path`.
    mutating func label(of record: UnsafeRawPointer, path: String, record index: Int) throws(DataError) -> UInt8 {
        guard dataset.name == .cifar100 else {
            let label = record.load(as: UInt8.self)
            guard Int(label) < CIFAR10.classes else {
                throw .badLabel(path: path, record: index, label: label, dataset: dataset)
            }
            return label
        }
        let coarse = record.load(as: UInt8.self), fine = record.load(fromByteOffset: 1, as: UInt8.self)
        guard Int(coarse) < CIFAR100.coarseClasses, Int(fine) < CIFAR100.fineClasses else {
            throw .badLabels(path: path, record: index, coarse: coarse, fine: fine)
        }
        let earlier = superclassOf[Int(fine)]
        guard earlier == Self.unseen || earlier == coarse else {
            throw .inconsistentSuperclass(path: path, record: index, fine: fine, coarse: coarse, earlier: earlier)
        }
        superclassOf[Int(fine)] = coarse
        return record.load(fromByteOffset: dataset.labelOffset, as: UInt8.self)
    }
}
