// Compiled twice, like WinogradTiles.swift: as module KernelsAVX2 and, through the symbolic link
// in Sources/KernelsAVX512, as module KernelsAVX512.

/// How the 16 tiles of a block lie in the map: `groups` tile rows of `lanesPerRow` tiles. Used as
/// a generic parameter only (specialised, never an existential).
protocol TileRowGroup {
    /// Tiles per tile row of a block (16, 8 or 4).
    static var lanesPerRow: Int { get }
    /// Tile rows per block (16 / `lanesPerRow`).
    static var groups: Int { get }
    /// `2 · lanesPerRow` consecutive floats from each group's row, `p` for the first group and
    /// `groupStride` apart, concatenated: so even and odd halves split by tile.
    static func load(_ p: UnsafePointer<Float>, _ groupStride: Int) -> SIMD32<Float>
    /// Stores (or adds) group `g`'s `2 · lanesPerRow` outputs of `row` (interleaved
    /// columns), the first `columns` of them, at `to`.
    static func store(_ row: SIMD32<Float>, group g: Int, to: UnsafeMutablePointer<Float>, columns: Int,
                      accumulate: Bool)
}

extension TileRowGroup {
    // Concrete vector types only: the generic `SIMD` operators are element loops.

    /// Stores (or adds) the first `count` lanes of `v` at `to`: one vector store when all 16 are.
    @inline(__always)
    static func store(_ v: SIMD16<Float>, _ to: UnsafeMutablePointer<Float>, count: Int, accumulate: Bool) {
        if count >= 16 {
            let old = accumulate ? UnsafeRawPointer(to).loadUnaligned(as: SIMD16<Float>.self) : .zero
            UnsafeMutableRawPointer(to).storeBytes(of: old + v, as: SIMD16<Float>.self)
        } else {
            for i in 0..<count { to[i] = accumulate ? to[i] + v[i] : v[i] }
        }
    }

    /// Stores (or adds) the first `count` lanes of `v` at `to`: one vector store when all 8 are.
    @inline(__always)
    static func store(_ v: SIMD8<Float>, _ to: UnsafeMutablePointer<Float>, count: Int, accumulate: Bool) {
        if count >= 8 {
            let old = accumulate ? UnsafeRawPointer(to).loadUnaligned(as: SIMD8<Float>.self) : .zero
            UnsafeMutableRawPointer(to).storeBytes(of: old + v, as: SIMD8<Float>.self)
        } else {
            for i in 0..<count { to[i] = accumulate ? to[i] + v[i] : v[i] }
        }
    }
}

/// 16 tiles of one tile row (maps wider than 16).
enum OneTileRow: TileRowGroup {
    static var lanesPerRow: Int { 16 }
    static var groups: Int { 1 }

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>, _ groupStride: Int) -> SIMD32<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD32<Float>.self)
    }

    @inline(__always)
    static func store(_ row: SIMD32<Float>, group g: Int, to: UnsafeMutablePointer<Float>, columns: Int,
                      accumulate: Bool) {
        store(row.lowHalf, to, count: columns, accumulate: accumulate)
        if columns > 16 { store(row.highHalf, to + 16, count: columns - 16, accumulate: accumulate) }
    }
}

/// Two tile rows of 8 tiles (widths 9–16).
enum TwoTileRows: TileRowGroup {
    static var lanesPerRow: Int { 8 }
    static var groups: Int { 2 }

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>, _ groupStride: Int) -> SIMD32<Float> {
        SIMD32(lowHalf: UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self),
               highHalf: UnsafeRawPointer(p + groupStride).loadUnaligned(as: SIMD16<Float>.self))
    }

    @inline(__always)
    static func store(_ row: SIMD32<Float>, group g: Int, to: UnsafeMutablePointer<Float>, columns: Int,
                      accumulate: Bool) {
        store(g == 0 ? row.lowHalf : row.highHalf, to, count: columns, accumulate: accumulate)
    }
}

/// Four tile rows of 4 tiles (widths up to 8).
enum FourTileRows: TileRowGroup {
    static var lanesPerRow: Int { 4 }
    static var groups: Int { 4 }

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>, _ groupStride: Int) -> SIMD32<Float> {
        let raw = UnsafeRawPointer(p)
        return SIMD32(
            lowHalf: SIMD16(lowHalf: raw.loadUnaligned(as: SIMD8<Float>.self),
                            highHalf: raw.loadUnaligned(fromByteOffset: 4 * groupStride, as: SIMD8<Float>.self)),
            highHalf: SIMD16(lowHalf: raw.loadUnaligned(fromByteOffset: 8 * groupStride, as: SIMD8<Float>.self),
                             highHalf: raw.loadUnaligned(fromByteOffset: 12 * groupStride, as: SIMD8<Float>.self)))
    }

    @inline(__always)
    static func store(_ row: SIMD32<Float>, group g: Int, to: UnsafeMutablePointer<Float>, columns: Int,
                      accumulate: Bool) {
        let half = g < 2 ? row.lowHalf : row.highHalf
        store(g & 1 == 0 ? half.lowHalf : half.highHalf, to, count: columns, accumulate: accumulate)
    }
}
