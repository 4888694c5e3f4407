#!/usr/bin/env python3
"""PyTorch reference for `ddptrain bench`: the same models, the same training step, the same timing.

    python3 Scripts/pytorch_bench.py --model resnet-20 --batch-size 64 --threads 2 --steps 10 [--channels-last]

The models are written here from the architecture notes in ../shared/reference/models.md (and
Sources/Models/ModelBuilder.swift) and must have exactly ddptrain's parameter counts, which the
script checks before timing. One step is what `ddptrain bench` times: forward, softmax
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
import torch.nn as nn
import torch.nn.functional as F


class BNReLUConv(nn.Sequential):
    """Pre-activation convolution: BN, ReLU, conv without bias (ddptrain's fused preactivation)."""

    def __init__(self, cin, cout, kernel):
        super().__init__(nn.BatchNorm2d(cin), nn.ReLU(inplace=False),
                         nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=False))


class AggregatedNet(nn.Module):
    """DenseNet (every earlier output) and SparseNet (outputs at offsets 1, 2, 4, ... back)."""

    def __init__(self, family, depth, growth, bottleneck, compression, stem, classes=10):
        super().__init__()
        self.family = family
        units = (depth - 4) // (6 if bottleneck else 3)
        self.stem = nn.Conv2d(3, stem, 3, padding=1, bias=False)
        self.blocks = nn.ModuleList()
        self.transitions = nn.ModuleList()
        channels = [stem]            # channels of [block input, y1, y2, ...]
        for block in range(3):
            layers = nn.ModuleList()
            for _ in range(units):
                cin = sum(self.pick(channels))
                if bottleneck:
                    layers.append(nn.Sequential(BNReLUConv(cin, 4 * growth, 1), BNReLUConv(4 * growth, growth, 3)))
                else:
                    layers.append(BNReLUConv(cin, growth, 3))
                channels.append(growth)
            self.blocks.append(layers)
            out = sum(self.pick(channels))
            if block < 2:
                kept = int(out * compression)
                self.transitions.append(nn.Sequential(BNReLUConv(out, kept, 1), nn.AvgPool2d(2)))
                channels = [kept]
        self.head = nn.Sequential(nn.BatchNorm2d(out), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(out, classes))

    def pick(self, outputs):
        if self.family == "densenet":
            return list(outputs)
        picked, offset = [], 1
        while offset <= len(outputs):
            picked.append(outputs[len(outputs) - offset])
            offset *= 2
        return picked

    def forward(self, x):
        x = self.stem(x)
        for block, layers in enumerate(self.blocks):
            outputs = [x]
            for layer in layers:
                outputs.append(layer(torch.cat(self.pick(outputs), 1)))
            x = torch.cat(self.pick(outputs), 1)
            if block < 2:
                x = self.transitions[block](x)
        return self.head(x)


class BasicBlock(nn.Module):
    """CIFAR ResNet block with the parameter-free shortcut ("option A": subsample, zero-pad)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.stride, self.pad = stride, cout - cin

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        shortcut = x
        if self.stride != 1 or self.pad:
            shortcut = F.pad(x[:, :, ::self.stride, ::self.stride], (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return F.relu(y + shortcut)


class ResNet(nn.Module):
    def __init__(self, depth, classes=10):
        super().__init__()
        units = (depth - 2) // 6
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        layers, cin = [], 16
        for stage, cout in enumerate([16, 32, 64]):
            for block in range(units):
                layers.append(BasicBlock(cin, cout, 2 if stage > 0 and block == 0 else 1))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, classes))

    def forward(self, x):
        return self.head(self.layers(self.stem(x)))


def build(name):
    """A model from its name (family[-bc]-depth[-growth]) with the papers' defaults, as ddptrain."""
    parts = name.lower().split("-")
    family, bc = parts[0], parts[1] == "bc"
    numbers = [int(p) for p in parts[(2 if bc else 1):]]
    if family == "resnet":
        return ResNet(numbers[0])
    depth, growth = numbers
    stem = 2 * growth if (bc or family == "sparsenet") else 16
    return AggregatedNet(family, depth, growth, bc, 0.5 if bc else 1.0, stem)


# ddptrain's parameter counts (../shared/reference/models.md); the script refuses to time a model
# that differs.
REFERENCE = {
    "resnet-20": 269_722, "resnet-56": 853_018, "resnet-110": 1_727_962,
    "densenet-40-12": 1_019_722, "densenet-100-12": 6_979_642, "densenet-bc-100-12": 769_162,
    "sparsenet-40-24": 748_522, "sparsenet-100-24": 2_509_354, "sparsenet-bc-100-24": 1_450_234,
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
