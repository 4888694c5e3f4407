#!/usr/bin/env bash
# Trains models against each other on a real-data subset, over several seeds, and prints each run's
# final test accuracy and a mean/spread table: the check that an option (squeeze-and-excitation,
# depthwise-separable convolutions, …) trains to its plain counterpart's accuracy within the
# seed-to-seed noise. The training is the end-to-end test's (Tests/SystemTests/EndToEndTests.swift):
# 4 epochs, batch 64, rate 0.1, cosine with half an epoch of warm-up, 2 threads.
#
#   Scripts/compare-variants.sh DATA_DIR
#   PAIRS="resnet-20:se-resnet-20 sparsenet-40-24:sep-sparsenet-40-24" SEEDS="1 2 3" Scripts/compare-variants.sh DATA_DIR
#
# DATA_DIR holds CIFAR-10 binary files (a subset made with `cifar10_to_bin.py DIR --subset 5000`,
# as the end-to-end test uses, or the full set). The runs go to a new temporary directory, which
# is removed at the end; nothing else is written.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $# -ne 1 || ! -d $1 ]]; then
  echo "usage: Scripts/compare-variants.sh DATA_DIR   (a directory of CIFAR-10 binary files)" >&2
  exit 64
fi
data=$1
pairs=${PAIRS:-resnet-20:se-resnet-20 sparsenet-40-24:sep-sparsenet-40-24}
seeds=${SEEDS:-1 2 3}
epochs=${EPOCHS:-4}
ddptrain=${DDPTRAIN:-.build/release/ddptrain}
if [[ -z ${DDPTRAIN:-} ]]; then
  source Scripts/setup.sh
  swift build -c release --product ddptrain >/dev/null
fi

runs=$(mktemp -d)
trap 'rm -rf "$runs"' EXIT
results=$runs/results.txt
for pair in $pairs; do
  for seed in $seeds; do
    for model in ${pair//:/ }; do
      dir=$runs/$model-seed$seed
      start=$(date +%s)
      if ! "$ddptrain" train --model "$model" --data "$data" --run-dir "$dir" --epochs "$epochs" \
          --batch-size 64 --lr 0.1 --schedule cosine --warmup-epochs 0.5 --threads 2 --seed "$seed" \
          >"$dir.log" 2>&1; then
        echo "compare-variants: $model (seed $seed) failed; its output:" >&2
        cat "$dir.log" >&2
        exit 1
      fi
      accuracy=$(tail -n 1 "$dir/metrics.jsonl" | python3 -c 'import json, sys; print(json.load(sys.stdin)["test_accuracy"])')
      echo "$model seed $seed: test accuracy $accuracy ($(( $(date +%s) - start )) s)"
      echo "$pair $model $accuracy" >>"$results"
    done
  done
done

# Mean and range per model, and the difference of the means per pair, as markdown.
python3 - "$results" <<'EOF'
import collections, statistics, sys
runs = collections.defaultdict(list)
pairs = []
for line in open(sys.argv[1]):
    pair, model, accuracy = line.split()
    runs[model].append(float(accuracy))
    if pair not in pairs:
        pairs.append(pair)
print("\n| model | runs | test accuracy, each seed | mean | range |")
print("|---|---:|---|---:|---:|")
for pair in pairs:
    for model in pair.split(":"):
        a = runs[model]
        print(f"| {model} | {len(a)} | {', '.join(f'{x:.1%}' for x in a)} | {statistics.mean(a):.1%} | "
              f"{min(a):.1%}–{max(a):.1%} |")
for pair in pairs:
    plain, option = pair.split(":")
    difference = statistics.mean(runs[option]) - statistics.mean(runs[plain])
    spread = max(max(runs[m]) - min(runs[m]) for m in (plain, option))
    print(f"\n{option} − {plain}: {100 * difference:+.1f} points in the means; the widest seed-to-seed range "
          f"of the two is {100 * spread:.1f} points")
EOF
