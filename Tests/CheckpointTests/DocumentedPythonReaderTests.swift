import Foundation
import TestSupport
import XCTest
@testable import Checkpoint

/// The Python reader in Docs/checkpoint-format.md reads what the Swift encoder writes (names,
/// shapes, sections, value bits, metadata) and rejects a damaged header: the document is exact.
/// Needs python3 and either the `zstandard` package or the `zstd` command; skips without them.
final class DocumentedPythonReaderTests: XCTestCase {
    static let document = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Docs/checkpoint-format.md")

    /// The document's complete reader: the Python block that starts with a `#!` line.
    func documentedReader() throws -> String {
        guard let text = try? String(contentsOf: Self.document, encoding: .utf8) else {
            throw XCTSkip("\(Self.document.path) is not present")
        }
        let opening = "```python\n#!/usr/bin/env python3\n"
        let start = try XCTUnwrap(text.range(of: opening), "no complete Python reader in the document")
        let end = try XCTUnwrap(text.range(of: "\n```", range: start.upperBound..<text.endIndex))
        return String(text[text.index(start.lowerBound, offsetBy: "```python\n".count)..<end.lowerBound]) + "\n"
    }

    func run(_ arguments: [String]) throws -> (status: Int32, output: String, error: String) {
        let result = try TestProcess.run("/usr/bin/env", arguments, separateError: true)
        return (result.status, result.output, result.error)
    }

    func testDocumentedPythonReaderReadsWhatTheEncoderWritesAndRejectsDamage() throws {
        let reader = try documentedReader()
        guard (try? run(["python3", "-c", "pass"]).status) == 0 else { throw XCTSkip("python3 is not available") }
        let hasZstandard = try run(["python3", "-c", "import zstandard"]).status == 0
        guard hasZstandard || (try? run(["zstd", "--version"]).status) == 0 else {
            throw XCTSkip("neither Python's zstandard nor the zstd command is available")
        }
        let fixture = try CheckpointFixture()
        try fixture.write("read_ddpt.py", bytes: Data(reader.utf8))
        let driver = """
            import json, sys
            sys.path.insert(0, sys.argv[1])
            from read_ddpt import read_checkpoint, ddpt64
            header, tensors = read_checkpoint(sys.argv[2])
            print(json.dumps({
                "names": list(tensors), "shapes": [t[0] for t in tensors.values()],
                "sections": [t[1] for t in tensors.values()],
                "value_hash": "%016x" % ddpt64(b"".join(t[2].tobytes() for t in tensors.values())),
                "metadata": header["metadata"], "shuffle": header["compression"]["shuffle"]}))
            """
        let driverPath = try fixture.write("driver.py", bytes: Data(driver.utf8))
        let tensors = CheckpointFixture.tensors()
        let expectedMetadata = try JSONSerialization.jsonObject(with: CheckpointFixture.metadata) as? NSDictionary
        for shuffle in [false, true] {
            let path = try fixture.write("c.ddpt", bytes: CheckpointFixture.encoded(shuffle: shuffle, tensors: tensors))
            let result = try run(["python3", driverPath, fixture.directory, path])
            XCTAssertEqual(result.status, 0, result.error)
            let read = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any], result.output)
            XCTAssertEqual(read["names"] as? [String], tensors.map(\.name))
            XCTAssertEqual(read["shapes"] as? [[Int]], tensors.map(\.shape))
            XCTAssertEqual(read["sections"] as? [String], tensors.map(\.section))
            XCTAssertEqual(read["value_hash"] as? String, CheckpointError.hex(CheckpointFile.valueHash(tensors)).dropFirst(2).description)
            XCTAssertEqual(read["shuffle"] as? Bool, shuffle)
            XCTAssertTrue((read["metadata"] as? NSDictionary)?.isEqual(expectedMetadata) ?? false, "\(String(describing: read["metadata"]))")

            var damaged = try Data(contentsOf: URL(fileURLWithPath: path))
            damaged[64 + 20] ^= 0x01
            try fixture.write("c.ddpt", bytes: damaged)
            let rejected = try run(["python3", driverPath, fixture.directory, path])
            XCTAssertNotEqual(rejected.status, 0)
            XCTAssertTrue(rejected.error.contains("checksum mismatch"), rejected.error)
        }
    }
}
