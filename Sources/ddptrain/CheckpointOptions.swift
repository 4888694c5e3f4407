import ArgumentParser
import Training

/// Flags that control checkpoints and resuming.
struct CheckpointOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Resume: 'auto' takes the newest valid checkpoint in --run-dir (fresh start if there is none), or a checkpoint path.", valueName: "auto|path"))
    var resume: String?

    @Option(name: .long, help: "Write a checkpoint every N epochs, 0 for none by epoch (default: \(defaults.everyEpochs)).")
    var checkpointEvery: Int?

    @Option(name: .long, help: "Write a checkpoint every N optimizer steps, 0 for none by step (default: \(defaults.everySteps)).")
    var checkpointEverySteps: Int?

    @Option(name: .long, help: "Checkpoints to keep in the run directory (default: \(defaults.keep)).")
    var keep: Int?

    @Option(name: .long, help: "zstd compression level of checkpoints, 1–19 (default: \(defaults.zstdLevel)).")
    var zstdLevel: Int32?

    @Flag(name: .long, inversion: .prefixedNo, help: "Byte-shuffle the float32 payload before compression (default: \(onOff(defaults.shuffle))).")
    var shuffle: Bool?

    @Option(name: .long, help: "When a checkpoint cannot be written: continue or stop (default: \(defaults.onFailure.rawValue); the previous checkpoint is always kept).")
    var onCheckpointFailure: CheckpointSettings.FailurePolicy?

    @Flag(name: .long, help: "With --resume: continue under changed recipe flags (--epochs, --lr, --schedule, --milestones, --decay, optimizer, augmentation, …) from the saved step; each change is logged and kept in the checkpoints' phases. Without it, any change is refused.")
    var continueWithChanges = false

    @Flag(name: .long, help: "Write no checkpoints at all.")
    var noCheckpoints = false

    /// The settings: the saved run's (when resuming) or the defaults, with the given flags applied.
    func settings(existing: CheckpointSettings?) throws -> CheckpointSettings {
        var s = existing ?? CheckpointSettings()
        if let checkpointEvery { s.everyEpochs = checkpointEvery }
        if let checkpointEverySteps { s.everySteps = checkpointEverySteps }
        if let keep { s.keep = keep }
        if let zstdLevel { s.zstdLevel = zstdLevel }
        if let shuffle { s.shuffle = shuffle }
        if let onCheckpointFailure { s.onFailure = onCheckpointFailure }
        if noCheckpoints { s.enabled = false }
        try s.validate()
        return s
    }

    /// Whether a flag that tunes checkpoints (rather than turning them off) was given.
    var givesSettings: Bool {
        checkpointEvery != nil || checkpointEverySteps != nil || keep != nil || zstdLevel != nil || shuffle != nil
            || onCheckpointFailure != nil
    }
}

extension CheckpointSettings.FailurePolicy: ExpressibleByArgument {}

/// The defaults the checkpoint flags' help shows, from `CheckpointSettings`.
private var defaults: CheckpointSettings { TrainingConfiguration.defaults.checkpoint }
