#!/usr/bin/env python3
"""Project ddptrain's per-step time and scaling efficiency to N nodes (Docs/distributed.md,
"Projection to 8, 32 and 128 nodes").

Per optimizer step and rank, with K = --accumulate-steps micro-batches of the per-rank batch:

  compute      K * T_c                     (T_c: measured forward + backward of one micro-batch)
  batch norm   K * sum over BN layers and both directions of one small blocking all-reduce
               (--bn-sync batch: over all ranks, on the network; node/group:K: over the ranks of a
               group, on shared memory when the group is inside a node, else on the network;
               local: 0). Not overlapped: each reduction gates the next layer.
  gradients    the buckets' all-reduces (--bucket-mb cuts the gradient of S bytes, S = params * 4,
               or * 2 with --allreduce-dtype bf16). All buckets but the last start during the last
               micro-batch's backward and are hidden up to --overlap * T_backward (the doc's
               assumption, not measured across nodes); the last bucket (the stem side, ready only
               when backward ends) is fully exposed.
  step vote    one small blocking all-reduce over all ranks (the per-step loss / stop vote).

  efficiency = K * T_c / (K * T_c + K * T_bn + exposed gradient time + T_vote)

Each all-reduce costs rounds * alpha + bytes * beta for the algorithm that Open MPI 4.1 actually
runs at that rank count and message size (Cluster/testing/coll-trace.c shows which one):

  blocking MPI_Allreduce (batch norm, vote): coll/tuned's fixed decision rules for commutative
    operations (thresholds as listed in Docs/distributed.md, "Which algorithm Open MPI runs");
  MPI_Iallreduce in place (the gradient buckets): coll/libnbc, which picks its binomial
    reduce + broadcast for every in-place call unless --mca coll_libnbc_iallreduce_algorithm
    forces another one (--grad-algorithm here).

  recursive doubling   (log2 p + e) * (alpha + S beta)            p = largest power of two <= N,
  Rabenseifner         (2 log2 p + e) * alpha + (2 (p-1)/p + e) S beta      e = 2 if N != p else 0
  ring                 2 (N-1) * alpha + 2 (N-1)/N * S beta
  binomial / reduce+bcast   2 ceil(log2 N) * (alpha + S beta)

The local reduction (adding floats) and bf16 conversion are not modelled. One rank per node by
default; with --ranks-per-node R > 1 every gradient/vote round is still charged the network's
alpha and the node's R ranks share its link (bytes * R), which overstates both, while `node`
batch norm runs over R ranks on shared memory at --alpha-sm-ms.

Standard library only. Example:
  Cluster/testing/project-scaling.py --bn-sync batch --bn-sync local --link 10gbit
"""
import argparse
import json
import math
import sys

# --- measured constants ---------------------------------------------------------------------
# alpha: one round (one message each way) between two simulated nodes whose links both carry
# `delay 0.1ms` (0.2 ms one way): recursive doubling at 256 B-16 KiB (one round) at 2 nodes x
# 1 rank took 286-315 us (Cluster/testing/allreduce-sweep.sh, 2026-12-07 13:12-13:14, load
# 1.7-4.7; Docs/distributed.md, "Gradient all-reduce algorithms, measured"); an earlier quiet
# session measured 247-256 us for 256 B. Under load 7-12 the same round cost 0.54-0.89 ms with
# or without the delay (CPU scheduling on the 2 shared cores): an upper bound, try --alpha-ms 0.9.
ALPHA_NET_MS = 0.30
# alpha of one round between two ranks of one host over shared memory (vader): 256 B-1 KiB
# recursive doubling took 1-2 us (`mpirun -np 2 --mca btl vader,self --mca mpi_yield_when_idle 1
# allreduce-sweep --mode blocking --sizes 256,1024,2048,4096`, 5 runs, load 7.9-8.2, same section).
ALPHA_SM_MS = 0.002
# Open MPI's TCP eager limit (`ompi_info --param btl tcp --level 9`: btl_tcp_eager_limit 65536):
# larger messages take a rendezvous handshake first. Measured (same runs as alpha): recursive
# doubling took 1.02-1.14 ms at 64 KiB against 0.31-0.37 ms at 16 KiB, the binomial tree 1.9 ms
# against 0.54 ms, while Rabenseifner (32 KiB halves) stayed at 0.71 ms.
EAGER_BYTES = 65536
# Link rates: beta is 1/rate, the nominal rate of a real link. (The simulated links were not
# rate-shaped for the sweep; unshaped they moved 300-460 MB/s: this CPU copying through TCP.)
LINKS_BITS_PER_SECOND = {"1gbit": 1e9, "10gbit": 10e9, "25gbit": 25e9, "100gbit": 100e9}

# --- models (from `ddptrain summary MODEL`) ----------------------------------------------------
# params: trainable parameters (the gradient is params * 4 bytes in fp32);
# bn_channels: input channels of every batch-norm layer (a layer's forward reduction is 2C+1
# doubles, its backward one 2C doubles).
MODELS = {
    "resnet-20": {
        "params": 269_722,
        "bn_channels": [16] * 7 + [32] * 6 + [64] * 6,
    },
    "sparsenet-40-24": {
        "params": 748_522,
        "bn_channels": [48, 72, 48, 96, 72, 72, 72, 120, 96, 96, 96, 96, 96, 96, 120, 48, 144, 72, 72, 72,
                        168, 96, 96, 96, 96, 96, 96, 120, 48, 144, 72, 72, 72, 168, 96, 96, 96, 96, 96],
    },
}
# Compute per micro-batch at batch 32 per rank, one thread: `ddptrain bench --model M --batch-size 32
# --threads 1 --steps 10`, best median of 3 runs, 2026-12-07 (Intel Xeon family 6 model 207, the
# engine at 50e3b6b; Docs/distributed.md); override with --compute.
DEFAULT_COMPUTE_MS = {"resnet-20": (82.2, 59.1), "sparsenet-40-24": (516.8, 384.9)}


# --- Open MPI 4.1's choices ------------------------------------------------------------------
# coll/tuned's fixed rules for a commutative all-reduce: per communicator-size band, a list of
# (upper byte bound, algorithm), the first bound above the message size wins.
_TUNED_RULES = [
    (4, [(8, "ring"), (4096, "recursive_doubling"), (8192, "ring"), (16384, "recursive_doubling"),
         (65536, "ring"), (262144, "segmented_ring"), (None, "rabenseifner")]),
    (8, [(16, "ring"), (8192, "recursive_doubling"), (None, "rabenseifner")]),
    (16, [(8192, "recursive_doubling"), (None, "rabenseifner")]),
    (32, [(64, "segmented_ring"), (4096, "recursive_doubling"), (None, "rabenseifner")]),
    (64, [(128, "segmented_ring"), (None, "rabenseifner")]),
    (128, [(262144, "recursive_doubling"), (None, "rabenseifner")]),
    (256, [(131072, "nonoverlapping"), (262144, "recursive_doubling"), (None, "rabenseifner")]),
    (512, [(4096, "nonoverlapping"), (None, "rabenseifner")]),
    (2048, [(2048, "nonoverlapping"), (16384, "recursive_doubling"), (None, "rabenseifner")]),
    (4096, [(2048, "nonoverlapping"), (4096, "segmented_ring"), (16384, "recursive_doubling"), (None, "rabenseifner")]),
    (None, [(2048, "nonoverlapping"), (16384, "segmented_ring"), (32768, "recursive_doubling"), (None, "rabenseifner")]),
]


def tuned_allreduce_algorithm(ranks, nbytes):
    """The algorithm coll/tuned runs for a blocking commutative all-reduce (Open MPI 4.1)."""
    for band, rules in _TUNED_RULES:
        if band is None or ranks < band:
            for bound, algorithm in rules:
                if bound is None or nbytes < bound:
                    algorithm_count = nbytes // 4  # floats or larger: ring needs count >= ranks
                    if algorithm in ("ring", "segmented_ring") and algorithm_count < ranks:
                        return "recursive_doubling"  # Open MPI's ring falls back to it
                    return algorithm
    raise AssertionError("unreachable")


def libnbc_iallreduce_algorithm(ranks, nbytes, in_place=True, forced=None):
    """The algorithm coll/libnbc runs for MPI_Iallreduce (Open MPI 4.1): binomial reduce +
    broadcast for fewer than 4 ranks, under 64 KiB, or in place (ddptrain's buckets are in place),
    else Rabenseifner; `forced` mirrors --mca coll_libnbc_iallreduce_algorithm."""
    if forced:
        return forced
    if ranks < 4 or nbytes < 65536 or in_place:
        return "binomial"
    return "rabenseifner"


def cost(algorithm, ranks, nbytes, alpha, beta, eager=0):
    """(rounds, bytes on the critical path, seconds) of one all-reduce. A round whose message is
    `eager` bytes or more (TCP's eager limit, 64 KiB including the header; 0: ignore) pays a
    rendezvous handshake, one more round trip: 2 alpha."""
    if ranks <= 1:
        return 0, 0.0, 0.0
    p = 1 << (ranks.bit_length() - 1)
    extra = 0 if p == ranks else 2
    log_p = int(math.log2(p))
    big = (lambda size: eager > 0 and size >= eager)
    if algorithm == "recursive_doubling":
        rounds, moved = log_p + extra, (log_p + extra) * nbytes
        handshakes = rounds if big(nbytes) else 0
    elif algorithm == "rabenseifner":
        rounds, moved = 2 * log_p + extra, (2 * (p - 1) / p + extra) * nbytes
        handshakes = 2 * sum(1 for k in range(1, log_p + 1) if big(nbytes / 2 ** k)) + (extra if big(nbytes) else 0)
    elif algorithm in ("ring", "segmented_ring"):
        rounds, moved = 2 * (ranks - 1), 2 * (ranks - 1) / ranks * nbytes
        handshakes = rounds if big(nbytes / ranks) else 0
    elif algorithm in ("binomial", "nonoverlapping"):
        depth = math.ceil(math.log2(ranks))
        rounds, moved = 2 * depth, 2 * depth * nbytes
        handshakes = rounds if big(nbytes) else 0
    else:
        raise ValueError(f"unknown algorithm {algorithm}")
    return rounds, moved, (rounds + 2 * handshakes) * alpha + moved * beta


# --- the projection --------------------------------------------------------------------------
def buckets(gradient_bytes, bucket_bytes):
    sizes = []
    left = gradient_bytes
    while left > 0:
        sizes.append(min(bucket_bytes, left))
        left -= bucket_bytes
    return sizes


def blocking_algorithm(ranks, nbytes, forced):
    """coll/tuned's choice, or the one forced with --mca coll_tuned_use_dynamic_rules 1
    --mca coll_tuned_allreduce_algorithm N (--blocking-algorithm here)."""
    return forced or tuned_allreduce_algorithm(ranks, nbytes)


def bn_seconds(model, bn_sync, nodes, ranks_per_node, alpha_net, alpha_sm, forced=None):
    """Batch-norm reductions of one micro-batch, per rank."""
    if bn_sync == "local":
        return 0.0
    ranks = nodes * ranks_per_node
    if bn_sync == "batch":
        group, alpha = ranks, alpha_net
    elif bn_sync == "node":
        group, alpha = ranks_per_node, alpha_sm
    elif bn_sync.startswith("group:"):
        group = int(bn_sync.split(":", 1)[1])
        alpha = alpha_sm if group <= ranks_per_node else alpha_net
    else:
        raise ValueError(f"unknown --bn-sync {bn_sync}")
    total = 0.0
    for c in MODELS[model]["bn_channels"]:
        for doubles in (2 * c + 1, 2 * c):
            nbytes = doubles * 8
            algorithm = blocking_algorithm(group, nbytes, forced)
            total += cost(algorithm, group, nbytes, alpha, 0.0)[2]  # latency-bound: bytes ignored
    return total


def project(model, nodes, link, bn_sync, accumulate, bucket_mb, dtype, grad_algorithm, overlap,
            ranks_per_node, alpha_net, alpha_sm, compute_ms, backward_ms, blocking=None, eager=EAGER_BYTES):
    ranks = nodes * ranks_per_node
    beta = 8.0 / LINKS_BITS_PER_SECOND[link] * ranks_per_node
    bytes_per_value = 2 if dtype == "bf16" else 4
    gradient = MODELS[model]["params"] * bytes_per_value
    parts = buckets(gradient, int(bucket_mb * 1024 * 1024))
    per_bucket = []
    for size in parts:
        algorithm = libnbc_iallreduce_algorithm(ranks, size, forced=grad_algorithm)
        per_bucket.append((algorithm, cost(algorithm, ranks, size, alpha_net, beta, eager)))
    grad_total = sum(c[2] for _, c in per_bucket)
    hidden_window = overlap * backward_ms / 1000.0
    early = sum(c[2] for _, c in per_bucket[:-1])
    exposed = max(0.0, early - hidden_window) + per_bucket[-1][1][2]
    bn = bn_seconds(model, bn_sync, nodes, ranks_per_node, alpha_net, alpha_sm, blocking) * accumulate
    vote_algorithm = blocking_algorithm(ranks, 16, blocking)
    vote = cost(vote_algorithm, ranks, 16, alpha_net, beta)[2]
    compute = accumulate * compute_ms / 1000.0
    step = compute + bn + exposed + vote
    return {
        "model": model, "nodes": nodes, "ranks": ranks, "link": link, "bn_sync": bn_sync,
        "accumulate_steps": accumulate, "bucket_mb": bucket_mb, "dtype": dtype,
        "gradient_bytes": gradient, "buckets": parts,
        "grad_algorithms": sorted({a for a, _ in per_bucket}),
        "grad_rounds": [c[0] for _, c in per_bucket],
        "grad_ms": grad_total * 1e3, "grad_exposed_ms": exposed * 1e3, "bn_ms": bn * 1e3,
        "vote_algorithm": vote_algorithm, "vote_ms": vote * 1e3, "compute_ms": compute * 1e3, "step_ms": step * 1e3,
        "efficiency": compute / step,
        "alpha_ms": alpha_net * 1e3, "alpha_sm_ms": alpha_sm * 1e3,
    }


def parse_compute(values):
    table = dict(DEFAULT_COMPUTE_MS)
    for v in values or []:
        try:
            name, times = v.split("=", 1)
            total, backward = (float(x) for x in times.split(":", 1))
        except ValueError:
            raise SystemExit(f"--compute {v!r}: use MODEL=FORWARD_BACKWARD_MS:BACKWARD_MS, e.g. resnet-20=126.5:89")
        if name not in MODELS:
            raise SystemExit(f"--compute {v!r}: unknown model {name} (known: {', '.join(MODELS)})")
        table[name] = (total, backward)
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__,
        epilog="Prints one markdown row per model, link, setting and node count. Constants and their "
               "provenance are at the top of this file; see Docs/distributed.md.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", choices=sorted(MODELS),
                        help="model (repeatable; default: all)")
    parser.add_argument("--compute", action="append", metavar="MODEL=TOTAL_MS:BACKWARD_MS",
                        help="forward+backward and backward time of one micro-batch per rank, measured "
                             "(default: measured on the project's machine: "
                             + ", ".join(f"{m}={t}:{b}" for m, (t, b) in DEFAULT_COMPUTE_MS.items()) + ")")
    parser.add_argument("--nodes", default="8,32,128", help="comma-separated node counts (default 8,32,128)")
    parser.add_argument("--link", action="append", choices=sorted(LINKS_BITS_PER_SECOND),
                        help="link rate (repeatable; default 10gbit)")
    parser.add_argument("--bn-sync", action="append", metavar="MODE",
                        help="batch | local | node | group:K (repeatable; default batch)")
    parser.add_argument("--accumulate-steps", type=int, action="append", metavar="K",
                        help="micro-batches per optimizer step (repeatable; default 1)")
    parser.add_argument("--bucket-mb", type=float, default=1.0, help="gradient bucket size in MiB (default 1)")
    parser.add_argument("--allreduce-dtype", choices=["fp32", "bf16"], action="append",
                        help="gradient wire format (repeatable; default fp32); bf16 halves the bytes")
    parser.add_argument("--grad-algorithm", default=None,
                        choices=["binomial", "rabenseifner", "ring", "recursive_doubling"],
                        help="force the gradient all-reduce's algorithm, as --mca "
                             "coll_libnbc_iallreduce_algorithm 2/3/1/4 would (default: Open MPI's "
                             "choice for an in-place MPI_Iallreduce, binomial)")
    parser.add_argument("--blocking-algorithm", default=None,
                        choices=["recursive_doubling", "rabenseifner", "ring", "nonoverlapping"],
                        help="force the blocking all-reduces' algorithm (batch norm, step vote), as --mca "
                             "coll_tuned_use_dynamic_rules 1 --mca coll_tuned_allreduce_algorithm 3/6/4/2 would "
                             "(default: coll/tuned's fixed rules)")
    parser.add_argument("--overlap", type=float, default=2 / 3,
                        help="fraction of backward that can hide the early buckets (default 2/3, assumed)")
    parser.add_argument("--ranks-per-node", type=int, default=1, help="ranks per node (default 1)")
    parser.add_argument("--alpha-ms", type=float, default=ALPHA_NET_MS,
                        help=f"network latency per round in ms (default {ALPHA_NET_MS}, measured)")
    parser.add_argument("--alpha-sm-ms", type=float, default=ALPHA_SM_MS,
                        help=f"shared-memory latency per round in ms (default {ALPHA_SM_MS}, measured)")
    parser.add_argument("--eager-bytes", type=int, default=EAGER_BYTES,
                        help=f"messages of this many bytes or more pay a rendezvous round trip (default "
                             f"{EAGER_BYTES}, Open MPI's TCP eager limit; 0: ignore)")
    parser.add_argument("--format", choices=["markdown", "json"], default="markdown")
    args = parser.parse_args(argv)

    try:
        nodes = [int(n) for n in args.nodes.split(",")]
    except ValueError:
        parser.error("--nodes takes comma-separated integers")
    if any(n < 1 for n in nodes) or args.ranks_per_node < 1:
        parser.error("node and rank counts must be positive")
    for mode in args.bn_sync or []:
        if mode not in ("batch", "local", "node") and not (
                mode.startswith("group:") and mode[6:].isdigit() and int(mode[6:]) >= 1):
            parser.error(f"--bn-sync {mode}: use batch, local, node or group:K")
    if any(k < 1 for k in args.accumulate_steps or []) or args.bucket_mb <= 0 or not 0 <= args.overlap <= 1:
        parser.error("--accumulate-steps >= 1, --bucket-mb > 0, 0 <= --overlap <= 1")
    compute = parse_compute(args.compute)

    rows = []
    for model in args.model or list(MODELS):
        total_ms, backward_ms = compute[model]
        for link in args.link or ["10gbit"]:
            for bn_sync in args.bn_sync or ["batch"]:
                for k in args.accumulate_steps or [1]:
                    for dtype in args.allreduce_dtype or ["fp32"]:
                        for n in nodes:
                            rows.append(project(model, n, link, bn_sync, k, args.bucket_mb, dtype,
                                                args.grad_algorithm, args.overlap, args.ranks_per_node,
                                                args.alpha_ms / 1e3, args.alpha_sm_ms / 1e3,
                                                total_ms, backward_ms, args.blocking_algorithm,
                                                args.eager_bytes))
    if args.format == "json":
        json.dump(rows, sys.stdout, indent=1)
        print()
        return 0
    forced = []
    if args.grad_algorithm:
        forced.append(f"gradient all-reduce forced to {args.grad_algorithm}")
    if args.blocking_algorithm:
        forced.append(f"blocking all-reduces forced to {args.blocking_algorithm}")
    print(f"alpha = {args.alpha_ms} ms per network round, {args.alpha_sm_ms} ms per shared-memory round; "
          f"{args.ranks_per_node} rank(s) per node; {args.bucket_mb:g} MiB buckets; "
          f"overlap {args.overlap:.2f} of backward; compute per micro-batch "
          + ", ".join(f"{m} {compute[m][0]:g} ms (backward {compute[m][1]:g})" for m in (args.model or MODELS))
          + "".join(f"; {f}" for f in forced))
    print()
    print("| model | link | bn-sync | K | dtype | nodes | gradient algorithm (rounds/bucket) | gradient all-reduce | exposed | BN reductions | step vote | step | efficiency |")
    print("|---|---|---|---:|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['link']} | {r['bn_sync']} | {r['accumulate_steps']} | {r['dtype']} | {r['nodes']} | "
              f"{'/'.join(r['grad_algorithms'])} ({'/'.join(map(str, r['grad_rounds']))}) | {r['grad_ms']:.1f} ms | "
              f"{r['grad_exposed_ms']:.1f} ms | {r['bn_ms']:.1f} ms | {r['vote_ms']:.2f} ms | {r['step_ms']:.1f} ms | "
              f"{100 * r['efficiency']:.0f} % |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
