import Data

/// The `dataset` field of a `TrainingConfiguration` as `config.json` and checkpoints hold it:
/// encoded as the `Dataset` itself, and read as CIFAR-10 when the field is missing, as it is in
/// the files of versions that read nothing else, so that those runs still resume and evaluate.
@propertyWrapper
public struct RecordedDataset: Codable, Hashable, Sendable {
    /// The data set.
    public var wrappedValue: Dataset

    public init(wrappedValue: Dataset) { self.wrappedValue = wrappedValue }

    public init(from decoder: Decoder) throws { wrappedValue = try Dataset(from: decoder) }

    public func encode(to encoder: Encoder) throws { try wrappedValue.encode(to: encoder) }
}

extension KeyedDecodingContainer {
    /// A missing `dataset` field decodes as CIFAR-10 (the synthesized decoding of
    /// `TrainingConfiguration` calls this overload for its `@RecordedDataset` field).
    func decode(_ type: RecordedDataset.Type, forKey key: Key) throws -> RecordedDataset {
        try decodeIfPresent(type, forKey: key) ?? RecordedDataset(wrappedValue: .cifar10)
    }
}
