import Data
import Foundation
@testable import Training
import XCTest

final class ShardingTests: XCTestCase {
    func testSharesCoverABatchOnceWithSizesDifferingByAtMostOne() {
        for count in [1, 7, 64, 65, 100] {
            for ranks in 1...5 where ranks <= count {
                let shares = (0..<ranks).map { Trainer.share(of: count, rank: $0, ranks: ranks) }
                XCTAssertEqual(shares.first?.lowerBound, 0)
                XCTAssertEqual(shares.last?.upperBound, count)
                for (a, b) in zip(shares, shares.dropFirst()) { XCTAssertEqual(a.upperBound, b.lowerBound) }
                let sizes = shares.map(\.count)
                XCTAssertLessThanOrEqual(sizes.max()! - sizes.min()!, 1, "\(count) over \(ranks)")
                XCTAssertGreaterThan(sizes.min()!, 0)
            }
        }
    }

    func testAFinalBatchSmallerThanTheRankCountIsDroppedOnEveryRank() {
        // 65 samples in global batches of 16: 4 full batches and one of 1.
        let plan = EpochPlan(sampleCount: 65, batchSize: 16, dropLast: false, seed: 1, epoch: 0)
        XCTAssertEqual(Trainer.trainedBatches(plan, ranks: 1).count, 5)
        XCTAssertEqual(Trainer.trainedBatches(plan, ranks: 2).count, 4)
        let split = EpochPlan(sampleCount: 67, batchSize: 16, dropLast: false, seed: 1, epoch: 0)
        XCTAssertEqual(Trainer.trainedBatches(split, ranks: 3).map(\.count), [16, 16, 16, 16, 3])
    }

    func testConfigurationDifferenceNamesNestedFields() throws {
        var a = TrainingConfiguration(model: try .init(name: "resnet-20"), dataDirectory: "/a", runDirectory: "/r")
        var b = a
        b.schedule.baseRate = 0.2
        b.model.depth = 56
        b.dataDirectory = "/elsewhere"
        a = a.sharedFields
        b = b.sharedFields
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        XCTAssertEqual(ConfigurationDifference.fields(try encoder.encode(a), try encoder.encode(b)),
                       ["model.depth", "schedule.baseRate"])
        XCTAssertEqual(ConfigurationDifference.fields(try encoder.encode(a), try encoder.encode(a)), [])
    }
}
