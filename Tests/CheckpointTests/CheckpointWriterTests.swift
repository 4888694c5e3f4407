import Foundation
import XCTest
@testable import Checkpoint

/// The writer publishes a checkpoint only complete: `latest` names the newest, pruning keeps
/// exactly the newest K, and a failed write leaves the previous checkpoint and `latest` as they
/// were, loadable. Background writes run in call order and report through their completion.
final class CheckpointWriterTests: XCTestCase {
    func checkpoint(_ k: Int) throws -> Data {
        var tensors = CheckpointFixture.tensors(seed: UInt64(k))
        tensors[0].values[0] = Float(k)
        return try CheckpointFixture.encoded(level: 1, tensors: tensors)
    }

    func name(_ k: Int) -> String { CheckpointDirectory.fileName(epoch: k, globalStep: 390 * k) }

    /// The directory's `latest` points at checkpoint `k`, which loads and is checkpoint `k`.
    func assertLatestIs(_ k: Int, in fixture: CheckpointFixture, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(try String(contentsOfFile: fixture.path("latest"), encoding: .utf8), name(k) + "\n", file: file, line: line)
        let path = try XCTUnwrap(CheckpointDirectory.latest(in: fixture.directory), file: file, line: line)
        XCTAssertEqual(path, fixture.path(name(k)), file: file, line: line)
        let loaded = try CheckpointFile.read(path: path)
        XCTAssertEqual(loaded.tensors[0].values[0], Float(k), file: file, line: line)
    }

    func testWriteLeavesExactlyTheFileAndLatestAndNoTemporaryFiles() throws {
        let fixture = try CheckpointFixture()
        let writer = CheckpointWriter(directory: fixture.directory, keep: 3)
        let bytes = try checkpoint(1)
        try writer.write(bytes, name: name(1))
        XCTAssertEqual(try fixture.listing(), [name(1), "latest"])
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: fixture.path(name(1)))), bytes)
        try assertLatestIs(1, in: fixture)
    }

    func testLatestNamesTheNewestAndPruningKeepsExactlyTheNewestK() throws {
        let fixture = try CheckpointFixture()
        try fixture.write("config.json", bytes: Data("{}".utf8))
        try fixture.write("ckpt-notes.txt", bytes: Data([1]))
        let writer = CheckpointWriter(directory: fixture.directory, keep: 2)
        for k in 1...5 {
            try writer.write(try checkpoint(k), name: name(k))
            try assertLatestIs(k, in: fixture)
            XCTAssertEqual(CheckpointDirectory.candidates(in: fixture.directory), (max(1, k - 1)...k).reversed().map { fixture.path(name($0)) })
        }
        XCTAssertEqual(try fixture.listing(), ["ckpt-notes.txt", name(4), name(5), "config.json", "latest"].sorted())
    }

    func testPruningNeverDeletesLatestsTargetOrTheFileJustWritten() throws {
        let fixture = try CheckpointFixture()
        let writer = CheckpointWriter(directory: fixture.directory, keep: 1)
        for k in [5, 6] { try writer.write(try checkpoint(k), name: name(k)) }
        // A run resumed from an older checkpoint writes a lower step than files already there.
        try writer.write(try checkpoint(2), name: name(2))
        try assertLatestIs(2, in: fixture)
        XCTAssertEqual(CheckpointDirectory.candidates(in: fixture.directory), [fixture.path(name(6)), fixture.path(name(2))])
    }

    /// Issue 14 #3: `best` names the checkpoint written with `best: true`, pruning with keep 1
    /// never deletes it, a later best moves it, and `pointerTarget` resolves `RUNDIR/best`.
    func testBestNamesTheBestCheckpointAndSurvivesKeepOne() throws {
        let fixture = try CheckpointFixture()
        let writer = CheckpointWriter(directory: fixture.directory, keep: 1)
        try writer.write(try checkpoint(1), name: name(1))
        try writer.write(try checkpoint(2), name: name(2), best: true)
        try writer.write(try checkpoint(3), name: name(3))
        try writer.write(try checkpoint(4), name: name(4))
        XCTAssertEqual(try fixture.listing(), ["best", name(2), name(4), "latest"])
        XCTAssertEqual(CheckpointDirectory.best(in: fixture.directory), fixture.path(name(2)))
        XCTAssertEqual(CheckpointDirectory.pointerTarget(fixture.path("best")), fixture.path(name(2)))
        XCTAssertEqual(try CheckpointFile.read(path: fixture.path(name(2))).tensors[0].values[0], 2)
        try writer.write(try checkpoint(5), name: name(5), best: true)
        XCTAssertEqual(try fixture.listing(), ["best", name(5), "latest"], "the old best goes once a newer one is best")
        XCTAssertEqual(CheckpointDirectory.pointerTarget(fixture.path("best")), fixture.path(name(5)))
        XCTAssertNil(CheckpointDirectory.pointerTarget(fixture.path(name(5))), "a checkpoint file is no pointer")
    }

    func testFailedWriteIntoADirectoryThatIsAFileThrowsIOError() throws {
        let fixture = try CheckpointFixture()
        let notDirectory = try fixture.write("plain-file", bytes: Data([1]))
        let writer = CheckpointWriter(directory: notDirectory, keep: 2)
        guard case .io(let path, let reason)? = checkpointError({ try writer.write(try checkpoint(1), name: name(1)) }) else {
            return XCTFail("no I/O error")
        }
        XCTAssertEqual(path, notDirectory)
        XCTAssertTrue(reason.contains("not a directory"), reason)
    }

    func testFailedTemporaryFileLeavesThePreviousCheckpointAndLatestLoadable() throws {
        let fixture = try CheckpointFixture()
        let writer = CheckpointWriter(directory: fixture.directory, keep: 2)
        try writer.write(try checkpoint(1), name: name(1))
        // The temporary path is taken by a directory, so creating the temporary file fails.
        let temporary = fixture.path(CheckpointDirectory.temporaryName(name(2)))
        try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: false)
        let error = checkpointError { try writer.write(try checkpoint(2), name: name(2)) }
        guard case .io(let path, let reason)? = error else { return XCTFail("no I/O error: \(String(describing: error))") }
        XCTAssertEqual(path, temporary)
        XCTAssertTrue(reason.contains("creating the temporary file failed") && reason.contains("directory"), reason)
        XCTAssertTrue(error!.description.contains(temporary), error!.description)
        try assertLatestIs(1, in: fixture)
        XCTAssertEqual(CheckpointDirectory.candidates(in: fixture.directory), [fixture.path(name(1))])
        XCTAssertTrue(FileManager.default.fileExists(atPath: temporary), "the writer must not delete what it did not create")
    }

    func testFailedRenameRemovesTheTemporaryFileAndKeepsThePreviousCheckpoint() throws {
        let fixture = try CheckpointFixture()
        let writer = CheckpointWriter(directory: fixture.directory, keep: 2)
        try writer.write(try checkpoint(1), name: name(1))
        // The final name is a non-empty directory: the rename over it fails.
        try FileManager.default.createDirectory(atPath: fixture.path(name(2)) + "/inside", withIntermediateDirectories: true)
        guard case .io(let path, let reason)? = checkpointError({ try writer.write(try checkpoint(2), name: name(2)) }) else {
            return XCTFail("no I/O error")
        }
        XCTAssertEqual(path, fixture.path(name(2)))
        XCTAssertTrue(reason.contains("renaming"), reason)
        XCTAssertFalse(FileManager.default.fileExists(atPath: fixture.path(CheckpointDirectory.temporaryName(name(2)))))
        try assertLatestIs(1, in: fixture)
    }

    func testNamesThatLeaveTheDirectoryOrShadowItsOwnFilesAreRefused() throws {
        let fixture = try CheckpointFixture()
        try fixture.write("keep.txt", bytes: Data([1]))
        let writer = CheckpointWriter(directory: fixture.directory, keep: 2)
        for bad in ["", "latest", ".hidden.ddpt", "missing/sub.ddpt", "../escape.ddpt"] {
            guard case .io(_, let reason)? = checkpointError({ try writer.write(Data([1]), name: bad) }) else {
                XCTFail("name \(bad.debugDescription) accepted")
                continue
            }
            XCTAssertTrue(reason.contains("not a plain file name"), reason)
        }
        XCTAssertEqual(try fixture.listing(), ["keep.txt"])
    }

    func testStaleTemporaryFilesAreIgnoredAndRemovedByTheNextSuccessfulWrite() throws {
        let fixture = try CheckpointFixture()
        let stale = [CheckpointDirectory.temporaryName(name(7)), ".latest.tmp"]
        for name in stale { try fixture.write(name, bytes: Data(repeating: 0xAB, count: 100)) }
        try fixture.write(".other.tmp", bytes: Data([1]))
        XCTAssertEqual(CheckpointDirectory.candidates(in: fixture.directory), [])
        try CheckpointWriter(directory: fixture.directory, keep: 2).write(try checkpoint(1), name: name(1))
        XCTAssertEqual(try fixture.listing(), [".other.tmp", name(1), "latest"])
    }

    func testBackgroundWritesCompleteInCallOrderAndReportPaths() throws {
        let fixture = try CheckpointFixture()
        let writer = CheckpointWriter(directory: fixture.directory, keep: 10)
        let log = Log()
        for k in 1...5 {
            let bytes = try checkpoint(k)
            writer.writeInBackground(name: name(k), make: {
                log.append("make \(k)")
                return bytes
            }, completion: { result in
                log.append((try? result.get()) ?? "failure \(k)")
            })
        }
        writer.waitForPending()
        XCTAssertEqual(log.entries, (1...5).flatMap { ["make \($0)", fixture.path(name($0))] })
        try assertLatestIs(5, in: fixture)
    }

    func testBackgroundFailuresReachTheCompletionAndLeaveTheLastGoodCheckpoint() throws {
        struct CompressionFailed: Error {}
        let fixture = try CheckpointFixture()
        let writer = CheckpointWriter(directory: fixture.directory, keep: 10)
        try writer.write(try checkpoint(1), name: name(1))
        let log = Log()
        writer.writeInBackground(name: name(2), make: { throw CompressionFailed() }, completion: { result in
            if case .failure(let error) = result { log.append(error is CompressionFailed ? "make failed" : "\(error)") }
        })
        try FileManager.default.createDirectory(atPath: fixture.path(CheckpointDirectory.temporaryName(name(3))),
                                                withIntermediateDirectories: false)
        let bytes = try checkpoint(3)
        writer.writeInBackground(name: name(3), make: { bytes }, completion: { result in
            if case .failure(let error as CheckpointError) = result, case .io = error { log.append("io") }
        })
        writer.waitForPending()
        XCTAssertEqual(log.entries, ["make failed", "io"])
        try assertLatestIs(1, in: fixture)
    }

    func testWriteDelayHookSlowsTheWriteDown() throws {
        let fixture = try CheckpointFixture()
        setenv(CheckpointWriter.writeDelayVariable, "3", 1)
        defer { unsetenv(CheckpointWriter.writeDelayVariable) }
        let start = Date()
        try CheckpointWriter(directory: fixture.directory, keep: 2).write(try checkpoint(1), name: name(1))
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(start), 15 * 0.003)
        try assertLatestIs(1, in: fixture)
    }
}

/// A thread-safe list of strings, for completions that run on the writer's queue.
final class Log: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []

    func append(_ item: String) { lock.lock(); items.append(item); lock.unlock() }

    var entries: [String] { lock.lock(); defer { lock.unlock() }; return items }
}
