/// Everything ddptrain knows about one architecture family, kept in that family's file
/// (`ResNet.swift`, `DenseNet.swift`, `SparseNet.swift`): how its names read and what they
/// default, which settings it uses and which depths it accepts, and how its graph is described.
/// `ModelFamily.architecture` is the registry: a new family is one new file and one line there.
protocol ArchitectureFamily {
    /// The configuration a name `family[-bc]-N…` stands for, with the paper's defaults: `bc` says
    /// whether `-bc` was given, `numbers` how many numbers follow, and `number(i, setting, maximum)`
    /// reads the i-th of them (refusing one above `maximum`). Nil when the name has the wrong shape.
    static func configuration(bc: Bool, numbers: Int, number: (Int, String, Int) throws -> Int) throws -> ModelConfiguration?

    /// The canonical name of `c` (settings that differ from the name's defaults are not encoded).
    static func name(_ c: ModelConfiguration) -> String

    /// Layers per block, or basic blocks per stage, of `c` (0 below the family's smallest depth).
    static func unitsPerStage(_ c: ModelConfiguration) -> Int

    /// Refuses settings of `c` the family cannot build or does not use (the checks common to every
    /// family are in `ModelConfiguration.checkSettings`).
    static func checkSettings(_ c: ModelConfiguration) throws

    /// Refuses a model flag the family does not use, whatever its value, naming it.
    static func refuseUnused(_ overrides: ModelOverrides) throws

    /// Describes the model of `c`, layer by layer, into `g`.
    static func describe<G: ModelGraph>(_ g: inout G, _ c: ModelConfiguration) throws
}

extension ArchitectureFamily {
    static func refuseUnused(_ overrides: ModelOverrides) throws {}
}

extension ModelFamily {
    /// The family's definition: the registry of architectures.
    var architecture: any ArchitectureFamily.Type {
        switch self {
        case .sparsenet: SparseNet.self
        case .densenet: DenseNet.self
        case .resnet: ResNet.self
        }
    }
}
