extension ExecutionContext {
    /// Adds the weight (and bias) gradients that workers 1… accumulated in their `partials` — laid
    /// out as `weightCount` weights, then `biasCount` biases — to `weightGradient` and
    /// `biasGradient`, which worker 0 filled directly. A layer's backward splits the batch over
    /// the workers so that each sample's gradient product needs no lock; this joins them.
    func addWorkerPartials(weightGradient: UnsafeMutablePointer<Float>, weightCount: Int,
                           biasGradient: UnsafeMutablePointer<Float>?, biasCount: Int) {
        let workers = min(pool.threads, batch)
        guard workers > 1 else { return }
        pool.chunks(weightCount + biasCount) { range, _ in
            for worker in 1..<workers {
                let p = self.partials[worker].pointer
                for i in range {
                    if i < weightCount { weightGradient[i] += p[i] } else { biasGradient![i - weightCount] += p[i] }
                }
            }
        }
    }
}
