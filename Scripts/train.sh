#!/usr/bin/env bash
# The main job: installs what is needed, builds ddptrain in release mode, makes sure CIFAR-10 is
# on disk, and trains with mpirun on this machine: RANKS processes (default: one per core), each
# with one compute thread and batch 64/RANKS, so the global batch is the papers' 64.
#
#   Scripts/train.sh                         sparsenet-40-24 with the papers' recipe (300 epochs)
#   Scripts/train.sh --model resnet-20 --epochs 15     any `ddptrain train` flags
#
# Environment: RANKS (default: number of cores); CIFAR10_DIR (default ~/.cache/ddptrain/cifar10)
# holds the binary batches; RUN_DIR (default runs/<model>-<time>) receives config.json and
# metrics.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
source Scripts/setup.sh

data="${CIFAR10_DIR:-$HOME/.cache/ddptrain/cifar10}"
if [ ! -f "$data/test_batch.bin" ]; then
  if ! Scripts/get-cifar10.sh "$data"; then
    converter="../shared/data/cifar10_to_bin.py"
    if [ -f "$converter" ]; then
      echo "train: converting the local CIFAR-10 copy ($converter) into $data"
      python3 -c 'import PIL' 2>/dev/null || python3 -m pip install -q pillow
      python3 "$converter" "$data"
    else
      exit 1
    fi
  fi
fi

swift build -c release --product ddptrain
model=sparsenet-40-24
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  [ "${args[$i]}" = "--model" ] && model="${args[$((i + 1))]}"
done
run_dir="${RUN_DIR:-runs/$model-$(date +%Y%m%d-%H%M%S)}"
ranks="${RANKS:-$(nproc)}"
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
echo "train: mpirun -np $ranks, run directory $run_dir"
exec mpirun --oversubscribe -np "$ranks" --bind-to none .build/release/ddptrain train --model "$model" \
  --data "$data" --run-dir "$run_dir" --threads 1 --batch-size $((64 / ranks)) "$@"
