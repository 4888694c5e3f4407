/// Constants of the CIFAR-100 binary format (`cifar-100-binary.tar.gz`): `train.bin` (50,000
/// records) and `test.bin` (10,000), each record one coarse label byte (0–19), one fine label
/// byte (0–99), then the image (`CIFARImage`).
public enum CIFAR100 {
    /// Bytes of one record: the coarse and the fine label, then `CIFARImage.imageBytes` pixel bytes.
    public static let recordBytes = 2 + CIFARImage.imageBytes
    /// Number of fine classes (labels `0..<fineClasses`).
    public static let fineClasses = 100
    /// Number of coarse classes, the superclasses that group five fine classes each.
    public static let coarseClasses = 20
    /// The most records one file may hold: `train.bin` holds 50,000 and `test.bin` 10,000.
    public static let maxRecordsPerFile = 50_000
    /// The training split's file.
    public static let trainingFiles = ["train.bin"]
    /// The test split's file.
    public static let testFiles = ["test.bin"]
    /// The files of the binary version that list the class names, one per line.
    public static let fineNamesFile = "fine_label_names.txt", coarseNamesFile = "coarse_label_names.txt"

    /// The fine classes' names by label, as `fine_label_names.txt` lists them.
    public static let fineNames = [
        "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle",
        "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
        "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur",
        "dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard",
        "lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain",
        "mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
        "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket",
        "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider",
        "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone", "television", "tiger", "tractor",
        "train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
    ]

    /// The coarse classes' names by label, as `coarse_label_names.txt` lists them.
    public static let coarseNames = [
        "aquatic_mammals", "fish", "flowers", "food_containers", "fruit_and_vegetables",
        "household_electrical_devices", "household_furniture", "insects", "large_carnivores",
        "large_man-made_outdoor_things", "large_natural_outdoor_scenes", "large_omnivores_and_herbivores",
        "medium_mammals", "non-insect_invertebrates", "people", "reptiles", "small_mammals", "trees",
        "vehicles_1", "vehicles_2",
    ]

    /// The file names that make up `split`, in load order.
    public static func files(for split: DatasetSplit) -> [String] {
        switch split {
        case .train: return trainingFiles
        case .test: return testFiles
        }
    }
}
