import Distributed
import Foundation
import Models
@testable import Training
import XCTest

/// `--bn-sync`'s modes as flags and files spell them (`batch`, `local`, `group:K`, `node`), the
/// rule that K divides the ranks, and what a resume on another number of ranks makes of groups.
/// (The modes' training behaviour under mpirun is in SystemTests' DistributedTrainingTests.)
final class BatchNormSyncTests: XCTestCase {
    // MARK: Spellings

    func testEverySpellingParsesToItsModeAndPrintsBackTheSame() throws {
        let cases: [(String, BatchNormSync)] = [
            ("batch", .batch), ("local", .local), ("node", .node),
            ("group:1", .group(ranksPerGroup: 1)), ("group:4", .group(ranksPerGroup: 4)),
            ("group:1048576", .group(ranksPerGroup: TrainingConfiguration.Limits.worldSize)),
        ]
        for (text, mode) in cases {
            XCTAssertEqual(try BatchNormSync(parsing: text), mode, text)
            XCTAssertEqual(BatchNormSync(rawValue: text), mode, text)
            XCTAssertEqual(mode.rawValue, text)
        }
        XCTAssertEqual(BatchNormSync.group(ranksPerGroup: 4).ranksPerGroup, 4)
        XCTAssertNil(BatchNormSync.node.ranksPerGroup)
    }

    func testMalformedModesAndGroupSizesAreRefusedSayingWhatIsAccepted() {
        for text in ["", "global", "Batch", "groups:2", "group", "2"] {
            XCTAssertThrowsError(try BatchNormSync(parsing: text)) { error in
                XCTAssertEqual(error as? BatchNormSyncError, .unknownMode(text))
                XCTAssertTrue("\(error)".contains("group:K"), "\(error)")
            }
        }
        // One spelling per value: no sign, no leading zero, no spaces, nothing beyond the limit.
        for text in ["group:", "group:0", "group:-1", "group:+2", "group:02", "group: 2", "group:2x", "group:1.5",
                     "group:1048577", "group:99999999999999999999", "group:٣"] {
            XCTAssertThrowsError(try BatchNormSync(parsing: text)) { error in
                XCTAssertEqual(error as? BatchNormSyncError, .invalidGroupSize(text))
                XCTAssertTrue("\(error)".contains("number of ranks per group"), "\(error)")
            }
            XCTAssertNil(BatchNormSync(rawValue: text))
        }
    }

    // MARK: Files

    /// A configuration's JSON as files store it, with `batchNormSync` set to `text`.
    static func configurationJSON(batchNormSync text: String) throws -> Data {
        let c = TrainingConfiguration(model: ModelConfiguration(family: .resnet, depth: 8), dataDirectory: "d", runDirectory: "r")
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: JSONEncoder().encode(c)) as? [String: Any])
        object["batchNormSync"] = text
        return try JSONSerialization.data(withJSONObject: object)
    }

    func testFilesOfEarlierVersionsStillReadAndNewModesRoundTripAsOneString() throws {
        for (text, mode) in [("batch", BatchNormSync.batch), ("local", .local), ("node", .node), ("group:8", .group(ranksPerGroup: 8))] {
            let decoded = try JSONDecoder().decode(TrainingConfiguration.self, from: Self.configurationJSON(batchNormSync: text))
            XCTAssertEqual(decoded.batchNormSync, mode)
            let encoded = try XCTUnwrap(JSONSerialization.jsonObject(with: JSONEncoder().encode(decoded)) as? [String: Any])
            XCTAssertEqual(encoded["batchNormSync"] as? String, text, "the mode must be written as the one string the flag takes")
        }
    }

    func testAFileWithAnUnknownModeIsRefusedWithTheReason() throws {
        for text in ["group:0", "sync"] {
            XCTAssertThrowsError(try JSONDecoder().decode(TrainingConfiguration.self, from: Self.configurationJSON(batchNormSync: text))) {
                error in
                guard case DecodingError.dataCorrupted(let context) = error else { return XCTFail("\(error)") }
                XCTAssertEqual(context.codingPath.map(\.stringValue), ["batchNormSync"])
                XCTAssertTrue(context.debugDescription.contains(text), context.debugDescription)
            }
        }
    }

    // MARK: Ranks

    func testAGroupSizeMustDivideTheRanksAndTheRefusalNamesFlagAndRankCount() throws {
        var c = TrainingConfiguration(model: ModelConfiguration(family: .resnet, depth: 8), dataDirectory: "d", runDirectory: "r")
        for (mode, ranks) in [(BatchNormSync.group(ranksPerGroup: 2), 4), (.group(ranksPerGroup: 4), 4), (.group(ranksPerGroup: 1), 3),
                              (.node, 3), (.local, 5), (.batch, 7)] {
            c.batchNormSync = mode
            c.worldSize = ranks
            XCTAssertNoThrow(try c.validate(), "\(mode.rawValue) on \(ranks) ranks")
        }
        for (k, ranks) in [(3, 4), (2, 1), (8, 4)] {
            c.batchNormSync = .group(ranksPerGroup: k)
            c.worldSize = ranks
            XCTAssertThrowsError(try c.validate(), "group:\(k) on \(ranks) ranks") { error in
                let problem = error as? ConfigurationProblem
                XCTAssertEqual(problem?.flag, "--bn-sync")
                XCTAssertEqual(problem?.field, "batchNormSync")
                XCTAssertTrue("\(error)".contains("group:\(k)") && "\(error)".contains("has \(ranks) rank(s)"), "\(error)")
            }
        }
    }

    // MARK: Resuming on other ranks

    /// A resume point of a run of `ranks` ranks × `batch` samples under `mode`, at step 3.
    static func resumePoint(_ mode: BatchNormSync, ranks: Int, batch: Int) -> ResumePoint {
        var c = TrainingConfiguration(model: ModelConfiguration(family: .resnet, depth: 8), dataDirectory: "d", runDirectory: "r")
        c.batchNormSync = mode
        c.worldSize = ranks
        c.batchSize = batch
        c.epochs = 2
        let schedule = LearningRateSchedule(kind: .constant, baseRate: 0.1, epochs: 2, stepsPerEpoch: 4)
        let state = TrainingState(configuration: c, schedule: schedule, networkStep: 3, history: [], partialEpoch: nil,
                                  wallSeconds: 1, savedAt: "2026-01-01T00:00:00Z", reason: "steps")
        return ResumePoint(path: "run/ckpt.ddpt", state: state)
    }

    func testAResumeOnOtherRanksKeepsTheNumberOfGroupsSoEachNormalisesTheSameSamples() throws {
        // 4 ranks × 6 in 2 groups of 2 ranks: the global batch of 24 in halves.
        let point = Self.resumePoint(.group(ranksPerGroup: 2), ranks: 4, batch: 6)
        for (ranks, k, batch) in [(2, 1, 12), (4, 2, 6), (6, 3, 4), (8, 4, 3)] {
            let c = try point.reconcile(point.state.configuration, worldSize: ranks, explicitBatchSize: nil)
            XCTAssertEqual(c.batchNormSync, .group(ranksPerGroup: k), "on \(ranks) ranks")
            XCTAssertEqual(c.batchSize, batch)
            XCTAssertNoThrow(try c.validate())
            // Given explicitly, the re-derived value is accepted too.
            XCTAssertEqual(try point.reconcile(point.state.configuration, worldSize: ranks, explicitBatchSize: nil,
                                               explicitBatchNormSync: .group(ranksPerGroup: k)).batchNormSync, c.batchNormSync)
        }
        // Whatever the ranks, group g of K ranks covers the same samples of every global batch.
        for count in 8...24 {
            for (ranks, k) in [(2, 1), (4, 2), (8, 4)] {
                let groups = (0..<2).map { g in
                    Trainer.share(of: count, rank: g * k, ranks: ranks).lowerBound
                        ..< Trainer.share(of: count, rank: g * k + k - 1, ranks: ranks).upperBound
                }
                XCTAssertEqual(groups, [0..<count / 2, count / 2..<count], "\(count) samples over \(ranks) ranks in groups of \(k)")
            }
        }
    }

    func testAResumeOnRanksThatCannotFormTheGroupsIsRefusedSayingWhichCountsWould() throws {
        let point = Self.resumePoint(.group(ranksPerGroup: 2), ranks: 4, batch: 6)
        for ranks in [1, 3] {
            XCTAssertThrowsError(try point.reconcile(point.state.configuration, worldSize: ranks, explicitBatchSize: nil)) { error in
                XCTAssertEqual(error as? ResumeError, .batchNormGroups(path: "run/ckpt.ddpt", ranksPerGroup: 2, savedRanks: 4, ranks: ranks))
                XCTAssertTrue("\(error)".contains("resume on a multiple of 2 ranks (2, 4, 6…)"), "\(error)")
            }
        }
        // The saved spelling given again on other ranks would mean other groups: refused, naming the one that keeps them.
        XCTAssertThrowsError(try point.reconcile(point.state.configuration, worldSize: 8, explicitBatchSize: nil,
                                                 explicitBatchNormSync: .group(ranksPerGroup: 2))) { error in
            guard case ResumeError.contradictingFlags(_, let fields) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(fields.count, 1)
            XCTAssertTrue(fields[0].hasPrefix("--bn-sync group:2") && fields[0].contains("as group:4"), "\(fields)")
        }
        // Another mode is another run, as before.
        var local = point.state.configuration
        local.batchNormSync = .local
        XCTAssertThrowsError(try point.reconcile(local, worldSize: 4, explicitBatchSize: nil, explicitBatchNormSync: .local)) { error in
            guard case ResumeError.contradictingFlags(_, let fields) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(fields, ["batchNormSync"])
        }
    }

    func testLocalAndNodeModesStayAsTheyAreOnAnyNumberOfRanks() throws {
        for mode in [BatchNormSync.local, .node, .batch] {
            let point = Self.resumePoint(mode, ranks: 4, batch: 6)
            for ranks in [1, 2, 3, 8] {
                XCTAssertEqual(try point.reconcile(point.state.configuration, worldSize: ranks, explicitBatchSize: nil).batchNormSync,
                               mode)
            }
        }
    }

    // MARK: Which ranks a rank sums statistics with

    func testEachModeSumsStatisticsOverTheRanksItNames() throws {
        let world = RecordingCommunicator(rank: 5, size: 8)
        XCTAssertTrue(BatchNormSync.batch.statisticsGroup(in: world) === world)
        XCTAssertNil(BatchNormSync.local.statisticsGroup(in: world))
        XCTAssertNil(BatchNormSync.group(ranksPerGroup: 1).statisticsGroup(in: world), "group:1 must take local's path, no split")
        XCTAssertTrue(world.splits.isEmpty)
        // Rank 5 of 8 in groups of 2 is in group 2 (ranks 4 and 5); in groups of 4, in group 1.
        XCTAssertNotNil(BatchNormSync.group(ranksPerGroup: 2).statisticsGroup(in: world))
        XCTAssertNotNil(BatchNormSync.group(ranksPerGroup: 4).statisticsGroup(in: world))
        XCTAssertNotNil(BatchNormSync.node.statisticsGroup(in: world))
        XCTAssertEqual(world.splits, ["color 2", "color 1", "host"])
        // A group of one rank (here: the only rank of its host) has nothing to sum with.
        XCTAssertNil(BatchNormSync.node.statisticsGroup(in: RecordingCommunicator(rank: 0, size: 4, groupSize: 1)))
        // One process: no group whatever the mode, and no split.
        let single = RecordingCommunicator(rank: 0, size: 1)
        for mode in [BatchNormSync.batch, .local, .group(ranksPerGroup: 1), .node] { XCTAssertNil(mode.statisticsGroup(in: single)) }
        XCTAssertTrue(single.splits.isEmpty)
    }
}

/// A communicator that records the splits asked of it (the color, or "host"); every group it
/// returns has `groupSize` ranks. Collectives are not used by the code under test and fail it.
private final class RecordingCommunicator: Communicator {
    let rank: Int, size: Int, groupSize: Int
    private(set) var splits: [String] = []

    init(rank: Int, size: Int, groupSize: Int = 2) {
        self.rank = rank
        self.size = size
        self.groupSize = groupSize
    }

    func split(color: Int) -> Communicator {
        splits.append("color \(color)")
        return RecordingCommunicator(rank: rank % groupSize, size: groupSize)
    }

    func splitByHost() -> Communicator {
        splits.append("host")
        return RecordingCommunicator(rank: rank % groupSize, size: groupSize)
    }

    func sumAcrossRanks(_ values: UnsafeMutablePointer<Float>, count: Int) { XCTFail("unexpected collective") }
    func sumAcrossRanks(_ values: UnsafeMutablePointer<Double>, count: Int) { XCTFail("unexpected collective") }
    func range(of value: UInt64) -> (min: UInt64, max: UInt64) { XCTFail("unexpected collective"); return (value, value) }
    func broadcast(_ values: UnsafeMutablePointer<Float>, count: Int) { XCTFail("unexpected collective") }
    func broadcast(_ bytes: inout [UInt8]) { XCTFail("unexpected collective") }
    func startSum(_ values: UnsafeMutablePointer<Float>, count: Int) { XCTFail("unexpected collective") }
    func startBFloat16Sum(_ values: UnsafeMutablePointer<UInt16>, count: Int) { XCTFail("unexpected collective") }
    func progress() {}
    func waitAll() {}
    func abort(_ message: String, status: Int32) -> Never { fatalError(message) }
}
