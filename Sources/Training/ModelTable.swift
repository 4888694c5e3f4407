import Engine
import Models

/// `ddptrain summary`: a model's layer table, as Keras' `model.summary()` prints it, after the
/// same checks a run makes (valid settings, countable size, parameters and graph in memory).
public enum ModelTable {
    /// The rendered table of `configuration`.
    ///
    /// - Throws: the model error when the model is invalid, too large to count, or would not fit
    ///   in the memory available.
    public static func render(_ configuration: ModelConfiguration) throws -> String {
        let graph = try ModelBuilder.checkedGraph(for: configuration, availableBytes: SystemMemory.availableBytes())
        return ModelSummary(graph).render(title: "\(configuration.name)  (input 3×32×32)")
    }
}
