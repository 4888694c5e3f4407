#!/usr/bin/env python3
"""PyTorch's and onnxruntime's side of the weights-export tests (Tests/SystemTests/WeightsExportTests.swift).

    safetensors_check.py logits FILE.safetensors DATA OUT.npy
        Loads a `ddptrain export` file into Scripts/ddptrain_torch.py's model (strictly, with the
        file's own model configuration and normalisation) and writes its float32 logits on every
        image of DATA/test_batch.bin.
    safetensors_check.py save MODEL DATA OUT.safetensors OUT.npy [--seed N]
        Builds MODEL (a ddptrain model name) in PyTorch, gives it random weights and random
        batch-norm statistics, saves its state_dict with safetensors.torch.save_file, and writes
        its logits on DATA's test images, normalised by the per-channel population mean and
        standard deviation of DATA's training images (what ddptrain computes for a file without
        normalisation metadata).
    safetensors_check.py onnx FILE.onnx DATA OUT.npy
        Checks a `ddptrain export --format onnx` file with onnx.checker (full check, with shape
        inference) and writes onnxruntime's float32 logits on DATA's test images, normalised with
        the file's own ddptrain.normalization metadata.
    safetensors_check.py compare A.npy B.npy --tolerance T
        Exits 1 unless max|A - B| <= T * max|B| and the arg-max classes are the same; prints the
        measured relative difference either way.

Exit status 2 for a setup error (missing file, wrong shapes).
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ddptrain_torch  # noqa: E402


def images(path):
    """The images of a CIFAR-10 binary file as float64 N x 3 x 32 x 32 in [0, 1], and its labels."""
    raw = np.fromfile(path, dtype=np.uint8).reshape(-1, 3073)
    return raw[:, 1:].reshape(-1, 3, 32, 32).astype(np.float64) / 255, raw[:, 0]


def logits_of(model, x, mean, std):
    with torch.no_grad():
        return model(((torch.from_numpy(x).float() - mean) / std)).numpy().astype(np.float32)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name, *positional):
        p = sub.add_parser(name)
        for argument in positional:
            p.add_argument(argument)
        return p

    command("logits", "weights", "data", "out")
    p = command("save", "model", "data", "weights", "out")
    p.add_argument("--stem-channels", type=int)
    p.add_argument("--seed", type=int, default=0)
    command("onnx", "model", "data", "out")
    command("compare", "a", "b").add_argument("--tolerance", type=float, required=True)
    args = parser.parse_args()

    if args.command == "logits":
        model, mean, std, _ = ddptrain_torch.load_safetensors(args.weights)
        x, _ = images(os.path.join(args.data, "test_batch.bin"))
        np.save(args.out, logits_of(model, x, mean, std))
    elif args.command == "save":
        from safetensors.torch import save_file

        torch.manual_seed(args.seed)
        model = ddptrain_torch.build_model(ddptrain_torch.model_config(args.model, stem=args.stem_channels))
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, torch.nn.BatchNorm2d):
                    module.weight.uniform_(0.5, 1.5)
                    module.bias.uniform_(-0.2, 0.2)
                    module.running_mean.uniform_(-0.3, 0.3)
                    module.running_var.uniform_(0.5, 2.0)
        model.eval()
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, args.weights)
        train = np.concatenate([images(os.path.join(args.data, f"data_batch_{k}.bin"))[0] for k in range(1, 6)])
        mean = torch.tensor(train.mean(axis=(0, 2, 3)), dtype=torch.float32).view(1, 3, 1, 1)
        std = torch.tensor(train.std(axis=(0, 2, 3)), dtype=torch.float32).view(1, 3, 1, 1)
        x, _ = images(os.path.join(args.data, "test_batch.bin"))
        np.save(args.out, logits_of(model, x, mean, std))
    elif args.command == "onnx":
        import json

        import onnx
        import onnxruntime

        model = onnx.load(args.model)
        onnx.checker.check_model(model, full_check=True)
        meta = {p.key: p.value for p in model.metadata_props}
        mean = np.array(json.loads(meta["ddptrain.normalization.mean"]), np.float32).reshape(1, 3, 1, 1)
        std = np.array(json.loads(meta["ddptrain.normalization.std"]), np.float32).reshape(1, 3, 1, 1)
        x, _ = images(os.path.join(args.data, "test_batch.bin"))
        session = onnxruntime.InferenceSession(args.model, providers=["CPUExecutionProvider"])
        logits = session.run(["logits"], {"input": ((x.astype(np.float32) - mean) / std).astype(np.float32)})[0]
        np.save(args.out, logits.astype(np.float32))
    else:
        a, b = np.load(args.a), np.load(args.b)
        if a.shape != b.shape:
            print(f"shapes differ: {a.shape} and {b.shape}")
            return 2
        relative = float(np.abs(a.astype(np.float64) - b).max() / max(np.abs(b).max(), 1e-30))
        same_classes = bool((a.argmax(1) == b.argmax(1)).all())
        print(f"{a.shape[0]} images: max |a - b| / max |b| = {relative:.3e} (tolerance {args.tolerance:.0e}); "
              f"arg-max classes {'identical' if same_classes else 'differ'}")
        return 0 if relative <= args.tolerance and same_classes else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
