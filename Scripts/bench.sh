#!/usr/bin/env bash
# Builds ddptrain in release mode and measures training throughput of the models in
# Docs/benchmarks.md (batch 64, 2 threads). Extra arguments go to every `ddptrain bench` call.
set -euo pipefail
cd "$(dirname "$0")/.."
source Scripts/setup.sh
swift build -c release --product ddptrain
for model in ${MODELS:-resnet-20 densenet-40-12 sparsenet-40-24}; do
  .build/release/ddptrain bench --model "$model" --batch-size 64 --threads 2 --steps 10 "$@"
  echo
done
