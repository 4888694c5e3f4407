"""PyTorch definitions of ddptrain's models: SparseNet, DenseNet(-BC) and the CIFAR ResNet, each
optionally with squeeze-and-excitation units (`se-` names, ddptrain's `--se R`) and with
depthwise-separable 3×3 convolutions after the stem (`sep-` names, ddptrain's `--separable`).

Written from Sources/Models (ResNet.swift, DenseNet.swift, SparseNet.swift, AggregatingFamily.swift)
and checked against ddptrain step by step by Scripts/pytorch_crosscheck.py. The module tree mirrors
ddptrain's layer names, so a model's state_dict keys are exactly ddptrain's tensor names
(`stem.conv.weight`, `stage2.block1.conv2.norm.running_var`, `block1.layer3.conv.weight`,
`head.fc.bias`, `stage1.block2.se.fc1.weight`, `block1.layer1.conv.depthwise.weight`,
`block1.layer1.conv.pointwise.weight`, ...): `ddptrain export --format safetensors` writes them unchanged, and
`ddptrain train --init-from FILE.safetensors` reads them unchanged.

    import sys; sys.path.insert(0, "Scripts")
    import ddptrain_torch
    from safetensors.torch import load_file, safe_open
    model, mean, std, classes = ddptrain_torch.load_safetensors("model.safetensors")
    logits = model((images - mean) / std)      # images: N x 3 x 32 x 32, RGB in [0, 1]

The input is the normalised image, NCHW float; the output is the logits. Batch norm keeps PyTorch's
defaults (epsilon 1e-5, momentum 0.1, unbiased running variance), which are ddptrain's.

`RECTIFIER` and the `bug` argument are the cross-check's instruments: ReLUs are plain ones unless
it records them, and a bug changes the model only when asked for.
"""
import json
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


# MARK: - Model configuration, parsed independently of ddptrain


def model_config(name, depth=None, growth=None, bottleneck=None, compression=None, stem=None, dropout=None, se=None,
                 separable=None):
    """family, depth, growth, bottleneck, compression, stem, dropout, se (the squeeze-and-excitation
    reduction ratio, None for no units) and units of a model name, as ddptrain documents its names
    (Docs/cli.md): DenseNet's stem 16, DenseNet-BC's and SparseNet's 2k, -bc = bottleneck +
    compression 0.5, an `se-` prefix = units with ratio 16, a `sep-` prefix (after `se-` or
    before it) = separable 3×3 convolutions after the stem; the keyword arguments override
    (ddptrain's model flags). Raises ValueError for a name of no family."""
    parts = name.lower().split("-")
    ratio, sep = None, False
    while len(parts) > 1 and ((parts[0] == "se" and ratio is None) or (parts[0] == "sep" and not sep)):
        if parts[0] == "se":
            ratio = 16
        else:
            sep = True
        parts = parts[1:]
    family = parts[0]
    bc = len(parts) > 1 and parts[1] == "bc"
    try:
        numbers = [int(p) for p in parts[(2 if bc else 1):]]
    except ValueError:
        raise ValueError(f"unknown model name {name}") from None
    if family == "resnet" and len(numbers) == 1 and not bc:
        config = dict(family="resnet", depth=numbers[0], growth=12, bottleneck=False, compression=1.0, stem=16)
    elif family in ("densenet", "sparsenet") and len(numbers) == 2:
        d, k = numbers
        config = dict(family=family, depth=d, growth=k, bottleneck=bc, compression=0.5 if bc else 1.0,
                      stem=16 if (family == "densenet" and not bc) else 2 * k)
    else:
        raise ValueError(f"unknown model name {name}")
    config["dropout"] = 0.0
    config["se"] = ratio
    config["separable"] = sep
    for key, value in (("depth", depth), ("growth", growth), ("bottleneck", bottleneck),
                       ("compression", compression), ("stem", stem), ("dropout", dropout), ("se", se),
                       ("separable", separable)):
        if value is not None:
            config[key] = value
    return with_units(config)


def with_units(config):
    """`config` with its layers per block (DenseNet, SparseNet) or blocks per stage (ResNet)."""
    if config["family"] == "resnet":
        config["units"] = (config["depth"] - 2) // 6
    else:
        config["units"] = (config["depth"] - 4) // (6 if config["bottleneck"] else 3)
    return config


def config_from_ddptrain(model):
    """The configuration of a ddptrain `ModelConfiguration` as JSON (the `ddptrain.model` entry of
    an exported file's metadata, or `configuration.model` of a checkpoint)."""
    return with_units(dict(family=model["family"], depth=model["depth"], growth=model["growthRate"],
                           bottleneck=model["bottleneck"], compression=model["compression"],
                           stem=model["stemChannels"], dropout=model.get("dropout", 0.0),
                           classes=model.get("classes", 10), se=model.get("seRatio"),
                           separable=bool(model.get("separable", False))))


def build_model(config, bug=None):
    """The PyTorch model of `config` (from `model_config` or `config_from_ddptrain`), with an
    injected `bug` if given (the cross-check's)."""
    classes = config.get("classes", 10)
    return ResNet(config, bug, classes) if config["family"] == "resnet" else AggregatedNet(config, bug, classes)


def load_safetensors(path):
    """The model of a `ddptrain export --format safetensors` file with its weights loaded (strictly:
    every key present, no key left over), in evaluation mode, with the normalisation's mean and
    standard deviation as 1 x 3 x 1 x 1 tensors and the class names."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(path, framework="pt") as f:
        metadata = f.metadata()
    model = build_model(config_from_ddptrain(json.loads(metadata["ddptrain.model"])))
    model.load_state_dict(load_file(path), strict=True)
    model.eval()
    mean = torch.tensor(json.loads(metadata["ddptrain.normalization.mean"])).view(1, 3, 1, 1)
    std = torch.tensor(json.loads(metadata["ddptrain.normalization.std"])).view(1, 3, 1, 1)
    return model, mean, std, json.loads(metadata["ddptrain.classes"])


# MARK: - Layers


class Rectifier:
    """Every ReLU of the models: y = x * (x > 0), which is PyTorch's ReLU (gradient 0 at x = 0, as
    ddptrain's), but when `recording` it records each call's input and output in forward order (a
    "site"), and can put given elements on the other side of the kink (the cross-check's
    `ambiguous_kinks`)."""

    def __init__(self):
        self.recording = False      # off: a plain ReLU
        self.reset({})

    def reset(self, flips):
        self.flips = flips          # {site index: LongTensor of flat element indices}
        self.sites = []             # [(name, x, y)]

    def __call__(self, x, name):
        if not self.recording:
            return F.relu(x)
        mask = x > 0
        flips = self.flips.get(len(self.sites))
        if flips is not None:
            mask = mask.clone()
            flat = mask.view(-1)
            flat[flips] = ~flat[flips]
        y = x * mask.to(x.dtype)
        if y.requires_grad:
            y.retain_grad()
        self.sites.append((name, x, y))
        return y


RECTIFIER = Rectifier()


class Convolution(nn.Module):
    """ddptrain's convolution layer: without bias, same padding, and with `preactivation` its batch
    norm `norm` and a ReLU applied to the input first (ddptrain fuses them into the convolution).
    With `separable` (a 3×3 only) it is Xception's depthwise-separable convolution instead of
    `weight`: `depthwise`, a `Conv2d(cin, cin, 3, groups=cin)` with the stride, then `pointwise`, a
    1×1 `Conv2d(cin, cout)`, both without bias and with nothing between them.
    `site` names its ReLU for the cross-check (set to the module's name after building)."""

    def __init__(self, cin, cout, kernel, stride=1, preactivation=False, separable=False):
        super().__init__()
        self.norm = nn.BatchNorm2d(cin) if preactivation else None
        if separable:
            assert kernel == 3, "only 3×3 convolutions are made separable"
            self.depthwise = nn.Conv2d(cin, cin, 3, stride=stride, padding=1, groups=cin, bias=False)
            self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)
            nn.init.kaiming_normal_(self.depthwise.weight, nonlinearity="relu")
            nn.init.kaiming_normal_(self.pointwise.weight, nonlinearity="relu")
            self.weight = None
        else:
            self.weight = nn.Parameter(torch.empty(cout, cin, kernel, kernel))
            nn.init.kaiming_normal_(self.weight, nonlinearity="relu")
        self.stride = stride
        self.site = "convolution"

    def forward(self, x):
        if self.norm is not None:
            x = RECTIFIER(self.norm(x), self.site + ".norm relu")
        if self.weight is None:
            return self.pointwise(self.depthwise(x))
        return F.conv2d(x, self.weight, stride=self.stride, padding=self.weight.shape[-1] // 2)


class Head(nn.Module):
    """Global average pooling and the linear classifier `fc`, after batch norm `norm` and a ReLU
    when the family has one there (DenseNet, SparseNet)."""

    def __init__(self, channels, classes, norm):
        super().__init__()
        self.norm = nn.BatchNorm2d(channels) if norm else None
        self.fc = nn.Linear(channels, classes)

    def forward(self, x):
        if self.norm is not None:
            x = RECTIFIER(self.norm(x), "head.norm relu")
        return self.fc(x.mean(dim=(2, 3)))


class SqueezeExcitation(nn.Module):
    """Hu et al.'s squeeze-and-excitation: the mean of each channel, `fc1` (C to max(1, C // ratio),
    with bias), a ReLU, `fc2` (back to C, with bias), a sigmoid, and each channel of the input
    scaled by its gate. `site` names its ReLU for the cross-check."""

    def __init__(self, channels, ratio):
        super().__init__()
        hidden = max(1, channels // ratio)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)
        self.site = "se"

    def forward(self, x):
        z = RECTIFIER(self.fc1(x.mean(dim=(2, 3))), self.site + " relu")
        return x * torch.sigmoid(self.fc2(z))[:, :, None, None]


# MARK: - DenseNet and SparseNet


class AggregatedLayer(nn.Module):
    """One dense or sparse layer: an optional 1×1 `bottleneck` to 4k channels, then the 3×3 `conv`
    to k, each pre-activated, each followed by dropout when the model has it, then with a
    squeeze-and-excitation ratio a unit `se` on the k new features."""

    def __init__(self, cin, growth, bottleneck, dropout, se=None, separable=False):
        super().__init__()
        self.bottleneck = Convolution(cin, 4 * growth, 1, preactivation=True) if bottleneck else None
        self.conv = Convolution(4 * growth if bottleneck else cin, growth, 3, preactivation=True, separable=separable)
        self.dropout = dropout
        self.se = SqueezeExcitation(growth, se) if se else None

    def forward(self, x):
        if self.bottleneck is not None:
            x = F.dropout(self.bottleneck(x), self.dropout, self.training)
        y = F.dropout(self.conv(x), self.dropout, self.training)
        return self.se(y) if self.se is not None else y


class Transition(nn.Module):
    """A pre-activated 1×1 `conv` and 2×2 average pooling (ddptrain pools first; the two commute)."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv = Convolution(cin, cout, 1, preactivation=True)

    def forward(self, x):
        return F.avg_pool2d(self.conv(x), 2)


class AggregatedNet(nn.Module):
    """DenseNet (every earlier output, oldest first) and SparseNet (outputs at offsets 1, 2, 4, ...
    back from the newest, nearest first): `stem`, `block1` to `block3` of `layer1` ... `layerN`,
    `transition1` and `transition2`, and the `head`."""

    def __init__(self, c, bug=None, classes=10):
        super().__init__()
        self.family, self.bug = c["family"], bug
        self.stem = Convolution(3, c["stem"], 3)
        channels = [c["stem"]]
        for block in range(1, 4):
            layers = nn.ModuleDict()
            for layer in range(1, c["units"] + 1):
                layers[f"layer{layer}"] = AggregatedLayer(sum(self.pick(channels)), c["growth"], c["bottleneck"],
                                                          c.get("dropout", 0.0), c.get("se"), c.get("separable", False))
                channels.append(c["growth"])
            setattr(self, f"block{block}", layers)
            out = sum(self.pick(channels))
            if block < 3:
                kept = int(math.floor(out * c["compression"]))
                setattr(self, f"transition{block}", Transition(out, kept))
                channels = [kept]
        self.head = Head(out, classes, norm=True)

    def pick(self, outputs):
        if self.family == "densenet":
            return list(reversed(outputs)) if self.bug == "dense-aggregation-order" else list(outputs)
        picked, offset = [], 1
        while offset <= len(outputs):
            picked.append(outputs[len(outputs) - offset])
            offset *= 2
        return list(reversed(picked)) if self.bug == "sparse-aggregation-order" else picked

    def forward(self, x):
        x = self.stem(x)
        for block in range(1, 4):
            outputs = [x]
            for layer in getattr(self, f"block{block}").values():
                outputs.append(layer(torch.cat(self.pick(outputs), 1)))
            x = torch.cat(self.pick(outputs), 1)
            if block < 3:
                x = getattr(self, f"transition{block}")(x)
        return self.head(x)


# MARK: - ResNet


class Stem(nn.Module):
    """ResNet's stem: a 3×3 `conv`, then batch norm `norm` and a ReLU."""

    def __init__(self, width):
        super().__init__()
        self.conv = Convolution(3, width, 3)
        self.norm = nn.BatchNorm2d(width)

    def forward(self, x):
        return RECTIFIER(self.norm(self.conv(x)), "stem.norm relu")


class BasicBlock(nn.Module):
    """CIFAR ResNet block, post-activation: `conv1`; `conv2`, whose pre-activation `norm` is the
    block's first batch norm (the usual bn1); `norm2`; the sum with He et al.'s parameter-free
    option-A shortcut (subsample by the stride, zero-pad half of the new channels before and half
    after); a ReLU. With a squeeze-and-excitation ratio, a unit `se` scales the branch after `norm2`,
    before the sum (SE-ResNet)."""

    def __init__(self, cin, cout, stride, bug=None, se=None, separable=False):
        super().__init__()
        self.conv1 = Convolution(cin, cout, 3, stride=stride, separable=separable)
        self.conv2 = Convolution(cout, cout, 3, preactivation=True, separable=separable)
        self.norm2 = nn.BatchNorm2d(cout)
        self.se = SqueezeExcitation(cout, se) if se else None
        self.stride, self.pad, self.bug = stride, cout - cin, bug
        self.site = "block"

    def forward(self, x):
        y = self.norm2(self.conv2(self.conv1(x)))
        if self.se is not None:
            y = self.se(y)
        shortcut = x
        if self.stride != 1 or self.pad:
            before = 0 if self.bug == "shortcut-padding" else self.pad // 2
            shortcut = F.pad(x[:, :, ::self.stride, ::self.stride], (0, 0, 0, 0, before, self.pad - before))
        return RECTIFIER(y + shortcut, self.site + " residual relu")


class ResNet(nn.Module):
    """`stem`, `stage1` to `stage3` of `block1` ... `blockN` (16, 32, 64 channels times the stem
    width over 16; the first block of stages 2 and 3 has stride 2), and the `head`."""

    def __init__(self, c, bug=None, classes=10):
        super().__init__()
        width = c["stem"]
        self.stem = Stem(width)
        cin = width
        for stage in range(1, 4):
            cout = width * 2 ** (stage - 1)
            blocks = nn.ModuleDict()
            for block in range(1, c["units"] + 1):
                stride = 2 if stage > 1 and block == 1 else 1
                blocks[f"block{block}"] = BasicBlock(cin if block == 1 else cout, cout, stride, bug, c.get("se"),
                                                     c.get("separable", False))
            setattr(self, f"stage{stage}", blocks)
            cin = cout
        self.head = Head(cin, classes, norm=False)

    def forward(self, x):
        x = self.stem(x)
        for stage in range(1, 4):
            for block in getattr(self, f"stage{stage}").values():
                x = block(x)
        return self.head(x)
