import Data
import Dispatch
import Engine
import Foundation

/// A batch of network inputs and labels, prepared off the training thread.
public final class PreparedBatch: @unchecked Sendable {
    /// `capacity × 3 × 32 × 32` normalised floats.
    public let images: FloatBuffer
    /// Class labels.
    public var labels: [Int32]
    /// Samples filled in (the last batch of an epoch may be short).
    public var count = 0

    init(capacity: Int) {
        images = FloatBuffer(count: capacity * CIFARImage.imageBytes)
        labels = Array(repeating: 0, count: capacity)
    }
}

/// Prepares the batches of one pass over a data set (read, augment, normalise) on a background
/// thread, one batch ahead of the consumer, in two alternating buffers. The consumer's
/// `waitSeconds` shows how much data preparation was *not* hidden behind compute.
public final class BatchPipeline: @unchecked Sendable {
    private let slots: [PreparedBatch]
    private let filled = DispatchSemaphore(value: 0)
    private let free: DispatchSemaphore
    private let batches: [ArraySlice<Int32>]
    private var consumed = 0
    private var cancelled = false
    private let done = DispatchSemaphore(value: 0)
    /// Seconds `next()` spent blocked waiting for the producer.
    public private(set) var waitSeconds = 0.0

    /// Starts producing `batches` (sample indices into `set`) on a background thread.
    ///
    /// - Parameter epoch: the epoch for augmentation, or nil for un-augmented evaluation views.
    public init(set: ImageSet, batches: [ArraySlice<Int32>], augmenter: Augmenter, epoch: Int?, capacity: Int) {
        slots = [PreparedBatch(capacity: capacity), PreparedBatch(capacity: capacity)]
        // Created at zero and signalled up: libdispatch traps when a semaphore is released with a
        // value below its initial one, which an epoch stopped early (signal) would leave.
        free = DispatchSemaphore(value: 0)
        for _ in slots { free.signal() }
        self.batches = batches
        let thread = Thread { [self] in
            for (b, indices) in batches.enumerated() {
                free.wait()
                if cancelled { break }
                let slot = slots[b % slots.count]
                var k = 0
                for index in indices {
                    let out = slot.images.pointer + k * CIFARImage.imageBytes
                    if let epoch {
                        augmenter.render(set, index: Int(index), epoch: epoch, into: out)
                    } else {
                        augmenter.renderPlain(set, index: Int(index), into: out)
                    }
                    slot.labels[k] = Int32(set.labels[Int(index)])
                    k += 1
                }
                slot.count = k
                filled.signal()
            }
            done.signal()
        }
        thread.name = "ddptrain.data"
        thread.start()
    }

    /// Number of batches in this pass.
    public var count: Int { batches.count }

    /// The next batch, or nil after the last. The returned batch stays valid until the
    /// following call.
    public func next() -> PreparedBatch? {
        if consumed > 0 { free.signal() }  // the previous batch's slot may be refilled
        guard consumed < batches.count else { return nil }
        let start = DispatchTime.now().uptimeNanoseconds
        filled.wait()
        waitSeconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        defer { consumed += 1 }
        return slots[consumed % slots.count]
    }

    /// Stops the producer early and waits for its thread to finish.
    public func finish() {
        cancelled = true
        for _ in 0..<slots.count { free.signal() }
        done.wait()
    }
}
