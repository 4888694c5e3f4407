#!/usr/bin/env python3
"""PyTorch reference for `ddptrain bench`: the same models, the same training step, the same timing.

    python3 Scripts/pytorch_bench.py --model resnet-20 --batch-size 64 --threads 2 --steps 10 [--channels-last]

The models are Scripts/ddptrain_torch.py's (written from Sources/Models and the architecture
notes in ../shared/reference/models.md, and checked against ddptrain step by step by
Scripts/pytorch_crosscheck.py); they must have exactly ddptrain's parameter counts,
which this script checks before timing. One step is what `ddptrain bench` times: forward, softmax
cross-entropy, backward, and SGD with momentum 0.9, Nesterov, weight decay 1e-4 (ddptrain's
defaults), on synthetic 3x32x32 input in training mode (batch statistics in every BN). The figure
is the median of the timed steps after the warm-up steps, as in `ddptrain bench`.

Scripts/compare-pytorch.sh runs this next to `ddptrain bench` in one sitting.
"""
import argparse
import statistics
import sys
import time

import torch
import torch.nn.functional as F

from ddptrain_torch import build_model, model_config


def build(name):
    """A model from its name (family[-bc]-depth[-growth]) with the papers' defaults, as ddptrain:
    Scripts/ddptrain_torch.py, the single PyTorch definition of ddptrain's architectures, whose
    ReLUs are plain ones unless the cross-check records them."""
    return build_model(model_config(name))


# ddptrain's parameter counts (../shared/reference/models.md); the script refuses to time a model
# that differs.
REFERENCE = {
    "resnet-20": 269_722, "resnet-56": 853_018, "resnet-110": 1_727_962,
    "densenet-40-12": 1_019_722, "densenet-100-12": 6_979_642, "densenet-bc-100-12": 769_162,
    "sparsenet-40-24": 748_522, "sparsenet-100-24": 2_509_354, "sparsenet-bc-100-24": 1_450_234,
    # With squeeze-and-excitation units (ratio 16): Tests/ModelsTests/ParameterCountTests.swift.
    "se-resnet-20": 272_095, "se-resnet-56": 860_137, "se-resnet-110": 1_742_200,
    "se-densenet-40-12": 1_021_054, "se-densenet-bc-100-12": 770_938,
    "se-sparsenet-40-24": 751_150, "se-sparsenet-bc-100-24": 1_453_738,
    # Depthwise-separable (sep-): the same test file.
    "sep-resnet-20": 37_770, "sep-densenet-40-12": 311_890, "sep-densenet-bc-100-12": 568_714,
    "sep-sparsenet-40-24": 138_034, "sep-sparsenet-bc-100-24": 606_970,
    "se-sep-resnet-20": 40_143, "se-sep-sparsenet-40-24": 140_662,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--channels-last", action="store_true", help="NHWC memory format (PyTorch's fastest on CPU)")
    parser.add_argument("--count-only", action="store_true", help="print the parameter count and exit")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    model = build(args.model)
    count = sum(p.numel() for p in model.parameters())
    expected = REFERENCE.get(args.model)
    print(f"pytorch {torch.__version__}: {args.model} {count:,} parameters", flush=True)
    if expected is not None and count != expected:
        sys.exit(f"pytorch_bench: {args.model} has {count:,} parameters here but {expected:,} in ddptrain; not timing it")
    if args.count_only:
        return
    model.train()
    x = torch.randn(args.batch_size, 3, 32, 32)
    y = torch.randint(0, 10, (args.batch_size,))
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)
    times = []
    for step in range(args.warmup + args.steps):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        if step >= args.warmup:
            times.append(time.perf_counter() - start)
    median = statistics.median(times)
    layout = "channels_last" if args.channels_last else "eager NCHW"
    print(f"pytorch {layout}: batch {args.batch_size}, {args.threads} thread(s): median step {median * 1e3:.1f} ms, "
          f"{args.batch_size / median:.1f} images/s", flush=True)


if __name__ == "__main__":
    main()
