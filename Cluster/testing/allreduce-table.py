#!/usr/bin/env python3
"""Summarise Cluster/testing/allreduce-sweep.sh output as markdown tables (Docs/distributed.md,
"Gradient all-reduce algorithms, measured").

  Cluster/testing/allreduce-table.py RESULTS [--stat mean|median] [--fit]

RESULTS holds the sweep's lines, each prefixed with `config=NxR shaping=S` (as the doc's commands
write them). One table per (config, shaping, mode): a row per message size, a column per variant,
each cell the chosen statistic of every repeat ("a, b" in µs), plus the algorithm coll-trace saw
Open MPI's default run for blocking calls. --fit adds, for every 2-rank variant, a least-squares
line time = c0 + c1 * bytes over the repeats' values and the α and β it implies for that
algorithm at 2 ranks (rounds and bytes per call: recursive doubling 1 round, S; Rabenseifner and
ring 2 rounds, S; binomial reduce + broadcast 2 rounds, 2 S). Standard library only.
"""
import argparse
import collections
import re
import sys

ROUNDS_AT_TWO = {  # (rounds, bytes moved per byte of message) of one 2-rank all-reduce
    "tuned:3": (1, 1.0), "tuned:4": (2, 1.0), "tuned:6": (2, 1.0), "tuned:5": (2, 1.0),
    "libnbc:1": (2, 1.0), "libnbc:2": (2, 2.0), "libnbc:3": (2, 1.0), "libnbc:4": (1, 1.0),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results")
    parser.add_argument("--stat", choices=["mean", "median"], default="mean")
    parser.add_argument("--fit", action="store_true")
    args = parser.parse_args()

    cells = collections.defaultdict(list)       # (config, shaping, mode, bytes, variant) -> [µs]
    default_algorithm = {}                      # (config, shaping, bytes) -> algorithm
    variants = collections.defaultdict(list)
    for line in open(args.results):
        fields = dict(re.findall(r"(\w+)=(\S+)", line))
        if "coll-trace:" in line and fields.get("variant") == "default":
            m = re.search(r"ranks=(\d+) bytes=(\d+) algorithm=(.+?) calls", line)
            if m:
                default_algorithm[(fields["config"], fields["shaping"], int(m.group(2)), int(m.group(1)))] = m.group(3)
            continue
        if " sweep " not in line:
            continue
        key = (fields["config"], fields["shaping"], fields["mode"])
        if fields["variant"] not in variants[key]:
            variants[key].append(fields["variant"])
        cells[key + (int(fields["bytes"]), fields["variant"])].append(float(fields[f"{args.stat}_us"]))

    for key in sorted(variants):
        config, shaping, mode = key
        names = variants[key]
        sizes = sorted({k[3] for k in cells if k[:3] == key})
        ranks = {"2x1": 2, "4x1": 4, "2x2": 4, "4x2": 8}.get(config)
        print(f"\n{config} ({mode}, {shaping}), {args.stat} µs per call, one value per repeat\n")
        head = "| bytes | " + " | ".join(names) + (" | default's algorithm (coll-trace) |" if mode == "blocking" else " |")
        print(head)
        print("|---:|" + "---:|" * len(names) + ("---|" if mode == "blocking" else ""))
        for size in sizes:
            row = [", ".join(f"{v:.0f}" for v in cells.get(key + (size, n), [])) or "—" for n in names]
            extra = ""
            if mode == "blocking":
                extra = f" {default_algorithm.get((config, shaping, size, ranks), '—')} |"
            print(f"| {size} | " + " | ".join(row) + " |" + extra)

    if args.fit:
        print("\nleast-squares fits at 2 ranks: time = c0 + c1 * bytes\n")
        print("| shaping | mode | variant | c0 (µs) | c1 (ns/B) | α = c0/rounds (µs) | β = c1/(bytes factor) (ns/B) | points |")
        print("|---|---|---|---:|---:|---:|---:|---:|")
        for key in sorted(variants):
            config, shaping, mode = key
            if config != "2x1":
                continue
            for name in variants[key]:
                label = name
                if name == "default":
                    label = "default"
                points = [(k[3], v) for k, vs in cells.items() if k[:3] == key and k[4] == name for v in vs]
                if len(points) < 3:
                    continue
                n = len(points)
                mx = sum(x for x, _ in points) / n
                my = sum(y for _, y in points) / n
                sxx = sum((x - mx) ** 2 for x, _ in points)
                c1 = sum((x - mx) * (y - my) for x, y in points) / sxx
                c0 = my - c1 * mx
                rounds, factor = ROUNDS_AT_TWO.get(name, (None, None))
                alpha = f"{c0 / rounds:.0f}" if rounds else "—"
                beta = f"{c1 * 1e3 / factor:.2f}" if factor else "—"
                print(f"| {shaping} | {mode} | {label} | {c0:.0f} | {c1 * 1e3:.2f} | {alpha} | {beta} | {n} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
