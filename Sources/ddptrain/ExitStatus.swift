import ArgumentParser
// The exit status is chosen by the kind of error, so each module whose errors reach the command is named:
import Checkpoint
import Data
import Foundation  // FileHandle.standardError
import Models
import Training

/// The exit statuses of `ddptrain`, one per kind of ending, documented in Docs/cli.md. Scripts
/// (`Scripts/supervise.sh`, `Cluster/ddptrain.slurm`) decide on them whether to restart.
enum ExitStatus: Int32 {
    /// The command did what was asked.
    case success = 0
    /// The run failed while running: NaN loss, ranks diverged, an I/O error on metrics, a rank
    /// that died or aborted.
    case runFailure = 1
    /// The step watchdog (`--step-timeout`) ended a job that made no progress.
    case stalled = 3
    /// The command line cannot run as given: a bad flag or value, a flag that would do nothing,
    /// a run directory that holds another run or is in use, an output path that is refused.
    case usage = 64
    /// An input file is wrong: data files, a checkpoint (damaged, invalid, of another model).
    case badInput = 65
    /// The run's last checkpoint could not be written (the message says which one is on disk).
    case checkpointFailed = 74
    /// Stopped early by SIGTERM or SIGINT after writing a checkpoint; continue with `--resume auto`.
    case stoppedBySignal = 75

    /// The status an error ends the command with.
    static func of(_ error: Error) -> ExitStatus {
        switch error {
        case is ConfigurationProblem, is ModelError, is AugmentationError, is DatasetChoiceError, is RunDirectoryError, is ValidationError:
            return .usage
        case let error as TrainingError:
            switch error {
            case .invalidOption: return .usage
            case .initialWeights: return .badInput
            default: return .runFailure
            }
        case let error as ResumeError:
            switch error {
            case .contradictingFlags, .worldSizeMismatch, .batchNormGroups: return .usage
            default: return .badInput
            }
        case is DataError, is CheckpointError, is SafetensorsError:
            return .badInput
        default:
            return .runFailure
        }
    }
}

/// Writes `message` to standard error as one line.
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
