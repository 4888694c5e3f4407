#!/usr/bin/env bash
# A simulated cluster on one machine: K network namespaces ddpt-node1…K, each with a veth
# link into the bridge ddpt-br0 in the root namespace, so Open MPI ranks talk TCP to each
# other over real (virtual) network interfaces instead of shared memory.
#
#   Cluster/testing/local-cluster.sh up K [--slots S]     create K nodes (S slots each, default 1)
#   Cluster/testing/local-cluster.sh run [MPIRUN-OPTS… --] CMD…
#                                    mpirun CMD on the nodes over TCP (default -np K --map-by node)
#   Cluster/testing/local-cluster.sh session K [MPIRUN-OPTS… --] CMD…
#                                    up K, run, down (down also on failure, Ctrl-C or SIGTERM)
#   Cluster/testing/local-cluster.sh shape NODE [rate R] [delay D] [loss P] [burst B]
#                                    shape node NODE's link, each direction (replaces earlier shaping):
#                                    rate 1gbit, delay 0.1ms (us/ms/s), loss 1% (dropped each way)
#   Cluster/testing/local-cluster.sh unshape NODE          remove that shaping
#   Cluster/testing/local-cluster.sh cut NODE | restore NODE
#                                    take node NODE's link down (a network partition) or back up
#   Cluster/testing/local-cluster.sh status                what exists, addresses, shaping, reachability
#   Cluster/testing/local-cluster.sh down                  remove exactly what `up`/`shape` created
#
#   Environment: DDPT_CLUSTER_PREFIX (default ddpt), DDPT_CLUSTER_NET (default 10.77.0) and
#   DDPT_CLUSTER_STATE_DIR (default /tmp/PREFIX-cluster) select an independent cluster instance.
#   DDPT_CLUSTER_BTL (default tcp,self) is `run`'s `--mca btl` (mpirun refuses a second one among
#   the options): tcp,vader,self lets the ranks of one node use shared memory, as on a real cluster.
#
# Shaping: with the kernel's netem qdisc, `netem delay D loss P rate R` on both ends of the link.
# Without netem: `tbf rate R burst B` on both ends for the rate, and inside the node's namespace
# iptables rules (chain CLUSTER-SHAPE, from OUTPUT and INPUT on eth0) that drop with probability
# P (`statistic`) and pass packets through NFQUEUE to Cluster/testing/nfq-delay.c (built with gcc into the
# state directory, one process per node, SCHED_FIFO), which accepts each one D later, in order.
#
# Addresses (defaults): bridge 10.77.0.1/24, node i 10.77.0.(10+i)/24 (private, only inside this
# machine's own namespaces; no default route, no forwarding, no NAT: nothing leaves the
# machine). The namespaces share the host's file system, PIDs and users, so the same binary,
# data and run-directory paths work on every "node". Host names node1…nodeK are mapped to the
# namespaces by Cluster/testing/netns-rsh, the rsh agent Open MPI's launcher uses instead of ssh.
#
# Everything created is recorded, as it is created, in the state file
# ($DDPT_CLUSTER_STATE_DIR, default /tmp/ddpt-cluster, file `state`); `down` removes
# exactly those things and nothing else. An interrupted or failed `up` removes what it had
# created already.
#
# Exit status: 0 success, 1 error, 2 usage, 3 this machine cannot host the simulated cluster
# (not root, no `ip`, or network namespaces/veth/bridges not permitted) — callers such as the
# tests treat 3 as "skip" and print the message.
set -euo pipefail

# Several independent clusters can coexist: DDPT_CLUSTER_PREFIX names the namespaces, bridge and
# links, DDPT_CLUSTER_NET the /24 (its first three octets), DDPT_CLUSTER_STATE_DIR the state.
readonly PREFIX=${DDPT_CLUSTER_PREFIX:-ddpt}
readonly NET3=${DDPT_CLUSTER_NET:-10.77.0}
readonly BRIDGE=${PREFIX}-br0
readonly SUBNET=${NET3}.0/24
readonly BRIDGE_ADDRESS=${NET3}.1
readonly MAX_NODES=200
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly SCRIPT_DIR
readonly AGENT=${SCRIPT_DIR}/netns-rsh
readonly STATE_DIR=${DDPT_CLUSTER_STATE_DIR:-/tmp/${PREFIX}-cluster}
readonly STATE=${STATE_DIR}/state
readonly HOSTFILE=${STATE_DIR}/hostfile
# /etc/hosts plus the node names. mpirun and the processes on the nodes see it in place of
# /etc/hosts (a bind mount in a private mount namespace of their own), so node1…nodeK resolve
# locally and no name lookup ever goes to a DNS server.
readonly HOSTS=${STATE_DIR}/hosts

die() { echo "local-cluster: $*" >&2; exit 1; }
unsupported() { echo "local-cluster: cannot simulate a cluster here: $*" >&2; exit 3; }
usage() { sed -n '6,23p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit "${1:-2}"; }
note() { echo "local-cluster: $*" >&2; }

# Interface names have at most 15 characters: PREFIX-v200, PREFIX-p<pid> (pids up to 7 digits).
[[ $PREFIX =~ ^[a-z][a-z0-9]{0,5}$ ]] \
    || { echo "local-cluster: DDPT_CLUSTER_PREFIX='$PREFIX': use 1–6 lower-case letters or digits, starting with a letter" >&2; exit 2; }
[[ $NET3 =~ ^(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])){2}$ ]] \
    || { echo "local-cluster: DDPT_CLUSTER_NET='$NET3': give the first three octets of a private /24, e.g. 10.77.0" >&2; exit 2; }
[[ $NET3 =~ ^10\. || $NET3 =~ ^192\.168\. || $NET3 =~ ^172\.(1[6-9]|2[0-9]|3[01])\. ]] \
    || { echo "local-cluster: DDPT_CLUSTER_NET='$NET3' is not a private (RFC 1918) network" >&2; exit 2; }

ns_of() { echo "${PREFIX}-node$1"; }      # namespace of node i
veth_of() { echo "${PREFIX}-v$1"; }       # root-namespace end of node i's link (its peer is eth0 inside)
address_of() { echo "${NET3}.$((10 + $1))"; }

record() { echo "$*" >>"$STATE"; }         # one created thing per line, in creation order
unrecord() {
    [[ -f $STATE ]] || return 0
    grep -vxF -- "$*" "$STATE" >"$STATE.new" || true
    mv -f -- "$STATE.new" "$STATE"
}
# `create "KIND NAME" COMMAND…`: records the thing, then creates it; if creating fails the record
# is dropped again. Recording first means an interruption between the two cannot leak it (the
# names were checked to be free beforehand, so a recorded name is always ours).
create() {
    local what=$1; shift
    record "$what"
    if ! "$@"; then unrecord "$what"; die "failed: $*"; fi
}
recorded() { [[ -f $STATE ]] && grep -qxF -- "$*" "$STATE"; }
node_count() { [[ -f $STATE ]] && awk '$1 == "nodes" { print $2 }' "$STATE" | tail -n 1; }

netns_exists() { [[ -e /run/netns/$1 ]] || ip netns list 2>/dev/null | awk '{ print $1 }' | grep -qxF -- "$1"; }
link_exists() { ip link show dev "$1" >/dev/null 2>&1; }

# --- checks ---------------------------------------------------------------------------------

check_capabilities() {
    [[ $(id -u) -eq 0 ]] || unsupported "must run as root (network namespaces, veth links and a bridge need CAP_NET_ADMIN and CAP_SYS_ADMIN)"
    command -v ip >/dev/null || unsupported "the \`ip\` command is missing: apt-get install -y iproute2"
    # A throw-away namespace and veth pair prove the kernel and sandbox allow what `up` needs.
    local probe=${PREFIX}-probe$$ out
    PROBE_NS=$probe
    trap 'ip netns delete "$PROBE_NS" 2>/dev/null; exit 130' INT
    trap 'ip netns delete "$PROBE_NS" 2>/dev/null; exit 143' TERM
    if ! out=$(ip netns add "$probe" 2>&1); then
        unsupported "\`ip netns add\` is not permitted in this environment ($out)"
    fi
    if ! out=$(ip link add "${PREFIX}-p$$" type veth peer name "${PREFIX}-q$$" netns "$probe" 2>&1); then
        ip netns delete "$probe" 2>/dev/null || true
        unsupported "veth links cannot be created here ($out)"
    fi
    ip link delete "${PREFIX}-p$$" 2>/dev/null || true
    ip netns delete "$probe" 2>/dev/null || true
    trap - INT TERM
}

# --- up / down --------------------------------------------------------------------------------

cmd_up() {
    local nodes=${1:-}; shift || true
    local slots=${DDPT_CLUSTER_SLOTS:-1}
    while [[ $# -gt 0 ]]; do
        case $1 in
            --slots) slots=${2:?--slots needs a number}; shift 2 ;;
            *) usage ;;
        esac
    done
    [[ $nodes =~ ^[0-9]+$ && $nodes -ge 1 && $nodes -le $MAX_NODES ]] || { echo "local-cluster: up needs a node count 1…$MAX_NODES" >&2; usage; }
    [[ $slots =~ ^[0-9]+$ && $slots -ge 1 ]] || die "--slots needs a positive number"
    check_capabilities
    if [[ -f $STATE ]]; then
        die "a simulated cluster is already up (state file $STATE); run \`$0 down\` first"
    fi
    command -v mpirun >/dev/null || note "warning: mpirun is not on PATH (apt-get install -y openmpi-bin); \`run\` will need it"

    # Refuse to touch anything that exists already.
    local i
    link_exists "$BRIDGE" && die "interface $BRIDGE exists but was not created by this script; not touching it"
    for ((i = 1; i <= nodes; i++)); do
        netns_exists "$(ns_of "$i")" && die "network namespace $(ns_of "$i") exists but was not created by this script; not touching it"
        link_exists "$(veth_of "$i")" && die "interface $(veth_of "$i") exists but was not created by this script; not touching it"
    done
    if ip -4 route show to match "$BRIDGE_ADDRESS" | grep -qv '^default'; then
        die "$SUBNET overlaps a route of this machine ($(ip -4 route show to match "$BRIDGE_ADDRESS" | grep -v '^default' | head -n 1)); not creating the bridge"
    fi

    local created_dir=0
    if [[ ! -d $STATE_DIR ]]; then mkdir -p "$STATE_DIR"; created_dir=1; fi
    : >"$STATE"
    record "nodes $nodes"
    [[ $created_dir -eq 1 ]] && record "dir $STATE_DIR"
    # From here on an error, Ctrl-C or SIGTERM removes whatever was created.
    UP_COMPLETE=0
    trap 'if [[ $UP_COMPLETE -eq 0 ]]; then note "up interrupted or failed: removing what it created"; teardown; fi' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    create "link $BRIDGE" ip link add "$BRIDGE" type bridge
    disable_ipv6 "" "$BRIDGE"
    ip addr add "${BRIDGE_ADDRESS}/24" dev "$BRIDGE"
    ip link set "$BRIDGE" up

    for ((i = 1; i <= nodes; i++)); do
        local ns veth
        ns=$(ns_of "$i"); veth=$(veth_of "$i")
        create "netns $ns" ip netns add "$ns"
        ip netns exec "$ns" ip link set lo up
        create "link $veth" ip link add "$veth" type veth peer name eth0 netns "$ns"
        disable_ipv6 "" "$veth"
        disable_ipv6 "$ns" eth0
        ip link set "$veth" master "$BRIDGE"
        ip link set "$veth" up
        ip -n "$ns" addr add "$(address_of "$i")/24" dev eth0
        ip -n "$ns" link set eth0 up
    done

    record "file $HOSTS"
    umask 022
    {
        cat /etc/hosts
        echo "# simulated cluster (Cluster/testing/local-cluster.sh)"
        echo "$BRIDGE_ADDRESS $BRIDGE"
        for ((i = 1; i <= nodes; i++)); do echo "$(address_of "$i") node$i $(ns_of "$i")"; done
    } >"$HOSTS"
    record "file $HOSTFILE"
    {
        echo "# written by Cluster/testing/local-cluster.sh up $nodes: host names are mapped to namespaces by Cluster/testing/netns-rsh"
        for ((i = 1; i <= nodes; i++)); do echo "node$i slots=$slots"; done
    } >"$HOSTFILE"

    wait_for_links "$nodes"
    UP_COMPLETE=1
    trap - EXIT INT TERM
    echo "local-cluster: $nodes node(s) up: $(for ((i = 1; i <= nodes; i++)); do printf 'node%d=%s ' "$i" "$(address_of "$i")"; done)"
    echo "local-cluster: bridge $BRIDGE=$BRIDGE_ADDRESS, hostfile $HOSTFILE, state $STATE"
}

# IPv6 off on our own interfaces only, so no router solicitations or link-local chatter: the
# only traffic is the IPv4 the ranks send to each other.
disable_ipv6() {
    local ns=$1 dev=$2
    local file=/proc/sys/net/ipv6/conf/$dev/disable_ipv6
    if [[ -n $ns ]]; then
        ip netns exec "$ns" sh -c "[ -w $file ] && echo 1 > $file" 2>/dev/null || true
    else
        if [[ -w $file ]]; then echo 1 >"$file" 2>/dev/null || true; fi
    fi
}

# Links come up asynchronously; wait until every node's eth0 and its bridge port are up.
wait_for_links() {
    local nodes=$1 i tries
    for ((i = 1; i <= nodes; i++)); do
        for ((tries = 0; tries < 50; tries++)); do
            if ip -n "$(ns_of "$i")" link show dev eth0 | grep -q 'state UP' \
               && ip link show dev "$(veth_of "$i")" | grep -q 'state UP'; then
                break
            fi
            sleep 0.1
        done
    done
}

# Removes what the state file lists, newest first. Missing things are skipped (a namespace's
# eth0 and a veth's root-namespace end disappear together, qdiscs with their interface).
teardown() {
    [[ -f $STATE ]] || return 0
    local kind a b dir=""
    while read -r kind a b; do
        case $kind in
            qdisc)
                if [[ $a == - ]]; then
                    if link_exists "$b"; then tc qdisc del dev "$b" root 2>/dev/null || true; fi
                else
                    if netns_exists "$a"; then ip netns exec "$a" tc qdisc del dev "$b" root 2>/dev/null || true; fi
                fi ;;
            filter) remove_filter "$a" ;;
            helper) stop_helper "$b" ;;
            netns)
                stop_helpers_in "$a"
                netns_exists "$a" && { ip netns delete "$a" || note "could not delete namespace $a"; } ;;
            link) link_exists "$a" && { ip link delete "$a" || note "could not delete interface $a"; } ;;
            file) rm -f -- "$a" ;;
            dir) dir=$a ;;
            nodes) ;;
        esac
    done < <(tac "$STATE")
    rm -f -- "$STATE"
    if [[ -n $dir ]]; then rmdir -- "$dir" 2>/dev/null || note "left $dir in place (not empty)"; fi
}

cmd_down() {
    if [[ ! -f $STATE ]]; then
        echo "local-cluster: nothing to remove (no state file $STATE)"
        return 0
    fi
    [[ $(id -u) -eq 0 ]] || die "down must run as root"
    trap '' INT TERM   # finish removing even if interrupted again
    teardown
    echo "local-cluster: down"
}

# --- run ------------------------------------------------------------------------------------

# Splits "[MPIRUN-OPTS… --] CMD…" and builds the mpirun command line in MPIRUN_ARGV.
build_mpirun() {
    local nodes
    nodes=$(node_count) || true
    [[ -n $nodes && -f $HOSTFILE ]] || die "no simulated cluster is up (state $STATE); run \`$0 up K\` first"
    command -v mpirun >/dev/null || die "mpirun is not on PATH: apt-get install -y openmpi-bin"
    command -v unshare >/dev/null || die "unshare is missing: apt-get install -y util-linux"
    [[ -f $HOSTS ]] || die "$HOSTS is missing: run \`$0 down\` and \`$0 up K\` again"
    [[ -x $AGENT ]] || die "the rsh agent $AGENT is missing or not executable"
    local options=() command=() seen_separator=0 arg
    for arg in "$@"; do
        if [[ $seen_separator -eq 0 && $arg == -- ]]; then seen_separator=1; continue; fi
        command+=("$arg")
    done
    if [[ $seen_separator -eq 1 ]]; then
        # Everything before -- is mpirun options.
        local n=0
        for arg in "$@"; do [[ $arg == -- ]] && break; n=$((n + 1)); done
        options=("${@:1:n}")
        command=("${@:n+2}")
    fi
    [[ ${#command[@]} -ge 1 ]] || die "run needs a command, e.g. \`$0 run $(command -v hostname || echo hostname)\`"
    local has_np=0
    for arg in "${options[@]+"${options[@]}"}"; do
        case $arg in -np|-n|--np|-c|--n) has_np=1 ;; esac
    done
    # shellcheck disable=SC2054  # "tcp,self" is one argument
    MPIRUN_ARGV=(mpirun --hostfile "$HOSTFILE"
        --mca plm_rsh_agent "$AGENT"
        --mca plm_rsh_no_tree_spawn 1
        --mca pml ob1
        --mca btl "${DDPT_CLUSTER_BTL:-tcp,self}"
        --mca btl_tcp_if_include "$SUBNET"
        --mca oob_tcp_if_include "$SUBNET")
    [[ $has_np -eq 1 ]] || MPIRUN_ARGV+=(-np "$nodes" --map-by node)
    MPIRUN_ARGV+=("${options[@]+"${options[@]}"}" "${command[@]}")
    echo "local-cluster: ${MPIRUN_ARGV[*]}" >&2
    # mpirun resolves the host names of the hostfile: give it a private /etc/hosts that has them.
    # unshare --mount makes the bind mount private to mpirun (propagation private), and the
    # exec chain keeps one process id, so signals to this script's process reach mpirun itself.
    # shellcheck disable=SC2016  # expanded by the inner shell
    MPIRUN_ARGV=(unshare --mount -- /bin/sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$HOSTS" "${MPIRUN_ARGV[@]}")
}

cmd_run() {
    build_mpirun "$@"
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    # netns-rsh passes this environment on to orted in each namespace (ssh would not), and reads
    # the cluster's names from it.
    export PATH LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}
    export DDPT_CLUSTER_PREFIX=$PREFIX DDPT_CLUSTER_NET=$NET3 DDPT_CLUSTER_STATE_DIR=$STATE_DIR
    exec "${MPIRUN_ARGV[@]}"
}

# Ctrl-C or SIGTERM during a session: stop mpirun (it ends its ranks), then take the cluster down.
session_interrupted() {
    trap '' INT TERM
    if [[ -n ${SESSION_CHILD:-} ]]; then
        kill -TERM "$SESSION_CHILD" 2>/dev/null || true
        wait "$SESSION_CHILD" 2>/dev/null || true
    fi
    trap - EXIT
    teardown
    echo "local-cluster: interrupted; down" >&2
    exit "$1"
}

cmd_session() {
    local nodes=${1:-}; shift || true
    [[ $# -ge 1 ]] || usage
    cmd_up "$nodes"
    SESSION_CHILD=""
    trap 'session_interrupted 130' INT
    trap 'session_interrupted 143' TERM
    trap 'teardown' EXIT
    build_mpirun "$@"
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    export PATH LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}
    export DDPT_CLUSTER_PREFIX=$PREFIX DDPT_CLUSTER_NET=$NET3 DDPT_CLUSTER_STATE_DIR=$STATE_DIR
    local status=0
    "${MPIRUN_ARGV[@]}" &
    SESSION_CHILD=$!
    wait "$SESSION_CHILD" || status=$?
    SESSION_CHILD=""
    trap - INT TERM EXIT
    teardown
    echo "local-cluster: down" >&2
    return "$status"
}

# --- shaping --------------------------------------------------------------------------------

netem_available() {
    # Try it on a throw-away dummy-free target: a veth pair in a probe namespace.
    local probe=${PREFIX}-probe$$ ok=1
    PROBE_NS=$probe
    trap 'ip netns delete "$PROBE_NS" 2>/dev/null; exit 130' INT
    trap 'ip netns delete "$PROBE_NS" 2>/dev/null; exit 143' TERM
    ip netns add "$probe" 2>/dev/null || { trap - INT TERM; return 1; }
    ip -n "$probe" link add p0 type veth peer name p1 2>/dev/null || ok=0
    [[ $ok -eq 1 ]] && ip netns exec "$probe" tc qdisc add dev p0 root netem delay 1ms 2>/dev/null || ok=0
    ip netns delete "$probe" 2>/dev/null || true
    trap - INT TERM
    [[ $ok -eq 1 ]]
}

node_index() {
    local name=$1
    [[ $name =~ ^(${PREFIX}-)?node([0-9]+)$ ]] || die "unknown node '$name' (use node1…nodeK)"
    local i=${BASH_REMATCH[2]} nodes
    nodes=$(node_count) || true
    [[ -n $nodes ]] || die "no simulated cluster is up"
    [[ $i -ge 1 && $i -le $nodes ]] || die "node$i does not exist (the cluster has $nodes)"
    echo "$i"
}

# Without netem, delay and loss are made with netfilter inside the node's namespace: the chain
# SHAPE_CHAIN of the filter table gets every IPv4 packet leaving (OUTPUT -o eth0) and entering
# (INPUT -i eth0) the node; it drops a random fraction (the `statistic` match) and hands the rest
# to NFQUEUE QUEUE_NUM, where the helper Cluster/testing/nfq-delay.c (built into the state directory)
# accepts each packet DELAY later, in order. `--queue-bypass`: with no helper listening, packets
# pass undelayed instead of being dropped.
readonly SHAPE_CHAIN=CLUSTER-SHAPE
readonly QUEUE_NUM=0
readonly HELPER_SOURCE=${SCRIPT_DIR}/nfq-delay.c
HELPER=$(realpath -m -- "${STATE_DIR}/nfq-delay")   # absolute, as /proc/PID/exe shows it
readonly HELPER

# "0.1ms", "100us", "1ms", "0.002s", "500ns" → integer nanoseconds.
to_ns() {
    [[ $1 =~ ^([0-9]+\.?[0-9]*|\.[0-9]+)(s|ms|us|ns)$ ]] || return 1
    awk -v v="${BASH_REMATCH[1]}" -v u="${BASH_REMATCH[2]}" \
        'BEGIN { m = (u == "s") ? 1e9 : (u == "ms") ? 1e6 : (u == "us") ? 1e3 : 1; printf "%.0f\n", v * m }'
}
# "1%", "0.5%" or "1" (percent) → a probability with 6 decimals.
to_probability() {
    [[ $1 =~ ^([0-9]+\.?[0-9]*|\.[0-9]+)%?$ ]] || return 1
    awk -v v="${BASH_REMATCH[1]}" 'BEGIN { if (v > 100) exit 1; printf "%.6f\n", v / 100 }'
}

ipt() { local ns=$1; shift; ip netns exec "$ns" iptables -w "$@" </dev/null; }

# Whether PID is a delay helper of this cluster (not a recycled process id).
is_helper() {
    local exe
    exe=$(readlink "/proc/$1/exe" 2>/dev/null) || return 1
    [[ $exe == "$HELPER" || $exe == "$HELPER (deleted)" ]]
}

# SIGTERM makes the helper accept the packets it holds and exit; SIGKILL if it takes over 2 s.
stop_helper() {
    local pid=$1 tries
    is_helper "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((tries = 0; tries < 40; tries++)); do
        is_helper "$pid" || return 0
        sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null || true
}

# Stops any helper of ours still running in namespace NS, recorded or not (one started by a
# `shape` interrupted before it could record the pid).
stop_helpers_in() {
    local pid
    netns_exists "$1" || return 0
    for pid in $(ip netns pids "$1" 2>/dev/null); do
        if is_helper "$pid"; then stop_helper "$pid"; fi
    done
}

remove_filter() {
    local ns=$1
    netns_exists "$ns" || return 0
    while ipt "$ns" -D OUTPUT -o eth0 -j "$SHAPE_CHAIN" 2>/dev/null; do :; done
    while ipt "$ns" -D INPUT -i eth0 -j "$SHAPE_CHAIN" 2>/dev/null; do :; done
    ipt "$ns" -F "$SHAPE_CHAIN" 2>/dev/null || true
    ipt "$ns" -X "$SHAPE_CHAIN" 2>/dev/null || true
}

# add_filter NS PROBABILITY QUEUE: drop with PROBABILITY (empty: none), then queue (QUEUE=1).
# All or nothing: on failure whatever was added is removed again.
add_filter() {
    local ns=$1 probability=$2 queue=$3
    if ipt "$ns" -N "$SHAPE_CHAIN" \
        && { [[ -z $probability ]] || ipt "$ns" -A "$SHAPE_CHAIN" -m statistic --mode random --probability "$probability" -j DROP; } \
        && { [[ $queue -eq 0 ]] || ipt "$ns" -A "$SHAPE_CHAIN" -j NFQUEUE --queue-num "$QUEUE_NUM" --queue-bypass; } \
        && ipt "$ns" -A OUTPUT -o eth0 -j "$SHAPE_CHAIN" \
        && ipt "$ns" -A INPUT -i eth0 -j "$SHAPE_CHAIN"; then
        return 0
    fi
    remove_filter "$ns"
    return 1
}

# Builds the helper into the state directory unless an up-to-date build is there.
build_helper() {
    [[ -f $HELPER_SOURCE ]] || die "the delay helper's source $HELPER_SOURCE is missing"
    if [[ -x $HELPER && $HELPER -nt $HELPER_SOURCE ]] && recorded "file $HELPER"; then return 0; fi
    command -v gcc >/dev/null \
        || die "delay needs gcc to build $HELPER_SOURCE: apt-get install -y gcc libc6-dev linux-libc-dev"
    if ! echo '#include <linux/netfilter/nfnetlink_queue.h>' | gcc -E -x c - >/dev/null 2>&1; then
        die "delay needs the kernel's netfilter headers to build $HELPER_SOURCE: apt-get install -y linux-libc-dev libc6-dev"
    fi
    recorded "file $HELPER" || record "file $HELPER"
    local out
    out=$(gcc -O2 -Wall -o "$HELPER" "$HELPER_SOURCE" 2>&1) || die "building $HELPER_SOURCE failed: $out"
}

# Starts the helper in namespace NS (its own session, so no terminal signal reaches it) and waits
# until it has bound the queue. Recorded as "helper NS PID"; its messages go to a log file.
start_helper() {
    local ns=$1 delay_ns=$2 log=${STATE_DIR}/nfq-delay.$1.log pid tries
    recorded "file $log" || record "file $log"
    : >"$log"
    (
        # Close every descriptor inherited from our caller: a helper holding one open would keep a
        # caller that waits for EOF on it (a pipe, or the socket Foundation's Process watches)
        # waiting until `unshape`.
        for fd in /proc/"$BASHPID"/fd/*; do
            fd=${fd##*/}
            [[ $fd -gt 2 ]] && eval "exec $fd>&-" 2>/dev/null
        done
        exec setsid ip netns exec "$ns" "$HELPER" "$QUEUE_NUM" "$delay_ns"
    ) </dev/null >>"$log" 2>&1 &
    pid=$!
    record "helper $ns $pid"
    for ((tries = 0; tries < 100; tries++)); do
        if grep -q '^nfq-delay: queue ' "$log"; then return 0; fi
        sleep 0.02
    done
    stop_helper "$pid"
    unrecord "helper $ns $pid"
    die "the delay helper did not start in $ns: $(cat "$log")"
}

# Removes node i's shaping (netfilter rules first, then the helper, then the qdiscs).
remove_shaping() {
    local i=$1 ns veth kind a b
    ns=$(ns_of "$i"); veth=$(veth_of "$i")
    [[ -f $STATE ]] || return 0
    if recorded "filter $ns"; then
        remove_filter "$ns"
        unrecord "filter $ns"
    fi
    while read -r kind a b; do
        if [[ $kind == helper && $a == "$ns" ]]; then
            stop_helper "$b"
            unrecord "helper $ns $b"
        fi
    done < <(grep "^helper $ns " "$STATE" || true)
    stop_helpers_in "$ns"
    if recorded "qdisc - $veth"; then
        tc qdisc del dev "$veth" root 2>/dev/null || true
        unrecord "qdisc - $veth"
    fi
    if recorded "qdisc $ns eth0"; then
        ip netns exec "$ns" tc qdisc del dev eth0 root 2>/dev/null || true
        unrecord "qdisc $ns eth0"
    fi
}

cmd_shape() {
    [[ $# -ge 1 ]] || usage
    local i rate="" delay="" loss="" burst=256kb
    i=$(node_index "$1"); shift
    while [[ $# -gt 0 ]]; do
        case $1 in
            rate) rate=${2:?rate needs a value, e.g. 1gbit}; shift 2 ;;
            delay) delay=${2:?delay needs a value, e.g. 0.1ms}; shift 2 ;;
            loss) loss=${2:?loss needs a value, e.g. 1%}; shift 2 ;;
            burst) burst=${2:?burst needs a value, e.g. 256kb}; shift 2 ;;
            *) die "shape: unknown setting '$1' (rate R, delay D, loss P, burst B)" ;;
        esac
    done
    [[ -n $rate || -n $delay || -n $loss ]] || die "shape: give at least one of rate, delay, loss"
    command -v tc >/dev/null || die "tc is missing: apt-get install -y iproute2"
    local delay_ns=0 probability=""
    if [[ -n $delay ]]; then
        delay_ns=$(to_ns "$delay") || die "shape: delay '$delay' needs a unit: e.g. 100us, 0.1ms, 1ms"
        [[ $delay_ns -le 10000000000 ]] || die "shape: delay $delay is over 10 s"
    fi
    if [[ -n $loss ]]; then
        probability=$(to_probability "$loss") || die "shape: loss '$loss' must be a percentage 0…100, e.g. 1%"
    fi
    local ns veth
    ns=$(ns_of "$i"); veth=$(veth_of "$i")

    if netem_available; then
        local qdisc=(netem)
        [[ -n $delay ]] && qdisc+=(delay "$delay")
        [[ -n $loss ]] && qdisc+=(loss "$loss")
        [[ -n $rate ]] && qdisc+=(rate "$rate")
        remove_shaping "$i"
        # Both directions of node i's link: into the node (root end of the veth) and out of it (eth0).
        create "qdisc - $veth" tc qdisc add dev "$veth" root "${qdisc[@]}"
        create "qdisc $ns eth0" ip netns exec "$ns" tc qdisc add dev eth0 root "${qdisc[@]}"
        echo "local-cluster: node$i link shaped both ways: ${qdisc[*]}"
        return 0
    fi

    # No netem in this kernel: tbf for the rate, netfilter in the node's namespace for loss and delay.
    local queue=0 lossy=0 done=()
    [[ $delay_ns -gt 0 ]] && queue=1
    [[ -n $probability && $probability != 0.000000 ]] && lossy=1
    if [[ -z $rate && $queue -eq 0 && $lossy -eq 0 ]]; then
        remove_shaping "$i"
        note "nothing to shape (delay and loss are zero and no rate given)"
        return 0
    fi
    if [[ $queue -eq 1 || $lossy -eq 1 ]]; then
        command -v iptables >/dev/null || die "delay and loss need iptables (this kernel has no netem): apt-get install -y iptables"
    fi
    [[ $queue -eq 1 ]] && build_helper
    remove_shaping "$i"
    # From here on an error, Ctrl-C or SIGTERM removes this node's shaping again.
    SHAPE_NODE=$i
    trap 'remove_shaping "$SHAPE_NODE"; note "shape failed or was interrupted: node$SHAPE_NODE left unshaped"' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    if [[ -n $rate ]]; then
        local tbf=(tbf rate "$rate" burst "$burst" latency 50ms)
        # Both directions of node i's link: into the node (root end of the veth) and out of it (eth0).
        create "qdisc - $veth" tc qdisc add dev "$veth" root "${tbf[@]}"
        create "qdisc $ns eth0" ip netns exec "$ns" tc qdisc add dev eth0 root "${tbf[@]}"
        done+=("${tbf[*]}")
    fi
    if [[ $queue -eq 1 ]]; then
        start_helper "$ns" "$delay_ns"
        done+=("delay $delay (nfq-delay, pid $(awk -v ns="$ns" '$1 == "helper" && $2 == ns { print $3 }' "$STATE" | tail -n 1))")
    fi
    if [[ $queue -eq 1 || $lossy -eq 1 ]]; then
        local p=""
        [[ $lossy -eq 1 ]] && p=$probability
        create "filter $ns" add_filter "$ns" "$p" "$queue"
        if [[ $lossy -eq 1 ]]; then done+=("loss $loss (iptables statistic)"); fi
    fi
    trap - EXIT INT TERM
    local IFS=';'
    echo "local-cluster: node$i link shaped both ways: ${done[*]}"
}

cmd_unshape() {
    [[ $# -eq 1 ]] || usage
    local i
    i=$(node_index "$1")
    remove_shaping "$i"
    echo "local-cluster: node$i unshaped"
}

# --- partitions -----------------------------------------------------------------------------

cmd_link() {
    local state=$1; shift
    [[ $# -eq 1 ]] || usage
    local i
    i=$(node_index "$1")
    ip link set "$(veth_of "$i")" "$state"
    if [[ $state == down ]]; then
        echo "local-cluster: node$i cut off (its link is down); \`$0 restore node$i\` reconnects it"
    else
        echo "local-cluster: node$i reconnected"
    fi
}

# --- status ---------------------------------------------------------------------------------

cmd_status() {
    if [[ ! -f $STATE ]]; then
        echo "local-cluster: down (no state file $STATE)"
        return 0
    fi
    local nodes i
    nodes=$(node_count)
    echo "state file $STATE:"
    sed 's/^/  /' "$STATE"
    if link_exists "$BRIDGE"; then
        echo "bridge: $(ip -br addr show dev "$BRIDGE")"
    else
        echo "bridge: $BRIDGE MISSING"
    fi
    for ((i = 1; i <= nodes; i++)); do
        local ns
        ns=$(ns_of "$i")
        if ! netns_exists "$ns"; then echo "node$i: namespace $ns MISSING"; continue; fi
        echo "node$i ($ns): $(ip -n "$ns" -br addr show dev eth0 2>/dev/null || echo 'no eth0')"
        local q
        q=$(ip netns exec "$ns" tc qdisc show dev eth0 root 2>/dev/null | grep -v noqueue | head -n 1 || true)
        [[ -z $q ]] || echo "  shaped out of the node: $q"
        q=$(tc qdisc show dev "$(veth_of "$i")" root 2>/dev/null | grep -v noqueue | head -n 1 || true)
        [[ -z $q ]] || echo "  shaped into the node:   $q"
        local pid
        # shellcheck disable=SC2013  # one pid per line
        for pid in $(awk -v ns="$ns" '$1 == "helper" && $2 == ns { print $3 }' "$STATE"); do
            if is_helper "$pid"; then
                echo "  delay helper: pid $pid, $(tr '\0' ' ' <"/proc/$pid/cmdline" | awk '{ printf "queue %s, %s ns each way", $2, $3 }')"
            else
                echo "  delay helper: pid $pid NOT RUNNING (packets pass undelayed; see ${STATE_DIR}/nfq-delay.$ns.log)"
            fi
        done
        if recorded "filter $ns"; then
            ipt "$ns" -L "$SHAPE_CHAIN" -v -n -x 2>/dev/null | awk 'NR > 2 { print "  netfilter: " $0 }' || true
        fi
        # Reachability of the bridge address, with bash's /dev/tcp (no ping needed): a refused
        # connection proves the packet got there and back.
        local reply
        reply=$(ip netns exec "$ns" timeout 2 bash -c "exec 3<>/dev/tcp/$BRIDGE_ADDRESS/9" 2>&1 || true)
        if [[ $reply == *refused* ]]; then
            echo "  reaches $BRIDGE_ADDRESS: yes"
        else
            echo "  reaches $BRIDGE_ADDRESS: NO"
        fi
    done
}

# --- main -----------------------------------------------------------------------------------

[[ $# -ge 1 ]] || usage
subcommand=$1; shift
case $subcommand in
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    run) cmd_run "$@" ;;
    session) cmd_session "$@" ;;
    shape) cmd_shape "$@" ;;
    unshape) cmd_unshape "$@" ;;
    cut) cmd_link down "$@" ;;
    restore) cmd_link up "$@" ;;
    status) cmd_status "$@" ;;
    -h|--help|help) usage 0 ;;
    *) usage ;;
esac
