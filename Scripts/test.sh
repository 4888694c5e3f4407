#!/usr/bin/env bash
# Installs dependencies, builds ddptrain, and runs the whole test suite.
#   Scripts/test.sh            all tests (debug build, then the release-build benchmark smoke test)
set -euo pipefail
cd "$(dirname "$0")/.."
source Scripts/setup.sh

echo "== unit tests (debug build)"
swift build --build-tests
swift test --skip-build

echo "== release build and benchmark smoke run"
swift build -c release --product ddptrain
.build/release/ddptrain summary sparsenet-40-24 | tail -3
.build/release/ddptrain bench --model resnet-20 --batch-size 16 --steps 2 --warmup 1
