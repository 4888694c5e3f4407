#!/usr/bin/env bash
# A simulated cluster on one machine: K network namespaces ddpt-node1…K, each with a veth
# link into the bridge ddpt-br0 in the root namespace, so Open MPI ranks talk TCP to each
# other over real (virtual) network interfaces instead of shared memory.
#
#   Cluster/local-cluster.sh up K [--slots S]     create K nodes (S slots each, default 1)
#   Cluster/local-cluster.sh run [MPIRUN-OPTS… --] CMD…
#                                    mpirun CMD on the nodes over TCP (default -np K --map-by node)
#   Cluster/local-cluster.sh session K [MPIRUN-OPTS… --] CMD…
#                                    up K, run, down (down also on failure, Ctrl-C or SIGTERM)
#   Cluster/local-cluster.sh shape NODE [rate R] [delay D] [loss P] [burst B]
#                                    shape node NODE's link, both directions (netem; tbf if no netem)
#   Cluster/local-cluster.sh unshape NODE          remove that shaping
#   Cluster/local-cluster.sh cut NODE | restore NODE
#                                    take node NODE's link down (a network partition) or back up
#   Cluster/local-cluster.sh status                what exists, addresses, qdiscs, reachability
#   Cluster/local-cluster.sh down                  remove exactly what `up`/`shape` created
#
# Addresses: bridge 10.77.0.1/24, node i 10.77.0.(10+i)/24 (private, only inside this
# machine's own namespaces; no default route, no forwarding, no NAT: nothing leaves the
# machine). The namespaces share the host's file system, PIDs and users, so the same binary,
# data and run-directory paths work on every "node". Host names node1…nodeK are mapped to the
# namespaces by Cluster/netns-rsh, the rsh agent Open MPI's launcher uses instead of ssh.
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

readonly PREFIX=ddpt
readonly BRIDGE=${PREFIX}-br0
readonly SUBNET=10.77.0.0/24
readonly NET3=10.77.0
readonly BRIDGE_ADDRESS=${NET3}.1
readonly MAX_NODES=200
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly SCRIPT_DIR
readonly AGENT=${SCRIPT_DIR}/netns-rsh
readonly STATE_DIR=${DDPT_CLUSTER_STATE_DIR:-/tmp/ddpt-cluster}
readonly STATE=${STATE_DIR}/state
readonly HOSTFILE=${STATE_DIR}/hostfile
# /etc/hosts plus the node names. mpirun and the processes on the nodes see it in place of
# /etc/hosts (a bind mount in a private mount namespace of their own), so node1…nodeK resolve
# locally and no name lookup ever goes to a DNS server.
readonly HOSTS=${STATE_DIR}/hosts

die() { echo "local-cluster: $*" >&2; exit 1; }
unsupported() { echo "local-cluster: cannot simulate a cluster here: $*" >&2; exit 3; }
usage() { sed -n '6,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit "${1:-2}"; }
note() { echo "local-cluster: $*" >&2; }

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
        echo "# simulated cluster (Cluster/local-cluster.sh)"
        echo "$BRIDGE_ADDRESS $BRIDGE"
        for ((i = 1; i <= nodes; i++)); do echo "$(address_of "$i") node$i $(ns_of "$i")"; done
    } >"$HOSTS"
    record "file $HOSTFILE"
    {
        echo "# written by Cluster/local-cluster.sh up $nodes: host names are mapped to namespaces by Cluster/netns-rsh"
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
            netns) netns_exists "$a" && { ip netns delete "$a" || note "could not delete namespace $a"; } ;;
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
        --mca btl tcp,self
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
    # netns-rsh passes this environment on to orted in each namespace (ssh would not).
    export PATH LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}
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

remove_shaping() {
    local i=$1 ns veth
    ns=$(ns_of "$i"); veth=$(veth_of "$i")
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
            loss) loss=${2:?loss needs a value, e.g. 0%}; shift 2 ;;
            burst) burst=${2:?burst needs a value, e.g. 256kb}; shift 2 ;;
            *) die "shape: unknown setting '$1' (rate R, delay D, loss P, burst B)" ;;
        esac
    done
    [[ -n $rate || -n $delay || -n $loss ]] || die "shape: give at least one of rate, delay, loss"
    command -v tc >/dev/null || die "tc is missing: apt-get install -y iproute2"
    local zero_delay=1 zero_loss=1
    [[ -z $delay || $delay =~ ^0+(\.0+)?(s|ms|us)?$ ]] || zero_delay=0
    [[ -z $loss || $loss =~ ^0+(\.0+)?%?$ ]] || zero_loss=0

    local qdisc=()
    if netem_available; then
        qdisc=(netem)
        [[ -n $delay ]] && qdisc+=(delay "$delay")
        [[ -n $loss ]] && qdisc+=(loss "$loss")
        [[ -n $rate ]] && qdisc+=(rate "$rate")
    elif [[ $zero_delay -eq 1 && $zero_loss -eq 1 && -n $rate ]]; then
        # No netem in this kernel: a token bucket shapes the rate alone.
        qdisc=(tbf rate "$rate" burst "$burst" latency 50ms)
    elif [[ $zero_delay -eq 1 && $zero_loss -eq 1 ]]; then
        note "nothing to shape (delay and loss are zero and no rate given)"
        return 0
    else
        die "this kernel has no netem qdisc (sch_netem), so delay and loss cannot be simulated; only \`rate\` works (with tbf)"
    fi
    local ns veth
    ns=$(ns_of "$i"); veth=$(veth_of "$i")
    remove_shaping "$i"
    # Both directions of node i's link: into the node (root end of the veth) and out of it (eth0).
    create "qdisc - $veth" tc qdisc add dev "$veth" root "${qdisc[@]}"
    create "qdisc $ns eth0" ip netns exec "$ns" tc qdisc add dev eth0 root "${qdisc[@]}"
    echo "local-cluster: node$i link shaped both ways: ${qdisc[*]}"
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
