#!/usr/bin/env python3
"""Checks one whole-model ddptrain SGD step against the same step in PyTorch (float64).

    python3 Scripts/pytorch_crosscheck.py --binary .build/release/ddptrain --model sparsenet-13-4 --work /tmp/xcheck

What it does:

1. Writes a tiny CIFAR-10 binary data set into WORK/data whose whole training split is one batch
   (--images records, at least one in each of data_batch_1.bin ... data_batch_5.bin), so that with
   augmentation off the step does not depend on the sample order: batch-statistics batch norm, the
   mean loss and the summed gradients are all invariant under a permutation of the batch.
2. Trains two steps with ddptrain (two epochs of one batch, constant learning rate, one thread,
   a checkpoint after every step, a per-step log).
3. Reads the checkpoints after step 1 and step 2 (the reader of Docs/checkpoint-format.md, with the
   content checksum verified), loads the step-1 weights, batch-norm running statistics and SGD
   momentum buffers into an independent PyTorch model (Scripts/ddptrain_torch.py: F.conv2d /
   nn.BatchNorm2d / torch.cat / F.pad / torch.optim.SGD, whose state_dict keys are ddptrain's
   tensor names), in which any unmatched, doubly matched or missing tensor is an error, and runs
   one training step in float64.
4. Compares the step-2 loss (from the step log), every parameter, every momentum buffer and every
   batch-norm running mean/variance with the step-2 checkpoint, prints a per-tensor error table and
   exits 1 naming the worst tensor when any error is over its tolerance (2 for any other failure).

The reference takes its settings from this script's own flags and the data it wrote, not from
ddptrain: it computes the normalisation constants itself (population mean and standard deviation
per channel over the training set, in float64) and only checks that the run's config.json
records the same values and the same model and optimizer settings.

Error measure, per tensor: the largest element-wise |ddptrain - reference| beyond one float32
spacing at the reference value (no float32 checkpoint can be closer than half of one), divided
by a scale that says what it is relative to: for a parameter the size of the update p2 - p1 (the
weights themselves are equal at the start, so the error relative to |p| would hide a wrong
update), for a momentum buffer and a running variance their magnitude, for a running mean the
running standard deviation (a mean near zero would otherwise inflate it). See SCALES and
TOLERANCES for the numbers and why.

ReLU kinks: ddptrain computes every ReLU input in float32, which differs from float64 by up to a
few 1e-6. An element whose float64 value is closer to zero than that may fall on the other side of
the kink in ddptrain, and that changes its backward signal from dy to 0 (or back), hence every
gradient upstream by ~1e-3 relative: the size of a real bug, although neither engine is wrong.
When the first comparison fails, the script therefore looks at the (at most 8 nearest) ReLU
inputs within 1e-5 of zero, finds the subset of them whose flip brings the linearised reference
closest to ddptrain, recomputes the reference exactly with those elements flipped, and compares
again; it prints which elements it flipped and their values. Nothing else is ever adjusted, and
with 16 images this is needed in about one run in eight (always one element with |x| < 4e-7).

--inject-bug NAME perturbs the reference on purpose, to show that the comparison catches it
(the script must then exit 1):
  sparse-aggregation-order   SparseNet layers concatenate their inputs oldest first instead of nearest first
  dense-aggregation-order    DenseNet layers concatenate their inputs newest first
  shortcut-padding           ResNet's option-A shortcut pads all new channels after the old ones
  weight-decay               weight decay 0 instead of the run's value
  no-nesterov                classical momentum instead of Nesterov
  bn-momentum                batch-norm running averages with momentum 0.01 instead of 0.1
  bn-epsilon                 batch-norm epsilon 1e-4 instead of 1e-5
  biased-running-var         running variance updated with the biased batch variance (PyTorch's is unbiased)
"""
import argparse
import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ddptrain_torch import RECTIFIER, BasicBlock, Convolution, SqueezeExcitation, build_model, model_config

# What each kind's error is divided by.
SCALES = {
    "parameter": "max |reference update p2 - p1| of the tensor (the error relative to the step taken)",
    "momentum": "max |reference buffer|",
    "running_mean": "max sqrt(reference running_var) of the same BN (the error in units of the spread)",
    "running_var": "max |reference running_var|",
    "loss": "|reference loss|",
}

# Tolerances on err/scale (see SCALES and `excess`). Measured 2026-11-27 (ddptrain 0.2.0, float32
# engine, one thread; PyTorch 2.13 float64) over 35 runs, data seeds 0-4 of resnet-8 and
# resnet-14 (stem 4), densenet-10-4, densenet-bc-10-4, sparsenet-13-4, sparsenet-bc-16-4 and
# sparsenet-bc-22-4 with 16 images: the largest err/scale were parameters 3.3e-06, momentum
# buffers 3.6e-06, running means 2.6e-08, running variances 2.5e-08, loss 1.3e-08. Backward sums
# over batch and pixels cancel (the result is much smaller than its terms), so gradients, hence
# momentum and the update, carry ~100x the relative rounding error of the forward quantities.
# Each bound is 5-8x the largest measurement (room for another BLAS, thread count or summation
# order) and at least 380x below the smallest error a deliberate bug produced (biased running
# variance: 7.6e-05 on a running variance; weight decay off: 7.7e-03 on a momentum buffer; every
# other bug 1e-2 or more).
TOLERANCES = {"parameter": 2e-5, "momentum": 2e-5, "running_mean": 2e-7, "running_var": 2e-7, "loss": 1e-7}

# ReLU inputs closer to zero than this are undecidable in float32 (see ambiguous_kinks); at most
# MAX_KINKS of them, the nearest, are considered.
KINK_DELTA = 1e-5
MAX_KINKS = 8

BUGS = ["sparse-aggregation-order", "dense-aggregation-order", "shortcut-padding", "weight-decay",
        "no-nesterov", "bn-momentum", "bn-epsilon", "biased-running-var"]


class SetupError(Exception):
    """Anything other than a numerical disagreement: exit status 2."""


# MARK: - Checkpoint reader (Docs/checkpoint-format.md, with NumPy for the payload)

M64 = (1 << 64) - 1


def ddpt64(data: bytes) -> int:
    """DDPT-64 of `data` (Docs/checkpoint-format.md, "Content checksum")."""
    h = 0x27D4EB2F165667C5
    n = len(data)
    padded = data + bytes(-n % 8)
    for (w,) in struct.iter_unpack("<Q", padded):
        a = (h + w * 0xC2B2AE3D27D4EB4F) & M64
        h = (((a << 31) | (a >> 33)) * 0x9E3779B185EBCA87) & M64
    h ^= n
    h ^= h >> 30
    h = (h * 0xBF58476D1CE4E5B9) & M64
    h ^= h >> 27
    h = (h * 0x94D049BB133111EB) & M64
    h ^= h >> 31
    return h


def zstd_decompress(frame: bytes) -> bytes:
    try:
        import zstandard
    except ImportError:
        if shutil.which("zstd") is None:
            raise SetupError("reading a checkpoint needs Python's zstandard package or the zstd command")
        return subprocess.run(["zstd", "-d", "-c", "-q"], input=frame, capture_output=True, check=True).stdout
    return zstandard.ZstdDecompressor().decompress(frame)


def read_checkpoint(path):
    """Returns (metadata, {name: (section, float32 array of the tensor's shape)}); verifies the
    lengths and the content checksum."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"DDPTCKPT" or len(data) < 64:
        raise SetupError(f"{path}: not a ddptrain checkpoint")
    version, flags, header_len, frame_len, raw_len, checksum = struct.unpack_from("<IIQQQQ", data, 8)
    if version != 1 or len(data) != 64 + header_len + frame_len:
        raise SetupError(f"{path}: format version {version} or length {len(data)} not as expected")
    header_bytes = data[64:64 + header_len]
    payload = zstd_decompress(data[64 + header_len:])
    if len(payload) != raw_len:
        raise SetupError(f"{path}: payload of {len(payload)} bytes, expected {raw_len}")
    if flags & 1:
        n = raw_len // 4
        raw = np.frombuffer(payload, dtype=np.uint8).reshape(4, n).T.copy().tobytes()
    else:
        raw = payload
    if ddpt64(header_bytes + raw) != checksum:
        raise SetupError(f"{path}: content checksum mismatch")
    header = json.loads(header_bytes)
    values = np.frombuffer(raw, dtype="<f4")
    tensors = {}
    for t in header["tensors"]:
        tensors[t["name"]] = (t["section"], values[t["offset"]:t["offset"] + t["count"]].reshape(t["shape"]))
    return header["metadata"], tensors


# MARK: - Model configuration and models: Scripts/ddptrain_torch.py


def resolve_model(args):
    """`model_config` of the command line's model and model flags."""
    try:
        return model_config(args.model, args.depth, args.growth_rate, args.bottleneck, args.compression, args.stem_channels,
                            se=args.se, separable=True if args.separable else None)
    except ValueError as error:
        raise SetupError(str(error)) from None


def torch_name(name, model_keys):
    """The PyTorch state_dict key of ddptrain tensor `name`: the same name (ddptrain_torch's module
    tree mirrors ddptrain's layer names). Raises SetupError for a name the model does not have."""
    if name not in model_keys:
        raise SetupError(f"no PyTorch counterpart for ddptrain tensor {name!r}")
    return name


def split_checkpoint(family, tensors, model):
    """Maps a checkpoint onto `model`: returns {torch key: (ddptrain name, kind, array)} for
    parameters and buffers, and {torch key: (ddptrain name, array)} for momentum buffers.
    Every checkpoint tensor must map to a distinct model tensor of the same shape, and every
    model parameter and running statistic must be covered."""
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    params = dict(model.named_parameters())
    keys = set(state)
    weights, momentum = {}, {}
    for name, (section, array) in tensors.items():
        if section == "optimizer":
            if not name.endswith(".momentum_buffer"):
                raise SetupError(f"unexpected optimizer tensor {name!r}")
            base = name[:-len(".momentum_buffer")]
            key = torch_name(base, keys)
            if key not in params:
                raise SetupError(f"momentum {name!r} maps to {key!r}, which is not a PyTorch parameter")
            if key in momentum:
                raise SetupError(f"{name!r} and {momentum[key][0]!r} both map to {key!r}")
            momentum[key] = (name, array)
            target_shape = tuple(params[key].shape)
        elif section in ("parameters", "buffers"):
            key = torch_name(name, keys)
            if key not in state:
                raise SetupError(f"ddptrain tensor {name!r} maps to {key!r}, which the PyTorch model does not have")
            if key in weights:
                raise SetupError(f"{name!r} and {weights[key][0]!r} both map to {key!r}")
            is_param = key in params
            if is_param != (section == "parameters"):
                raise SetupError(f"{name!r} is in section {section!r} but {key!r} is {'a' if is_param else 'not a'} parameter")
            kind = "parameter" if is_param else ("running_mean" if key.endswith("running_mean") else "running_var")
            weights[key] = (name, kind, array)
            target_shape = tuple(state[key].shape)
        else:
            raise SetupError(f"unexpected checkpoint section {section!r} of {name!r}")
        if tuple(array.shape) != target_shape:
            raise SetupError(f"{name!r} has shape {list(array.shape)} in ddptrain, {list(target_shape)} in PyTorch ({key})")
    missing = sorted(set(state) - set(weights))
    if missing:
        raise SetupError(f"PyTorch tensors with no ddptrain counterpart: {missing}")
    missing = sorted(set(params) - set(momentum))
    if missing:
        raise SetupError(f"PyTorch parameters without a ddptrain momentum buffer: {missing}")
    return weights, momentum


# MARK: - Data


def write_data(directory, images, seed):
    """`images` random training records over the five files (each gets at least one) and two test
    records. Returns (uint8 pixels [N, 3, 32, 32], int64 labels) of the training split in file order."""
    if images < 5:
        raise SetupError("--images must be at least 5 (one record in each training file)")
    os.makedirs(directory, exist_ok=True)
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, images)
    labels[:10] = np.arange(min(10, images))        # every class present when images >= 10
    pixels = rng.integers(0, 256, (images, 3, 32, 32), dtype=np.uint8)
    start = 0
    for f in range(5):
        end = images * (f + 1) // 5
        with open(os.path.join(directory, f"data_batch_{f + 1}.bin"), "wb") as out:
            for i in range(start, end):
                out.write(bytes([int(labels[i])]) + pixels[i].tobytes())
        start = end
    with open(os.path.join(directory, "test_batch.bin"), "wb") as out:
        for i in range(2):
            out.write(bytes([i]) + rng.integers(0, 256, 3072, dtype=np.uint8).tobytes())
    return pixels, labels.astype(np.int64)


# MARK: - Comparison


def excess(got, want):
    """max over elements of max(0, |got - want| - spacing), where spacing is the gap between
    float32 numbers at |want| (one float32 ulp): the error beyond what storing the value in
    float32 alone can cause."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if want.size == 0:
        return 0.0
    spacing = np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)
    return float(np.max(np.maximum(0.0, np.abs(got - want) - spacing)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__.split("\n", 2)[2],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True, help="ddptrain executable (a release build)")
    parser.add_argument("--model", required=True)
    parser.add_argument("--growth-rate", type=int)
    parser.add_argument("--depth", type=int)
    parser.add_argument("--bottleneck", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--compression", type=float)
    parser.add_argument("--stem-channels", type=int)
    parser.add_argument("--se", type=int, help="squeeze-and-excitation reduction ratio (se- names imply 16)")
    parser.add_argument("--separable", action="store_true",
                        help="depthwise-separable 3×3 convolutions after the stem (sep- names imply it)")
    parser.add_argument("--work", required=True, help="scratch directory (its data/ and run/ are replaced)")
    parser.add_argument("--images", type=int, default=16, help="training images = the one batch (default 16)")
    parser.add_argument("--seed", type=int, default=0, help="ddptrain's seed and the data's")
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--nesterov", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--no-decay-bn-bias", action="store_true")
    parser.add_argument("--label-smoothing", type=float, default=0.0)
    parser.add_argument("--inject-bug", choices=BUGS, help="perturb the reference on purpose (the check must then fail)")
    parser.add_argument("--timeout", type=float, default=120, help="seconds ddptrain may take (default 120)")
    parser.add_argument("--keep-work", action="store_true", help="keep WORK/data and WORK/run afterwards")
    args = parser.parse_args()
    try:
        return run(args)
    except SetupError as error:
        print(f"pytorch_crosscheck: error: {error}", file=sys.stderr, flush=True)
        return 2


def run(args):
    torch.set_num_threads(1)
    config = resolve_model(args)
    family = config["family"]
    bug = args.inject_bug
    applies = {"sparse-aggregation-order": family == "sparsenet", "dense-aggregation-order": family == "densenet",
               "shortcut-padding": family == "resnet"}
    if bug and not applies.get(bug, True):
        raise SetupError(f"--inject-bug {bug} does not change a {family} model")
    work = os.path.abspath(args.work)
    data_dir, run_dir = os.path.join(work, "data"), os.path.join(work, "run")
    for d in (data_dir, run_dir):
        shutil.rmtree(d, ignore_errors=True)
    os.makedirs(work, exist_ok=True)
    step_log = os.path.join(run_dir, "steps.jsonl")
    pixels, labels = write_data(data_dir, args.images, args.seed)

    # 1. Two ddptrain steps on the one batch.
    command = [args.binary, "train", "--data", data_dir, "--run-dir", run_dir, "--model", args.model,
               "--epochs", "2", "--batch-size", str(args.images), "--augment", "none",
               "--schedule", "constant", "--lr", repr(args.lr), "--momentum", repr(args.momentum),
               "--nesterov" if args.nesterov else "--no-nesterov", "--weight-decay", repr(args.weight_decay),
               "--label-smoothing", repr(args.label_smoothing), "--seed", str(args.seed), "--threads", "1",
               "--checkpoint-every", "1", "--checkpoint-every-steps", "1", "--keep", "10", "--step-log", step_log]
    for flag, value in (("--growth-rate", args.growth_rate), ("--depth", args.depth),
                        ("--compression", args.compression), ("--stem-channels", args.stem_channels), ("--se", args.se)):
        if value is not None:
            command += [flag, str(value)]
    if args.bottleneck is not None:
        command.append("--bottleneck" if args.bottleneck else "--no-bottleneck")
    if args.separable:
        command.append("--separable")
    if args.no_decay_bn_bias:
        command.append("--no-decay-bn-bias")
    print("$ " + " ".join(command), flush=True)
    started = time.monotonic()
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        raise SetupError(f"ddptrain did not finish within {args.timeout:.0f} s")
    if result.returncode != 0:
        raise SetupError(f"ddptrain exited with status {result.returncode}:\n{result.stdout}{result.stderr}")
    print(f"ddptrain: 2 steps in {time.monotonic() - started:.2f} s", flush=True)

    # 2. The run's records: configuration, step log, checkpoints after steps 1 and 2.
    with open(os.path.join(run_dir, "config.json")) as f:
        run_config = json.load(f)
    with open(step_log) as f:
        steps = [json.loads(line) for line in f if line.strip()]
    if [s["step"] for s in steps] != [0, 1]:
        raise SetupError(f"expected step-log records for steps 0 and 1, got {steps}")
    checkpoints = {}
    for name in os.listdir(run_dir):
        m = re.fullmatch(r"ckpt-e(\d+)-s(\d+)\.ddpt", name)
        if m:
            checkpoints[int(m[2])] = os.path.join(run_dir, name)
    if 1 not in checkpoints or 2 not in checkpoints:
        raise SetupError(f"expected checkpoints after steps 1 and 2 in {run_dir}, found steps {sorted(checkpoints)}")
    meta1, tensors1 = read_checkpoint(checkpoints[1])
    meta2, tensors2 = read_checkpoint(checkpoints[2])
    if meta1["globalStep"] != 1 or meta2["globalStep"] != 2:
        raise SetupError(f"checkpoint steps {meta1['globalStep']}, {meta2['globalStep']}; expected 1 and 2")

    # The run must have done what was asked (so that the reference below, which uses the flags,
    # computes the same step).
    m = run_config["model"]
    recorded = dict(family=m["family"], depth=m["depth"], bottleneck=m["bottleneck"], compression=m["compression"],
                    stem=m["stemChannels"], dropout=m["dropout"], classes=m["classes"], se=m.get("seRatio"),
                    separable=bool(m.get("separable", False)))
    expected = dict(family=family, depth=config["depth"], bottleneck=config["bottleneck"],
                    compression=config["compression"], stem=config["stem"], dropout=0, classes=10, se=config["se"],
                    separable=config["separable"])
    if family != "resnet":
        recorded["growth"], expected["growth"] = m["growthRate"], config["growth"]
    if recorded != expected:
        raise SetupError(f"config.json records model {recorded}, expected {expected}")
    opt = run_config["optimizer"]
    sched = meta1["schedule"]
    for what, got, want in (("momentum", opt["momentum"], args.momentum), ("nesterov", opt["nesterov"], args.nesterov),
                            ("weight decay", opt["weightDecay"], args.weight_decay),
                            ("decay of biases and norms", opt["decayBiasAndNorm"], not args.no_decay_bn_bias),
                            ("label smoothing", run_config["labelSmoothing"], args.label_smoothing),
                            ("augmentation", [run_config["augmentation"][k] for k in ("crop", "flip", "shift")],
                             [False, False, False]),
                            ("schedule", sched["kind"], "constant"), ("base lr", sched["baseRate"], args.lr),
                            ("schedule step in the step-1 checkpoint", sched["step"], 1),
                            ("step-2 lr (step log)", steps[1]["lr"], args.lr)):
        if isinstance(want, float) and isinstance(got, (int, float)):
            ok = math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-12)
        else:
            ok = got == want
        if not ok:
            raise SetupError(f"ddptrain's {what} is {got!r}, expected {want!r}")

    # Normalisation: population mean and standard deviation of each channel over the training
    # set, in pixel/255 units (Sources/Data/Normalization.swift), computed here in float64.
    scaled = pixels.astype(np.float64) / 255.0
    mean = scaled.mean(axis=(0, 2, 3))
    std = scaled.std(axis=(0, 2, 3))
    norm = run_config["normalization"]
    for what, mine, theirs in (("mean", mean, norm["mean"]), ("std", std, norm["std"])):
        if not np.allclose(mine, theirs, rtol=1e-6, atol=0):
            raise SetupError(f"normalisation {what}: ddptrain {theirs}, computed here {list(mine)}")
    x = torch.from_numpy((scaled - mean[None, :, None, None]) / std[None, :, None, None])
    y = torch.from_numpy(labels)

    # 3. The PyTorch model at step 1, in float64, and one training step (batch statistics in
    # every BN, mean cross-entropy, torch.optim.SGD).
    probe = build_model(config).double()
    weights1, momentum1 = split_checkpoint(family, tensors1, probe)
    weights2, momentum2 = split_checkpoint(family, tensors2, probe)
    # The step-1 momentum must be non-zero, or the step would not test the momentum term.
    idle = [name for name, a in momentum1.values() if not np.any(a)]
    if idle:
        raise SetupError(f"step-1 momentum buffers that are all zero: {idle}")
    settings = dict(family=family, config=config, bug=bug, x=x, y=y, weights1=weights1, momentum1=momentum1,
                    lr=args.lr, momentum=args.momentum, label_smoothing=args.label_smoothing,
                    weight_decay=0.0 if bug == "weight-decay" else args.weight_decay,
                    nesterov=False if bug == "no-nesterov" else args.nesterov,
                    no_decay_bn_bias=args.no_decay_bn_bias, bn_momentum=0.01 if bug == "bn-momentum" else 0.1)
    ddpt = dict(loss=steps[1]["loss"], weights=weights2, momentum=momentum2)
    start = {key: array.astype(np.float64) for key, (_, _, array) in weights1.items()}

    step = reference_step(settings, {})
    rows = compare(ddpt, step, start)
    flipped = []
    if any(not (r[2] <= r[5]) for r in rows):
        # 4. ReLU inputs so close to zero that float32 cannot tell their side: see ambiguous_kinks.
        # The graph at the step-1 parameters is gone after the update: take the step again.
        fresh = reference_step(settings, {})
        candidates = ambiguous_kinks(fresh)
        if candidates:
            choice = best_flips(ddpt, fresh, start, candidates, settings)
            if choice:
                flips = {}
                for site, index, _, _ in choice:
                    flips.setdefault(site, []).append(index)
                flipped_step = reference_step(settings, {site: torch.tensor(ix) for site, ix in flips.items()})
                candidate_rows = compare(ddpt, flipped_step, start)
                # Keep the flipped reference only if, computed exactly, it really is closer.
                if worst_ratio(candidate_rows) < worst_ratio(rows):
                    flipped = choice
                    rows = candidate_rows
        print(f"{len(candidates)} ReLU input(s) of the reference within {KINK_DELTA:.0e} of zero"
              + (f" (the {MAX_KINKS} nearest considered)" if len(candidates) == MAX_KINKS else "")
              + (f"; the reference below puts {len(flipped)} on the other side of the kink: "
                 + ", ".join(f"{name} element {index} (x = {value:.2e})" for _, index, name, value in flipped)
                 if flipped else "; no flip of them brings the reference closer"), flush=True)

    # 5. The table.
    width = max(len(r[1]) for r in rows)
    print(f"{'kind':12} {'tensor':{width}} {'err/scale':>10} {'err':>10} {'scale':>10} {'tolerance':>10}")
    for kind, name, r, a, s, tol in rows:
        flag = "  OVER" if not (r <= tol) else ""
        print(f"{kind:12} {name:{width}} {r:10.3e} {a:10.3e} {s:10.3e} {tol:10.1e}{flag}")
    print("err: max over elements of max(0, |ddptrain - reference| - one float32 spacing at the reference value) "
          "(the loss: |ddptrain - reference|)")
    print("scale: " + "; ".join(f"{kind}: {text}" for kind, text in SCALES.items()))
    print("largest err/scale per kind:")
    for kind in TOLERANCES:
        of_kind = [r for r in rows if r[0] == kind]
        if of_kind:
            worst = max(of_kind, key=lambda r: r[2])
            print(f"  {kind:12} {worst[2]:.3e} ({worst[1]}), tolerance {TOLERANCES[kind]:.1e}")
    over = [r for r in rows if not (r[2] <= r[5])]
    label = f"{args.model}" + (f" with injected bug {bug}" if bug else "")
    if over:
        worst = max(over, key=lambda r: r[2] / r[5])
        print(f"FAIL {label}: {len(over)} of {len(rows)} tensors over tolerance; worst {worst[1]} ({worst[0]}): "
              f"err/scale {worst[2]:.3e} > {worst[5]:.1e}", flush=True)
        status = 1
    else:
        print(f"PASS {label}: {len(rows)} tensors (loss, {len(weights2)} parameters and running statistics, "
              f"{len(momentum2)} momentum buffers) within tolerance", flush=True)
        status = 0
    if not args.keep_work:
        for d in (data_dir, run_dir):
            shutil.rmtree(d, ignore_errors=True)
    return status


def reference_step(s, flips):
    """One float64 PyTorch training step from the step-1 state, with the ReLU elements of `flips`
    ({site: flat indices}) on the other side of the kink. Returns the model, optimizer, loss,
    gradients and the recorded ReLU sites (their graph kept for `flip_effects`)."""
    model = build_model(s["config"], s["bug"]).double()
    for name, module in model.named_modules():
        if isinstance(module, (Convolution, BasicBlock, SqueezeExcitation)):
            module.site = name
    state = {key: torch.from_numpy(array.astype(np.float64)) for key, (_, _, array) in s["weights1"].items()}
    for key, value in model.state_dict().items():
        if key.endswith("num_batches_tracked"):
            state[key] = value
    model.load_state_dict(state, strict=True)
    counts = {}
    for name, module in model.named_modules():
        if isinstance(module, nn.BatchNorm2d):
            assert module.eps == 1e-5, "ddptrain's batch-norm epsilon is 1e-5"
            module.eps = 1e-4 if s["bug"] == "bn-epsilon" else 1e-5
            module.momentum = s["bn_momentum"]
            module.register_forward_hook(lambda m, i, o, name=name: counts.__setitem__(name, i[0].numel() // i[0].shape[1]))
    params = dict(model.named_parameters())
    if s["no_decay_bn_bias"]:
        # ddptrain's roles: convolution/linear biases and batch-norm scale/shift are not decayed.
        bn_params = {id(p) for mod in model.modules() if isinstance(mod, nn.BatchNorm2d) for p in mod.parameters()}
        exempt = {k for k, p in params.items() if k.endswith("bias") or id(p) in bn_params}
        groups = [{"params": [p for k, p in params.items() if k not in exempt]},
                  {"params": [p for k, p in params.items() if k in exempt], "weight_decay": 0.0}]
    else:
        groups = [{"params": list(params.values())}]
    optimizer = torch.optim.SGD(groups, lr=s["lr"], momentum=s["momentum"], dampening=0, nesterov=s["nesterov"],
                                weight_decay=s["weight_decay"])
    for key, p in params.items():
        optimizer.state[p]["momentum_buffer"] = torch.from_numpy(s["momentum1"][key][1].astype(np.float64)).clone()

    model.train()
    RECTIFIER.recording = True
    RECTIFIER.reset(flips)
    optimizer.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(s["x"]), s["y"], label_smoothing=s["label_smoothing"])
    loss.backward(retain_graph=True)
    sites = RECTIFIER.sites
    RECTIFIER.reset({})
    RECTIFIER.recording = False
    grads = {k: p.grad.detach().clone() for k, p in params.items()}
    result = dict(model=model, params=params, loss=loss.item(), grads=grads, sites=sites, optimizer=optimizer,
                  bug=s["bug"], counts=counts, start_state=state)
    # Flip effects need the graph at the step-1 parameters: compute them before the update.
    result["pending_step"] = True
    return result


def finish_step(step):
    """Applies the optimizer step once (after any flip effects were taken from the graph)."""
    if step.get("pending_step"):
        step["optimizer"].step()
        step["pending_step"] = False
        if step["bug"] == "biased-running-var":
            # Undo PyTorch's m/(m-1): new = (1-momentum)·old + momentum·biased variance.
            with torch.no_grad():
                for name, module in step["model"].named_modules():
                    if isinstance(module, nn.BatchNorm2d):
                        m = step["counts"][name]
                        keep = (1 - module.momentum) * step["start_state"][name + ".running_var"]
                        module.running_var.copy_(keep + (module.running_var - keep) * (m - 1) / m)
    return step


def compare(ddpt, step, start):
    """Rows (kind, name, err/scale, err, scale, tolerance) of every compared tensor."""
    finish_step(step)
    after = step["model"].state_dict()
    rows = [("loss", "loss (step log, step 2)", abs(ddpt["loss"] - step["loss"]), abs(step["loss"]))]
    for key, (name, kind, array) in sorted(ddpt["weights"].items(), key=lambda item: item[1][0]):
        ref = after[key].numpy()
        if kind == "parameter":
            scale = np.max(np.abs(ref - start[key]))
        elif kind == "running_mean":
            scale = np.max(np.sqrt(after[key[:-len("running_mean")] + "running_var"].numpy()))
        else:
            scale = np.max(np.abs(ref))
        rows.append((kind, name, excess(array, ref), float(scale)))
    for key, (name, array) in sorted(ddpt["momentum"].items(), key=lambda item: item[1][0]):
        ref = step["optimizer"].state[step["params"][key]]["momentum_buffer"].numpy()
        rows.append(("momentum", name, excess(array, ref), float(np.max(np.abs(ref)))))
    return [(kind, name, a / s if s > 0 else (0.0 if a == 0 else math.inf), a, s, TOLERANCES[kind])
            for kind, name, a, s in rows]


def worst_ratio(rows):
    """The largest err/scale / tolerance of a comparison (> 1: some tensor is over tolerance)."""
    return max(r[2] / r[5] for r in rows)


def ambiguous_kinks(step):
    """ReLU inputs of the reference within KINK_DELTA of zero, nearest first (at most MAX_KINKS):
    [(site, flat index, site name, x)].

    ddptrain computes each ReLU input in float32. Where the float64 value is closer to zero than
    float32's error (PyTorch's own float32 forward differs from float64 by up to 3e-6 at the ReLU
    inputs of these models), the two engines may legitimately put the element on different sides
    of the kink, which changes that element's backward signal from dy to 0 (or back) and hence
    every gradient upstream by about 1e-3 relative: far more than rounding, and of the size of a
    real bug. Such an element is no disagreement about the step, only an undecidable input."""
    found = []
    for site, (name, x, _) in enumerate(step["sites"]):
        flat = x.detach().reshape(-1)
        near = torch.nonzero(flat.abs() < KINK_DELTA).reshape(-1)
        for index in near.tolist():
            found.append((site, index, name, float(flat[index])))
    found.sort(key=lambda item: abs(item[3]))
    return found[:MAX_KINKS]


def flip_effects(step, candidates):
    """For each candidate, the change of every parameter gradient if that one ReLU element were on
    the other side of the kink: its input gradient changes by ±dy (the output gradient), which
    reaches the parameters as ±dy times the gradient of that input element. Exact to first order;
    `best_flips` verifies its choice with an exact step."""
    names = list(step["params"])
    tensors = [step["params"][k] for k in names]
    effects = []
    for site, index, _, _ in candidates:
        _, x, y = step["sites"][site]
        dy = float(y.grad.reshape(-1)[index])
        sign = 1.0 if float(x.detach().reshape(-1)[index]) <= 0 else -1.0     # 0 -> 1 passes dy, 1 -> 0 blocks it
        grads = torch.autograd.grad(x.reshape(-1)[index], tensors, retain_graph=True, allow_unused=True)
        effects.append({k: (sign * dy * g.detach() if g is not None else torch.zeros_like(p))
                        for k, g, p in zip(names, grads, tensors)})
    return effects


def best_flips(ddpt, step, start, candidates, s):
    """The subset of `candidates` whose flips bring the reference closest to ddptrain (the largest
    err/(scale·tolerance) over parameters and momentum buffers), by trying every subset on the
    linearised effects. Returns [] when no subset is better than none."""
    effects = flip_effects(step, candidates)
    finish_step(step)
    after = step["model"].state_dict()
    nesterov_factor = (1 + s["momentum"]) if s["nesterov"] else 1.0
    blocks = []      # (residual, [effect per candidate], weight): ddptrain - reference, in err/(scale·tol) units
    for key, (name, kind, array) in ddpt["weights"].items():
        if kind != "parameter":
            continue
        ref = after[key].numpy()
        weight = 1.0 / (max(np.max(np.abs(ref - start[key])), 1e-30) * TOLERANCES[kind])
        blocks.append((array.astype(np.float64).ravel() - ref.ravel(),
                       [-s["lr"] * nesterov_factor * e[key].numpy().ravel() for e in effects], weight))
    for key, (name, array) in ddpt["momentum"].items():
        ref = step["optimizer"].state[step["params"][key]]["momentum_buffer"].numpy()
        weight = 1.0 / (max(np.max(np.abs(ref)), 1e-30) * TOLERANCES["momentum"])
        blocks.append((array.astype(np.float64).ravel() - ref.ravel(), [e[key].numpy().ravel() for e in effects], weight))
    residual = np.concatenate([b[0] * b[2] for b in blocks])
    matrix = np.stack([np.concatenate([b[1][c] * b[2] for b in blocks]) for c in range(len(candidates))], axis=1)
    subsets = np.array([[(m >> c) & 1 for c in range(len(candidates))] for m in range(1 << len(candidates))],
                       dtype=np.float64)
    worst = np.abs(residual[:, None] - matrix @ subsets.T).max(axis=0)
    best = int(np.argmin(worst))
    if best == 0 or worst[best] >= worst[0]:
        return []
    return [candidates[c] for c in range(len(candidates)) if (best >> c) & 1]

if __name__ == "__main__":
    sys.exit(main())
