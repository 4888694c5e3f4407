#!/usr/bin/env bash
# Builds the libFuzzer harnesses of Tests/Fuzzing with AddressSanitizer and runs each one for a
# bounded time, starting from a copy of its committed seed corpus (nothing is written into the
# repository). A finding is a crash, a Swift trap, an AddressSanitizer report, an out-of-memory or
# a timeout; thrown errors are the expected way to reject an input. Each finding's input is saved
# under a temporary directory whose path is printed, with the command that replays it.
#
# Usage: Scripts/fuzz.sh [HARNESS…]   (default: all of checkpoint-decoder training-state
#                                     cifar-reader model-name safetensors-decoder)
# Environment:
#   FUZZ_SECONDS  time per harness, libFuzzer's -max_total_time (default 60)
#   FUZZ_TIMEOUT  seconds one input may take before it counts as a finding, -timeout (default 10)
#   FUZZ_RSS_MB   memory limit, -rss_limit_mb; a larger single allocation is a finding too (default 2048)
#   FUZZ_WORK     directory for corpora, findings and logs (default: a new temporary directory,
#                 removed at the end when nothing was found)
#   FUZZ_ARGS     extra libFuzzer flags for every harness (e.g. "-seed=1 -jobs=2")
# Exit status: 0 when every harness ran its time without a finding, 1 otherwise. The last line
# is "N passed, N failed" (one count per harness).
set -euo pipefail
cd "$(dirname "$0")/.."
source Scripts/setup.sh

all_harnesses=(checkpoint-decoder training-state cifar-reader model-name safetensors-decoder)
if [ $# -gt 0 ]; then harnesses=("$@"); else harnesses=("${all_harnesses[@]}"); fi
seconds=${FUZZ_SECONDS:-60}
timeout=${FUZZ_TIMEOUT:-10}
rss_mb=${FUZZ_RSS_MB:-2048}
scratch=.build-fuzz

for h in "${harnesses[@]}"; do
  [ -d "Tests/Fuzzing/Corpus/$h" ] || { echo "fuzz: unknown harness '$h' (known: ${all_harnesses[*]})" >&2; exit 2; }
done

# Extra libFuzzer flags of one harness: its dictionary (tokens and boundary numbers that
# mutations splice in), if it has one, and input size limits.
harness_flags() {
  local dict="Tests/Fuzzing/Dictionaries/$1.dict"
  [ -f "$dict" ] && echo "-dict=$dict"
  case "$1" in
    # Room for a few 3,073-byte records (the seeds hold one or two).
    cifar-reader) echo "-max_len=12292" ;;
    # The deepest accepted DenseNets take ~15 s to count under AddressSanitizer (malloc stack
    # traces; 0.1 s in a release build), so a single input gets longer than elsewhere.
    model-name) echo "-max_len=64 -timeout=60" ;;
    # The seeds are a few hundred bytes: room for a header of many tensors and their data.
    safetensors-decoder) echo "-max_len=4096" ;;
  esac
}

work=${FUZZ_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/ddptrain-fuzz.XXXXXX")}
mkdir -p "$work/logs"
echo "fuzz: working in $work"

# The sanitizer runtime symbolizes stacks with llvm-symbolizer; prefer the toolchain's own.
swift_bin=$(dirname "$(readlink -f "$(command -v swift)")")
if [ -x "$swift_bin/llvm-symbolizer" ]; then export ASAN_SYMBOLIZER_PATH="$swift_bin/llvm-symbolizer"; fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:symbolize=1}
# Swift's own crash backtracer reads the crashed process's memory in a way AddressSanitizer
# reports as a wild read, which would hide the real trap; libFuzzer prints the stack instead.
export SWIFT_BACKTRACE=enable=no

# Build: each harness alone (--product), so the ddptrain CLI and the tests are not built with
# libFuzzer; -DDDPTRAIN_LIBFUZZER makes the harness's main start libFuzzer (Tests/Fuzzing/Support).
build_flags=(--scratch-path "$scratch" -Xswiftc -sanitize=fuzzer,address -Xswiftc -DDDPTRAIN_LIBFUZZER)
echo "fuzz: building ${#harnesses[@]} harness(es) with -sanitize=fuzzer,address into $scratch"
build_start=$(date +%s)
for h in "${harnesses[@]}"; do
  # ld.gold warns about every ASan check symbol it cannot export; the log keeps the rest.
  if ! swift build "${build_flags[@]}" --product "fuzz-$h" 2>&1 | grep -v "Cannot export local symbol" \
       > "$work/logs/build-$h.log"; then
    echo "fuzz: building fuzz-$h failed; the end of $work/logs/build-$h.log:" >&2
    tail -20 "$work/logs/build-$h.log" >&2
    echo "0 passed, ${#harnesses[@]} failed"
    exit 1
  fi
done
bin=$(swift build "${build_flags[@]}" --show-bin-path)
echo "fuzz: built in $(( $(date +%s) - build_start )) s"

# first_line PATTERN FILE: the first line of FILE matching the extended regular expression.
first_line() { grep -m1 -E "$1" "$2" || true; }

# checkpoint_seeds DIR: whole checkpoint files for the checkpoint decoder's corpus, written by the
# real writer (`ddptrain train`, resnet-8 with one stem channel, one epoch of 40 generated CIFAR
# records, zstd levels 1 and 3): checkpoints are made here rather than kept in git. The committed
# seeds are the `.parts` forms, which the harness wraps into files itself.
checkpoint_seeds() {
  local dir=$1 tmp level
  tmp=$(mktemp -d)
  swift build -c release --product ddptrain >"$tmp/build.log" 2>&1 \
    || { echo "fuzz: building ddptrain for the checkpoint seeds failed; see $tmp/build.log" >&2; exit 1; }
  python3 - "$tmp/data" <<'PY'
import os, random, sys
out = sys.argv[1]
os.makedirs(out)
rng = random.Random(1)
def records(n):
    return b"".join(bytes([i % 10]) + bytes(rng.randrange(256) for _ in range(3072)) for i in range(n))
for k in range(1, 6):
    open(os.path.join(out, f"data_batch_{k}.bin"), "wb").write(records(8))
open(os.path.join(out, "test_batch.bin"), "wb").write(records(8))
PY
  for level in 1 3; do
    if ! .build/release/ddptrain train --model resnet-8 --stem-channels 1 --threads 1 --batch-size 8 --epochs 1 \
        --zstd-level "$level" --data "$tmp/data" --run-dir "$tmp/run-$level" >"$tmp/train-$level.log" 2>&1; then
      echo "fuzz: writing the checkpoint seeds failed; see $tmp/train-$level.log" >&2
      exit 1
    fi
    find "$tmp/run-$level" -name '*.ddpt' | sort | head -1 | xargs -I{} cp {} "$dir/resnet-8-zstd-$level.ddpt"
  done
  [ -s "$dir/resnet-8-zstd-1.ddpt" ] && [ -s "$dir/resnet-8-zstd-3.ddpt" ] \
    || { echo "fuzz: ddptrain train wrote no checkpoint for the seeds; see $tmp" >&2; exit 1; }
  rm -rf "$tmp"
}

passed=0
failed=0
for h in "${harnesses[@]}"; do
  corpus="$work/corpus/$h"
  findings="$work/findings/$h"
  log="$work/logs/$h.log"
  rm -rf "$corpus" "$findings"
  mkdir -p "$corpus" "$findings"
  cp Tests/Fuzzing/Corpus/"$h"/* "$corpus"/
  if [ "$h" = checkpoint-decoder ]; then checkpoint_seeds "$corpus"; fi
  echo "fuzz: $h: ${seconds} s from $(ls "$corpus" | wc -l) seed(s), -timeout=$timeout, -rss_limit_mb=$rss_mb"
  start=$(date +%s)
  status=0
  # shellcheck disable=SC2046,SC2086 # the flag lists are meant to split into words
  "$bin/fuzz-$h" -max_total_time="$seconds" -timeout="$timeout" -rss_limit_mb="$rss_mb" \
    -artifact_prefix="$findings/" -print_final_stats=1 $(harness_flags "$h") ${FUZZ_ARGS:-} "$corpus" \
    > "$log" 2>&1 || status=$?
  elapsed=$(( $(date +%s) - start ))
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  coverage=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
  inputs=$(find "$findings" -type f | sort)
  if [ "$status" -eq 0 ] && [ -z "$inputs" ]; then
    passed=$((passed + 1))
    echo "fuzz: $h: passed: ${runs:-?} inputs in ${elapsed} s, coverage ${coverage:-?} edges, corpus $(ls "$corpus" | wc -l) files"
    continue
  fi
  failed=$((failed + 1))
  echo "fuzz: $h: FINDING after ${elapsed} s (libFuzzer exit status $status)"
  # What happened: a Swift trap's message, else the sanitizer's or libFuzzer's error line.
  what=$(first_line 'Fatal error|Swift runtime failure' "$log")
  [ -n "$what" ] || what=$(first_line 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|SUMMARY: ' "$log")
  echo "fuzz:   what:   $(echo "${what:-(no error line; see the log)}" | sed -E 's/^ *#[0-9]+ 0x[0-9a-f]+ in //')"
  # The innermost frames in this project's code, demangled.
  grep -E '^ *#[0-9]+ .*/(Sources|Tests)/' "$log" | head -4 | sed -E 's/^ *#[0-9]+ 0x[0-9a-f]+ in //' \
    | swift demangle --simplified | sed 's/^/fuzz:   frame:  /' || true
  if [ -z "$inputs" ]; then
    echo "fuzz:   no input was saved (the harness may not have started); see the log"
  fi
  for input in $inputs; do
    echo "fuzz:   input:  $input ($(wc -c < "$input") bytes)"
    echo "fuzz:   replay: $bin/fuzz-$h $input"
  done
  echo "fuzz:   log:    $log"
done

if [ "$failed" -eq 0 ] && [ -z "${FUZZ_WORK:-}" ]; then
  rm -rf "$work"
elif [ "$failed" -gt 0 ]; then
  echo "fuzz: findings, corpora and logs are kept in $work"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
