#!/usr/bin/env bash
# Runs Cluster/testing/allreduce-sweep.c on the simulated cluster (Cluster/testing/local-cluster.sh,
# which must be up and shaped already) once per variant, i.e. per collective algorithm setting:
#
#   Cluster/testing/allreduce-sweep.sh [--variants "V V …"] [--sizes B,B,…] [--budget S] [--repeat R]
#                                      [--trace] [-- MPIRUN-OPTIONS…]
#
# Variants (default: "default tuned:3 tuned:4 tuned:6 libnbc:1 libnbc:2 libnbc:3 libnbc:4"):
#   default     Open MPI's own choice, MPI_Allreduce and MPI_Iallreduce
#   tuned:N     MPI_Allreduce with coll/tuned forced to algorithm N (1 basic_linear, 2 nonoverlapping,
#               3 recursive_doubling, 4 ring, 5 segmented_ring, 6 rabenseifner)
#   libnbc:N    MPI_Iallreduce with coll/libnbc forced to algorithm N (1 ring, 2 binomial,
#               3 rabenseifner, 4 recursive_doubling)
#   han         MPI_Allreduce with coll/han enabled (--mca coll_han_priority 100): node-local reduce,
#               all-reduce among node leaders, node-local broadcast
#   yield0      Open MPI's default (MPI_Allreduce and MPI_Iallreduce) with mpi_yield_when_idle 0
# Every variant except yield0 runs with --mca mpi_yield_when_idle 1 unless MPIRUN-OPTIONS set it:
# with more ranks than cores, busy-polling ranks otherwise take each other's time slices.
# --trace preloads Cluster/testing/coll-trace.c, which names the coll/tuned algorithm each
# blocking call ran (to stderr, captured into the output). MPIRUN-OPTIONS go to
# `local-cluster.sh run` (e.g. `-np 8 --map-by slot`); DDPT_CLUSTER_* select the cluster and its
# BTLs as for local-cluster.sh. Output: the sweep's lines, each prefixed with
# `variant=V repeat=R load=L1` (the 1-minute load average before the run).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
variants="default tuned:3 tuned:4 tuned:6 libnbc:1 libnbc:2 libnbc:3 libnbc:4"
sizes="" budget=0.3 repeat=1 trace=0
while [[ $# -gt 0 ]]; do
    case $1 in
        --variants) variants=$2; shift 2 ;;
        --sizes) sizes=$2; shift 2 ;;
        --budget) budget=$2; shift 2 ;;
        --repeat) repeat=$2; shift 2 ;;
        --trace) trace=1; shift ;;
        --) shift; break ;;
        -h|--help) sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "allreduce-sweep.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
mpirun_options=("$@")

build=${ALLREDUCE_SWEEP_BUILD:-/tmp/allreduce-sweep-build}
mkdir -p "$build"
if [[ ! -x $build/allreduce-sweep || $build/allreduce-sweep -ot $here/allreduce-sweep.c ]]; then
    mpicc -O2 -Wall -o "$build/allreduce-sweep" "$here/allreduce-sweep.c" -lm
fi
if [[ $trace -eq 1 && ( ! -f $build/coll-trace.so || $build/coll-trace.so -ot $here/coll-trace.c ) ]]; then
    gcc -O2 -Wall -shared -fPIC -o "$build/coll-trace.so" "$here/coll-trace.c" -ldl \
        -L/usr/lib/x86_64-linux-gnu/openmpi/lib -lmpi
fi

sets_yield=0
for o in "${mpirun_options[@]+"${mpirun_options[@]}"}"; do [[ $o == mpi_yield_when_idle ]] && sets_yield=1; done

for ((r = 1; r <= repeat; r++)); do
    for v in $variants; do
        mca=() mode=both
        case $v in
            default) ;;
            tuned:[1-6]) mca=(--mca coll_tuned_use_dynamic_rules 1 --mca coll_tuned_allreduce_algorithm "${v#tuned:}"); mode=blocking ;;
            libnbc:[1-4]) mca=(--mca coll_libnbc_iallreduce_algorithm "${v#libnbc:}"); mode=nonblocking ;;
            han) mca=(--mca coll_han_priority 100); mode=blocking ;;
            yield0) mca=(--mca mpi_yield_when_idle 0) ;;
            *) echo "allreduce-sweep.sh: unknown variant $v" >&2; exit 2 ;;
        esac
        [[ $v == yield0 || $sets_yield -eq 1 ]] || mca+=(--mca mpi_yield_when_idle 1)
        [[ $trace -eq 1 ]] && mca+=(-x "LD_PRELOAD=$build/coll-trace.so")
        args=(--mode "$mode" --budget "$budget")
        [[ -n $sizes ]] && args+=(--sizes "$sizes")
        load=$(cut -d' ' -f1 /proc/loadavg)
        "$here/local-cluster.sh" run "${mpirun_options[@]+"${mpirun_options[@]}"}" "${mca[@]+"${mca[@]}"}" \
            -- "$build/allreduce-sweep" "${args[@]}" 2>&1 \
            | grep -E '^(sweep|coll-trace)|WRONG|DIFFER|rror' | sed "s/^/variant=$v repeat=$r load=$load /" || true
    done
done
