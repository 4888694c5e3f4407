import Data
import Distributed
import Engine
import Foundation

/// How the ranks of a run split the data and check that they agree.
extension Trainer {
    /// Ranks of the job on this machine (Open MPI's local size; 1 outside `mpirun`), which share
    /// its memory.
    static func ranksOnThisNode() -> Int {
        max(1, Int(ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"] ?? "") ?? 1)
    }


    /// The seed of the epoch order, derived from the run's seed.
    public static func orderSeed(_ seed: UInt64) -> UInt64 { RandomStream.derive(seed, 0x6f72_6465_72) }
    /// The seed of the augmentations, derived from the run's seed.
    public static func augmentationSeed(_ seed: UInt64) -> UInt64 { RandomStream.derive(seed, 0x6175_676d) }

    /// The global batches an epoch trains on: all of the plan's, except a final one too short to
    /// give every rank at least one sample (dropped identically on every rank).
    static func trainedBatches(_ plan: EpochPlan, ranks: Int) -> [ArraySlice<Int32>] {
        (0..<plan.batchCount).map { plan.batch($0) }.filter { $0.count >= ranks }
    }

    /// Rank `rank`'s contiguous share of a global batch of `count` samples: sizes differ by at most one.
    public static func share(of count: Int, rank: Int, ranks: Int) -> Range<Int> {
        (count * rank / ranks)..<(count * (rank + 1) / ranks)
    }

    /// Stops with a message naming the differing fields when the ranks' configurations differ.
    static func checkAgreement(_ c: TrainingConfiguration, _ communicator: Communicator) throws {
        guard communicator.size > 1 else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let mine = try encoder.encode(c.sharedFields)
        guard !communicator.everyRankHolds(FNV1a.hash(mine)) else { return }
        let differing = ConfigurationDifference.fields(Data(communicator.leaders([UInt8](mine))), mine)
        if differing.isEmpty {
            // This rank agrees with rank 0; a rank that differs names the fields and aborts the
            // job. Give its message time to get out before ending the job from here.
            Thread.sleep(forTimeInterval: 5)
            communicator.abort("configuration differs between ranks (see the other ranks' messages)")
        }
        communicator.abort("configuration differs from rank 0 in: " + differing.joined(separator: ", ")
                           + ". Start every rank with the same flags and the same data.")
    }

    /// Aborts the job when the ranks' parameters are no longer bitwise identical.
    func checkParametersAgree() throws {
        let checksum = network.parameters.checksum()
        if !communicator.everyRankHolds(checksum) {
            communicator.abort("parameters diverged across ranks at step \(schedule.step) (checksum \(String(checksum, radix: 16)) "
                               + "on this rank); the ranks no longer train the same model")
        }
    }
}
