import CZstd

/// The two zstd calls a checkpoint needs: one frame in, one frame out, with zstd's own content
/// checksum (XXH64 of the frame's content, checked by the decoder) switched on.
enum Zstd {
    /// A compression failure or a decoding failure, with zstd's explanation.
    struct Failure: Error {
        let reason: String
    }

    /// The largest frame `byteCount` bytes can compress to.
    static func bound(_ byteCount: Int) -> Int { ZSTD_compressBound(byteCount) }

    /// Compresses `source` at `level` into `destination` (at least `bound(source.count)` bytes)
    /// as one frame that records its content size and checksum; returns the frame's size.
    static func compress(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer,
                         level: Int32) throws(Failure) -> Int {
        guard let context = ZSTD_createCCtx() else { throw Failure(reason: "zstd could not allocate a context") }
        defer { ZSTD_freeCCtx(context) }
        try check(ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, level), "setting level \(level)")
        try check(ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1), "enabling the content checksum")
        try check(ZSTD_CCtx_setParameter(context, ZSTD_c_contentSizeFlag, 1), "enabling the content size")
        let written = ZSTD_compress2(context, destination.baseAddress, destination.count,
                                     source.baseAddress, source.count)
        try check(written, "compressing \(source.count) bytes")
        return written
    }

    /// Payloads up to this size are decoded in one call into an array allocated up front; larger
    /// ones are decoded in pieces into an array that grows with what the frame really produces.
    static let oneShotLimit = 64 << 20

    /// Decodes `frame`, which must be exactly one zstd frame whose content is `expectedBytes`
    /// long; zstd verifies the frame's checksum while decoding.
    ///
    /// The size the frame declares must equal `expectedBytes`, but both come from the file, so
    /// neither is trusted with an allocation: above `oneShotLimit` the output grows (doubling) only
    /// as zstd fills it, and a frame that claims terabytes while holding a few bytes is rejected
    /// once it ends, having cost about `oneShotLimit` bytes.
    static func decompress(_ frame: UnsafeRawBufferPointer, expectedBytes: Int,
                           oneShotLimit: Int = oneShotLimit) throws(Failure) -> [UInt8] {
        let declared = ZSTD_getFrameContentSize(frame.baseAddress, frame.count)
        if declared == ddp_zstd_contentsize_error() {
            throw Failure(reason: "it is not a zstd frame (bad frame header)")
        }
        if declared == ddp_zstd_contentsize_unknown() {
            throw Failure(reason: "its zstd frame does not record its content size")
        }
        guard declared == UInt64(expectedBytes) else {
            throw Failure(reason: "its zstd frame holds \(declared) bytes but the preamble announces "
                          + "\(expectedBytes) raw payload bytes")
        }
        let frameBytes = ZSTD_findFrameCompressedSize(frame.baseAddress, frame.count)
        if ZSTD_isError(frameBytes) != 0 {
            throw Failure(reason: "zstd cannot delimit the frame: \(errorName(frameBytes))")
        }
        guard frameBytes == frame.count else {
            throw Failure(reason: "the zstd frame ends after \(frameBytes) of the payload's \(frame.count) bytes")
        }
        guard let context = ZSTD_createDCtx() else { throw Failure(reason: "zstd could not allocate a context") }
        defer { ZSTD_freeDCtx(context) }
        var produced = 0
        var output: [UInt8]
        if expectedBytes <= oneShotLimit {
            output = [UInt8](unsafeUninitializedCapacity: expectedBytes) { buffer, initialized in
                produced = ZSTD_decompressDCtx(context, buffer.baseAddress, expectedBytes, frame.baseAddress, frame.count)
                // On failure the contents do not matter; the array is discarded below.
                initialized = expectedBytes
            }
            if ZSTD_isError(produced) != 0 {
                throw Failure(reason: "zstd: \(errorName(produced))")
            }
        } else {
            output = try decodeInPieces(frame, context: context, expectedBytes: expectedBytes,
                                        firstPiece: max(1, oneShotLimit), produced: &produced)
        }
        guard produced == expectedBytes else {
            throw Failure(reason: "the zstd frame decoded to \(produced) bytes, expected \(expectedBytes)")
        }
        return output
    }

    /// Streams `frame` through `context` into an array of `firstPiece` bytes that doubles when
    /// full, up to `expectedBytes`; stops when the frame ends or would exceed `expectedBytes`.
    /// `produced` is the number of bytes decoded (the array's valid prefix).
    private static func decodeInPieces(_ frame: UnsafeRawBufferPointer, context: OpaquePointer,
                                       expectedBytes: Int, firstPiece: Int,
                                       produced: inout Int) throws(Failure) -> [UInt8] {
        var output = [UInt8](unsafeUninitializedCapacity: min(expectedBytes, firstPiece)) { _, initialized in
            initialized = min(expectedBytes, firstPiece)  // UInt8 needs no initialisation; only the decoded prefix is read
        }
        var input = ZSTD_inBuffer(src: frame.baseAddress, size: frame.count, pos: 0)
        while true {
            if produced == output.count && output.count < expectedBytes {
                let larger = output.count + min(output.count, expectedBytes - output.count)
                output = [UInt8](unsafeUninitializedCapacity: larger) { buffer, initialized in
                    output.withUnsafeBufferPointer { old in
                        buffer.baseAddress!.update(from: old.baseAddress!, count: old.count)
                    }
                    initialized = larger
                }
            }
            let before = (input: input.pos, output: produced)
            let remaining = output.withUnsafeMutableBytes { buffer in
                var out = ZSTD_outBuffer(dst: buffer.baseAddress! + produced, size: buffer.count - produced, pos: 0)
                let result = ZSTD_decompressStream(context, &out, &input)
                produced += out.pos
                return result
            }
            if ZSTD_isError(remaining) != 0 {
                throw Failure(reason: "zstd: \(errorName(remaining))")
            }
            if remaining == 0 { return output }  // The frame is complete, checksum included.
            if input.pos == before.input && produced == before.output {
                throw Failure(reason: produced == expectedBytes
                              ? "the zstd frame decodes to more than the \(expectedBytes) bytes it declares"
                              : "the zstd frame ends early, after \(produced) decoded bytes")
            }
        }
    }

    /// zstd's name for an error code.
    static func errorName(_ code: Int) -> String { String(cString: ZSTD_getErrorName(code)) }

    private static func check(_ code: Int, _ what: String) throws(Failure) {
        if ZSTD_isError(code) != 0 { throw Failure(reason: "zstd failed \(what): \(errorName(code))") }
    }

    /// The version of the linked libzstd, e.g. `1.5.4`.
    static var libraryVersion: String { String(cString: ZSTD_versionString()) }
}
