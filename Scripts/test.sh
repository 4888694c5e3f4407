#!/usr/bin/env bash
# Installs dependencies, builds ddptrain, runs the fuzzers for a bounded time, runs the unit tests
# under AddressSanitizer, and runs the whole test suite: unit tests in a debug build, plus
# end-to-end tests that train with the release binary on a real-data subset (converted from
# ../shared/data when it is present; skipped with a message otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."
source Scripts/setup.sh
# What only the tests use: network namespaces, links and link shaping for the simulated cluster
# (iproute2, iptables, gcc for its delay helper, ping to measure it), and a private SLURM cluster
# for the batch script (SLURM's controller, node daemon, clients, MUNGE); rsvg-convert for
# `plot --png`.
install_packages iproute2 iptables gcc libc6-dev linux-libc-dev iputils-ping slurmctld slurmd slurm-client munge librsvg2-bin
# PyTorch, the independent reference of PyTorchCrossCheckTests (they skip, saying so, without it).
if torch=$(torch_python); then
  export DDPTRAIN_TORCH_PYTHON="$torch"
else
  echo "test: PyTorch could not be installed; the PyTorch cross-checks will be skipped" >&2
fi

echo "== release build (the end-to-end tests train with it)"
swift build -c release --product ddptrain
.build/release/ddptrain summary sparsenet-40-24 | tail -3
.build/release/ddptrain bench --model resnet-20 --batch-size 16 --steps 2 --warmup 1

echo "== fuzzing: each libFuzzer harness for \${FUZZ_SECONDS:-60} s from its seed corpus (Docs/fuzzing.md)"
bash Scripts/fuzz.sh

echo "== unit tests under AddressSanitizer (debug build in .build-asan; the system tests, which launch the release binary, run below)"
swift build --build-tests --sanitize=address --scratch-path .build-asan
# (Leak detection is off: XCTest and Foundation keep objects to the end of the process, which
# LeakSanitizer reports; the memory errors ASan exists for are still fatal.)
SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0 swift test --skip-build --sanitize=address --scratch-path .build-asan \
  --skip SystemTests

echo "== tests"
swift build --build-tests
DDPTRAIN_BINARY="$PWD/.build/release/ddptrain" swift test --skip-build
