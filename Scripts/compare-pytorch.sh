#!/usr/bin/env bash
# Measures ddptrain against PyTorch on this machine, side by side in one sitting: for each model,
# `ddptrain bench` and Scripts/pytorch_bench.py (eager NCHW and channels_last) take turns, ROUNDS
# times (default 3), at batch 64 with 2 threads; every line they print is shown, and a summary of
# the best of the rounds per engine closes the run.
#
#   Scripts/compare-pytorch.sh                       # resnet-20 densenet-40-12 sparsenet-40-24
#   MODELS="resnet-56" ROUNDS=5 Scripts/compare-pytorch.sh
#
# PyTorch (the CPU build, from PyPI) goes into a virtual environment of its own,
# $TORCH_VENV (default ~/.cache/ddptrain/torch-venv), created on first use (Scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source Scripts/setup.sh
swift build -c release --product ddptrain >/dev/null

python=$(torch_python)

batch=${BATCH:-64}
threads=${THREADS:-2}
rounds=${ROUNDS:-3}
# The images/s figure of a bench's output ("images/s: N" from ddptrain, "N images/s" from PyTorch).
rate() { grep -oE 'images/s: [0-9.]+|[0-9.]+ images/s' | head -n 1 | grep -oE '[0-9]+(\.[0-9]+)?'; }
summary=$(mktemp)
trap 'rm -f "$summary"' EXIT
for model in ${MODELS:-resnet-20 densenet-40-12 sparsenet-40-24}; do
  for ((round = 1; round <= rounds; round++)); do
    echo "== $model, round $round of $rounds"
    out=$(.build/release/ddptrain bench --model "$model" --batch-size "$batch" --threads "$threads" --steps 10)
    echo "$out"
    echo "$model ddptrain $(rate <<<"$out")" >>"$summary"
    for layout in "" --channels-last; do
      out=$("$python" Scripts/pytorch_bench.py --model "$model" --batch-size "$batch" --threads "$threads" --steps 10 $layout)
      echo "$out"
      echo "$model pytorch${layout:+-channels-last} $(rate <<<"$out")" >>"$summary"
    done
  done
done
echo
echo "best of $rounds round(s), images/s (batch $batch, $threads threads):"
sort -k1,1 -k2,2 -k3,3nr "$summary" | awk '!seen[$1 " " $2]++ { printf "  %-18s %-22s %8.1f\n", $1, $2, $3 }'
