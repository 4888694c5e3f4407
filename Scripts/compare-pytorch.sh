#!/usr/bin/env bash
# Measures ddptrain against PyTorch on this machine, side by side in one sitting, and how close to
# the machine's limit each runs. It prints the CPU and OPENBLAS_CORETYPE, measures the peak once
# (`ddptrain bench --peak`: OpenBLAS sgemm and a register-only FMA loop at each thread count),
# then for each model lets `ddptrain bench` and Scripts/pytorch_bench.py (eager NCHW and
# channels_last) take turns, ROUNDS times (default 3), at each thread count of THREADS (default
# "2 1"), batch BATCH (default 64). Every line they print is shown; a markdown table of the best
# of the rounds (ready for Docs/benchmarks.md) closes the run.
#
#   Scripts/compare-pytorch.sh
#   MODELS="resnet-56" ROUNDS=5 THREADS=2 Scripts/compare-pytorch.sh
#
# GFLOP/s counts a training step as 3 × forward MACs × 2 (as `ddptrain bench` prints it), for
# PyTorch too, from the MACs per image that ddptrain's bench reports for the same model; "% peak"
# divides it by the sgemm peak measured at the same thread count.
#
# PyTorch (the CPU build, from PyPI) goes into a virtual environment of its own,
# $TORCH_VENV (default ~/.cache/ddptrain/torch-venv), created on first use (Scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source Scripts/setup.sh
swift build -c release --product ddptrain >/dev/null

python=$(torch_python)
ddptrain=.build/release/ddptrain

models=${MODELS:-resnet-20 densenet-40-12 sparsenet-40-24 resnet-56 densenet-bc-100-12 sparsenet-bc-100-24}
threads_list=${THREADS:-2 1}
batch=${BATCH:-64}
rounds=${ROUNDS:-3}
for t in $threads_list; do
  [[ $t =~ ^[1-9][0-9]*$ ]] || { echo "compare-pytorch: THREADS must list positive thread counts, got '$threads_list'" >&2; exit 64; }
done
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "compare-pytorch: ROUNDS must be a positive count, got '$rounds'" >&2; exit 64; }

# The images/s figure of a bench's output ("images/s: N" from ddptrain, "N images/s" from PyTorch).
rate() { grep -oE 'images/s: [0-9.]+|[0-9.]+ images/s' | head -n 1 | grep -oE '[0-9]+(\.[0-9]+)?'; }
# The forward MACs per image of a ddptrain bench output ("3 × N forward MACs per image").
macs() { grep -oE '[0-9]+ forward MACs per image' | head -n 1 | grep -oE '^[0-9]+'; }
# The sgemm GFLOP/s at $1 threads of a `ddptrain bench --peak` output ("2 threads 101.5 GFLOP/s").
sgemm_peak() { grep '^peak: sgemm' | grep -oE " $1 threads? [0-9.]+ GFLOP/s" | head -n 1 | awk '{ print $3 }'; }

# "model name" of /proc/cpuinfo, with the family and model numbers (virtual machines often give
# only a brand name), and the load average, since other work on the machine skews every figure.
cpuinfo() { grep -m 1 "^$1[[:space:]]*:" /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true; }
cpu="$(cpuinfo 'model name') (family $(cpuinfo 'cpu family'), model $(cpuinfo model))"
load() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown; }
echo "CPU: $cpu, $(nproc) CPUs online; OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(not set, OpenBLAS detects the CPU)}; load average $(load)"
if awk '{ exit !($1 >= 1) }' /proc/loadavg 2>/dev/null; then
  echo "compare-pytorch: warning: other work is running (load average $(load)); the figures, the peak included, will be low and noisy" >&2
fi

results=$(mktemp)
trap 'rm -f "$results"' EXIT

# The peak, once, before the models: 1 thread and the largest count in one run, any other count
# in a run of its own.
max_threads=$(tr ' ' '\n' <<<"$threads_list" | sort -n | tail -n 1)
echo "== peak"
peak_out=$("$ddptrain" bench --peak --threads "$max_threads")
echo "$peak_out"
for t in $threads_list; do
  figure=$(sgemm_peak "$t" <<<"$peak_out" || true)
  if [ -z "$figure" ]; then
    out=$("$ddptrain" bench --peak --threads "$t")
    echo "$out"
    figure=$(sgemm_peak "$t" <<<"$out")
  fi
  echo "peak $t $figure" >>"$results"
done

for model in $models; do
  for ((round = 1; round <= rounds; round++)); do
    for t in $threads_list; do
      echo "== $model, $t thread(s), round $round of $rounds"
      out=$("$ddptrain" bench --model "$model" --batch-size "$batch" --threads "$t" --steps 10)
      echo "$out"
      echo "macs $model $(macs <<<"$out")" >>"$results"
      echo "rate $model $t ddptrain $(rate <<<"$out")" >>"$results"
      for layout in "" --channels-last; do
        out=$("$python" Scripts/pytorch_bench.py --model "$model" --batch-size "$batch" --threads "$t" --steps 10 $layout)
        echo "$out"
        echo "rate $model $t pytorch${layout:+-channels-last} $(rate <<<"$out")" >>"$results"
      done
    done
  done
done

echo
echo "Best of $rounds round(s), batch $batch, images/s; GFLOP/s = 3 × forward MACs × 2 per image;"
echo "% peak = GFLOP/s / OpenBLAS sgemm peak at the same thread count ($cpu, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-not set});"
echo "Load average at the end $(load): the benchmark adds up to the largest thread count; more means other work shared the CPUs."
echo
awk -v models="$models" -v threads="$threads_list" '
  $1 == "peak" { peak[$2] = $3 }
  $1 == "macs" { macs[$2] = $3 }
  $1 == "rate" { key = $2 " " $3 " " $4; if ($5 > best[key]) best[key] = $5 }
  function gflops(model, rate) { return 6 * macs[model] * rate / 1e9 }
  function percent(model, t, rate) { return (peak[t] > 0) ? sprintf("%.0f%%", 100 * gflops(model, rate) / peak[t]) : "?" }
  END {
    print "| model | threads | ddptrain img/s | PyTorch NCHW img/s | PyTorch channels_last img/s | ddptrain / best PyTorch | ddptrain GFLOP/s (% peak) | best PyTorch GFLOP/s (% peak) | sgemm peak GFLOP/s |"
    print "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    n = split(models, ms, " "); k = split(threads, ts, " ")
    for (i = 1; i <= n; i++) for (j = 1; j <= k; j++) {
      m = ms[i]; t = ts[j]
      d = best[m " " t " ddptrain"]; a = best[m " " t " pytorch"]; c = best[m " " t " pytorch-channels-last"]
      p = (a > c) ? a : c
      printf "| %s | %d | %.1f | %.1f | %.1f | %.2f | %.1f (%s) | %.1f (%s) | %.1f |\n", m, t, d, a, c, (p > 0) ? d / p : 0,
             gflops(m, d), percent(m, t, d), gflops(m, p), percent(m, t, p), peak[t]
    }
  }' "$results"
