import Foundation
import Models  // ProtobufMessage

/// A run's TensorBoard event file, `<run-dir>/events.out.tfevents.<seconds>.<host>.ddptrain`,
/// written by rank 0: `tensorboard --logdir <run-dir or its parent>` shows it.
///
/// The format is TensorFlow's: records framed as an 8-byte little-endian length, the masked
/// CRC-32C of those 8 bytes, the data, and the masked CRC-32C of the data; each record an
/// `Event` protobuf (`wall_time` 1, `step` 2, `file_version` 3, `summary` 5, `session_log` 7)
/// whose `Summary` holds `Value`s (`tag` 1, `simple_value` 2, `tensor` 8, `metadata` 9). The
/// field numbers are tensorboard.compat.proto's. Each session of a run writes a file of its own;
/// a resumed session starts with a `SessionLog` START at its first step, which makes TensorBoard
/// drop what an earlier session logged from that step on, so a resumed run shows each step once.
public final class TensorBoardLog {
    /// The file written.
    public let path: String
    private let handle: FileHandle

    /// Whether `name` is one of the event files a run writes.
    static func isEventFile(_ name: String) -> Bool { name.hasPrefix("events.out.tfevents.") && name.hasSuffix(".ddptrain") }

    /// Creates a new event file in `directory` for a session starting at optimizer step `step`
    /// (a `SessionLog` START when it is above 0), never replacing a file.
    public init(directory: String, startingAt step: Int) throws {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "host"
        // TensorBoard reads a directory's event files in name order, which must be the sessions'
        // order even if the clock went back: the stamp is past every earlier session's.
        let earlier = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter(Self.isEventFile)
            .compactMap { $0.split(separator: ".").dropFirst(3).first.flatMap { Int($0) } }
        let stamp = max(Int(Date().timeIntervalSince1970), (earlier.max() ?? 0) + 1)
        var candidate = ""
        var created: FileHandle?
        for attempt in 0..<100 {
            candidate = (directory as NSString).appendingPathComponent("events.out.tfevents.\(stamp + attempt).\(host).ddptrain")
            let fd = open(candidate, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if fd >= 0 {
                created = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
                break
            }
            guard errno == EEXIST else { break }
        }
        guard let created else {
            throw TrainingError.runDirectory(path: directory, reason: "creating the TensorBoard event file \(candidate) failed: \(String(cString: strerror(errno)))")
        }
        path = candidate
        handle = created
        var version = Self.event(step: 0)
        version.string(3, "brain.Event:2")
        try write(version)
        if step > 0 {
            var start = Self.event(step: step)
            var session = ProtobufMessage()
            session.integer(1, 1)  // SessionLog.START
            start.message(7, session)
            try write(start)
        }
    }

    /// Records scalars under their tags at `step`.
    public func scalars(_ values: [(tag: String, value: Double)], step: Int) throws {
        var summary = ProtobufMessage()
        for (tag, value) in values where value.isFinite {
            var v = ProtobufMessage()
            v.string(1, tag)
            v.float(2, Float(value))
            summary.message(1, v)
        }
        var e = Self.event(step: step)
        e.message(5, summary)
        try write(e)
    }

    /// Records an epoch's metrics under `epoch/…` at the optimizer step that ended it: one axis
    /// for every tag, so a resumed session's START purges exactly what it repeats.
    public func epoch(_ m: EpochMetrics) throws {
        try scalars([("epoch/train_loss", m.trainLoss), ("epoch/train_accuracy", m.trainAccuracy), ("epoch/test_loss", m.testLoss),
                     ("epoch/test_accuracy", m.testAccuracy), ("epoch/images_per_second", m.imagesPerSecond),
                     ("epoch/data_wait_seconds", m.dataWaitSeconds), ("epoch/allreduce_wait_seconds", m.communicationWaitSeconds)],
                    step: m.step)
    }

    /// Records `text` (Markdown) under `tag` at `step`, for TensorBoard's text dashboard.
    public func text(_ tag: String, _ text: String, step: Int) throws {
        var tensor = ProtobufMessage()
        tensor.integer(1, 7)  // DT_STRING
        tensor.message(2, ProtobufMessage())  // a scalar shape
        tensor.data(8, Array(text.utf8))
        var plugin = ProtobufMessage()
        plugin.string(1, "text")
        var metadata = ProtobufMessage()
        metadata.message(1, plugin)
        var v = ProtobufMessage()
        v.string(1, tag)
        v.message(9, metadata)
        v.message(8, tensor)
        var summary = ProtobufMessage()
        summary.message(1, v)
        var e = Self.event(step: step)
        e.message(5, summary)
        try write(e)
    }

    /// An event at `step`, stamped now.
    private static func event(step: Int) -> ProtobufMessage {
        var e = ProtobufMessage()
        e.double(1, Date().timeIntervalSince1970)
        e.integer(2, Int64(step))
        return e
    }

    /// Appends one framed record in a single write.
    private func write(_ event: ProtobufMessage) throws {
        let data = event.bytes
        var record = withUnsafeBytes(of: UInt64(data.count).littleEndian) { Array($0) }
        let lengthCRC = Self.maskedCRC(record)
        withUnsafeBytes(of: lengthCRC.littleEndian) { record.append(contentsOf: $0) }
        record += data
        withUnsafeBytes(of: Self.maskedCRC(data).littleEndian) { record.append(contentsOf: $0) }
        do { try handle.write(contentsOf: record) } catch {
            throw TrainingError.runDirectory(path: path, reason: "writing the TensorBoard event file failed: \(error.localizedDescription)")
        }
    }

    // MARK: CRC-32C

    /// The CRC-32C (Castagnoli) table, reflected polynomial 0x82F63B78.
    private static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0x82f6_3b78 ^ (c >> 1) : c >> 1 }
        return c
    }

    /// CRC-32C of `bytes`.
    static func crc32c(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xffff_ffff
        for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xff)] ^ (c >> 8) }
        return c ^ 0xffff_ffff
    }

    /// TFRecord's masked CRC: rotated right by 15 bits plus 0xa282ead8 (wrapping, as defined).
    static func maskedCRC(_ bytes: [UInt8]) -> UInt32 {
        let c = crc32c(bytes)
        return ((c >> 15) | (c << 17)) &+ 0xa282_ead8
    }
}
