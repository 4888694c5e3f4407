#!/usr/bin/env bash
# A private one-machine SLURM cluster for testing Cluster/ddptrain.slurm: its own munged (own key
# and socket), slurmctld and slurmd, on 127.0.0.1 only, with all configuration, state, spool and
# logs under one directory of its own. No systemd, no cgroups (proctrack/linuxproc, task/none),
# no accounting database. It does not touch /etc/slurm, /etc/munge or any system daemon.
#
#   Cluster/testing/local-slurm.sh up          start munged, slurmctld and slurmd; wait until the node is idle
#   Cluster/testing/local-slurm.sh status      daemons, node and queue; exit 0 when up and healthy
#   Cluster/testing/local-slurm.sh env         print `export SLURM_CONF=…` for sbatch/srun/squeue/scontrol
#   Cluster/testing/local-slurm.sh run CMD…    run CMD with SLURM_CONF set (e.g. `run sbatch job.slurm`)
#   Cluster/testing/local-slurm.sh down        cancel the jobs, stop the daemons, remove exactly what `up` made
#
# Settings (environment): DDPT_SLURM_DIR (default /tmp/ddpt-slurm), DDPT_SLURM_PORT (slurmctld's
# port, default 16817; slurmd uses the next one), DDPT_SLURM_CPUS (CPUs of the node, default the
# machine's; more than the machine has is allowed, SlurmdParameters=config_overrides).
# The node is named after this machine (`hostname -s`; address 127.0.0.1), the partition is
# `ddpt` (the default partition, no time limit).
#
# Made for tests: a requeued job may start again after ~6 s (cred_expire=5, the default 120 s
# would hold it that long), the schedulers run every 1–2 s, KillWait is 10 s.
#
# Everything `up` creates is recorded, as it is created, in $DDPT_SLURM_DIR/created (directories,
# files, daemon pids with their start times); `down` removes exactly those, newest first, and
# nothing else, and finishes even when interrupted. A failed or interrupted `up` removes what it
# had created. Job processes left behind by a slurmd that died are found by slurmstepd processes
# with a file under $DDPT_SLURM_DIR open (each keeps slurmd's log open) and their descendants.
#
# Exit status: 0 success, 1 error, 2 usage, 3 this machine cannot host the cluster (not root, or
# SLURM/MUNGE not installed: apt-get install -y slurm-wlm munge) — tests skip on 3.
set -euo pipefail

readonly DIR=${DDPT_SLURM_DIR:-/tmp/ddpt-slurm}
readonly CREATED=$DIR/created
readonly CONF=$DIR/etc/slurm.conf
readonly SOCKET=$DIR/munge-socket/munge.socket
# The node is named after this machine (as on a real cluster, where the batch shell runs on the
# allocation's first node): Open MPI's mpirun then knows the node is its own and starts the ranks
# itself, rather than through srun and an orted.
NODE=$(hostname -s 2>/dev/null || true)
NODE_HOST=$NODE
[[ $NODE =~ ^[A-Za-z][A-Za-z0-9-]*$ ]] || { NODE=ddpt-n1; NODE_HOST=localhost; }
readonly NODE NODE_HOST
readonly PARTITION=ddpt
readonly PORT=${DDPT_SLURM_PORT:-16817}

note() { echo "local-slurm: $*" >&2; }
unsupported() { echo "local-slurm: cannot host a private SLURM cluster here: $*" >&2; exit 3; }
usage() { sed -n '7,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

# --- records ----------------------------------------------------------------------------------

record() { echo "$*" >>"$CREATED"; }
start_time() { # field 22 of /proc/PID/stat (clock ticks after boot): tells a reused pid apart
    local stat fields
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    read -r -a fields <<<"${stat##*) }"       # fields from the state (field 3) on
    echo "${fields[19]}"
}
alive() { # alive PID START: the very process we started is still there (and not a zombie)
    local now state
    now=$(start_time "$1") || return 1
    [[ $now == "$2" ]] || return 1
    state=$(awk '{ s = $0; sub(/^.*\) /, "", s); split(s, f, " "); print f[1] }' "/proc/$1/stat" 2>/dev/null)
    [[ $state != Z ]]
}

# --- up ---------------------------------------------------------------------------------------

check_machine() {
    [[ $(id -u) -eq 0 ]] || unsupported "must run as root (slurmd starts jobs as their users; this test cluster runs every daemon as root)"
    local missing=() c
    for c in munged munge unmunge slurmctld slurmd slurmstepd sbatch srun scontrol scancel squeue sinfo; do
        command -v "$c" >/dev/null 2>&1 || missing+=("$c")
    done
    [[ ${#missing[@]} -eq 0 ]] || unsupported "missing ${missing[*]} (apt-get install -y slurm-wlm munge)"
    local plugins
    for plugins in /usr/lib/x86_64-linux-gnu/slurm-wlm /usr/lib/aarch64-linux-gnu/slurm-wlm /usr/lib64/slurm /usr/lib/slurm /usr/local/lib/slurm; do
        [[ -e $plugins/proctrack_linuxproc.so ]] && return 0
    done
    unsupported "no SLURM plugin directory with proctrack_linuxproc.so found (apt-get install -y slurm-wlm-basic-plugins)"
}

port_in_use() { ss -Hltn 2>/dev/null | awk '{ print $4 }' | grep -qE ":$1\$"; }

# mkdir that records the directory (first, so an interruption cannot leak it)
make_dir() {
    [[ -e $1 ]] && { note "$1 exists already: not ours, refusing to use it"; return 1; }
    record "dir $1"
    mkdir -m "${2:-755}" "$1"
}

# start_daemon NAME LOGFILE COMMAND…: runs COMMAND in the foreground mode of the daemon, in a
# session of its own, detached from our standard streams, and records its pid at once.
start_daemon() {
    local name=$1 log=$2 pid start; shift 2
    record "file $log"
    (
        # Close every descriptor inherited from the caller: a daemon holding one open would keep
        # a caller that waits for EOF (a pipe, or Foundation's Process, which watches a socket
        # its child inherits) waiting until `down`.
        for fd in /proc/"$BASHPID"/fd/*; do
            fd=${fd##*/}
            [[ $fd -gt 2 ]] && eval "exec $fd>&-" 2>/dev/null
        done
        SLURM_CONF=$CONF exec setsid "$@"
    ) </dev/null >>"$log" 2>&1 &
    pid=$!
    start=$(start_time "$pid") || start=gone
    record "pid $pid $start $name"
    [[ $start != gone ]] || { note "$name exited at once:"; cat "$log" >&2; return 1; }
}

wait_for() { # wait_for SECONDS WHAT COMMAND…
    local seconds=$1 what=$2 deadline; shift 2
    deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        if [[ $SECONDS -ge $deadline ]]; then note "gave up after ${seconds} s waiting for $what"; return 1; fi
        sleep 0.2
    done
}

munge_works() { munge -S "$SOCKET" -n | unmunge -S "$SOCKET"; }
controller_up() { SLURM_CONF=$CONF scontrol ping | grep -q "is UP"; }
node_idle() { [[ $(SLURM_CONF=$CONF sinfo -h -n "$NODE" -o %t) == idle ]]; }

write_config() {
    local cpus=$1 plugin_dir=$2
    record "file $DIR/etc/plugstack.conf"
    : >"$DIR/etc/plugstack.conf"
    record "file $CONF"
    cat >"$CONF" <<EOF
# Written by Cluster/testing/local-slurm.sh up: a private one-node test cluster on 127.0.0.1.
ClusterName=ddpt
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# Our own munged. cred_expire is also how long a requeued job waits before it may start again.
AuthInfo=socket=$SOCKET,cred_expire=5
# Bind to the configured addresses (127.0.0.1), not to every interface.
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
PluginDir=$plugin_dir
PlugStackConfig=$DIR/etc/plugstack.conf
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=1,sched_interval=2
ReturnToService=2
KillWait=10
MinJobAge=600
SlurmdParameters=config_overrides
NodeName=$NODE NodeHostname=$NODE_HOST NodeAddr=127.0.0.1 CPUs=$cpus Sockets=1 CoresPerSocket=$cpus ThreadsPerCore=1 State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
}

cmd_up() {
    check_machine
    local cpus=${DDPT_SLURM_CPUS:-$(nproc)}
    [[ $cpus =~ ^[1-9][0-9]*$ ]] || { note "DDPT_SLURM_CPUS must be a positive number"; exit 1; }
    if [[ -f $CREATED ]]; then
        note "a private SLURM cluster is already up (or was left behind) in $DIR; run \`$0 down\` first"; exit 1
    fi
    local p
    for p in "$PORT" "$((PORT + 1))"; do
        if port_in_use "$p"; then note "port $p is in use (another SLURM?); set DDPT_SLURM_PORT"; exit 1; fi
    done
    local plugin_dir
    plugin_dir=$(for d in /usr/lib/x86_64-linux-gnu/slurm-wlm /usr/lib/aarch64-linux-gnu/slurm-wlm /usr/lib64/slurm /usr/lib/slurm /usr/local/lib/slurm; do
        [[ -e $d/proctrack_linuxproc.so ]] && { echo "$d"; break; }; done)

    # From here on, a failure or an interruption removes what was made so far.
    trap 'note "interrupted: removing what up created"; teardown; exit 130' INT
    trap 'note "terminated: removing what up created"; teardown; exit 143' TERM
    trap 'note "hung up: removing what up created"; teardown; exit 129' HUP
    if ! up_steps "$cpus" "$plugin_dir"; then
        note "up failed; the logs were:"
        local f
        for f in "$DIR"/log/*.log "$DIR"/log/*.out; do [[ -f $f ]] && { echo "== $f" >&2; tail -n 15 "$f" >&2; }; done
        teardown
        exit 1
    fi
    trap - INT TERM HUP
    local started=$((SECONDS))
    echo "local-slurm: up in ${started} s: node $NODE ($cpus CPUs) in partition $PARTITION on 127.0.0.1:$PORT; state in $DIR"
    echo "export SLURM_CONF=$CONF"
}

up_steps() {
    local cpus=$1 plugin_dir=$2
    if [[ -e $DIR ]]; then
        [[ -d $DIR ]] || { note "$DIR exists and is not a directory"; return 1; }
        : >>"$CREATED" || return 1          # DIR is not ours: only what we make inside it is recorded
        echo "file $CREATED" >"$CREATED"
    else
        mkdir -m 755 "$DIR" || return 1
        echo "dir $DIR" >"$CREATED"          # the record file lives in DIR and goes with it
    fi
    local d
    for d in etc state spool log run; do make_dir "$DIR/$d" || return 1; done
    make_dir "$DIR/munge" 700 || return 1
    make_dir "$DIR/munge-socket" 755 || return 1

    record "file $DIR/munge/munge.key"
    (umask 077; head -c 1024 /dev/urandom >"$DIR/munge/munge.key") || return 1
    chmod 400 "$DIR/munge/munge.key"
    record "file $DIR/munge/munged.seed"; record "file $DIR/munge/munged.pid"; record "file $DIR/munge/munged.log"
    record "file $SOCKET"; record "file $SOCKET.lock"
    start_daemon munged "$DIR/log/munged.out" munged --foreground --socket="$SOCKET" \
        --key-file="$DIR/munge/munge.key" --pid-file="$DIR/munge/munged.pid" \
        --log-file="$DIR/munge/munged.log" --seed-file="$DIR/munge/munged.seed" || return 1
    wait_for 15 "munged to answer on $SOCKET" munge_works || return 1

    write_config "$cpus" "$plugin_dir" || return 1
    start_daemon slurmctld "$DIR/log/slurmctld.out" slurmctld -D -f "$CONF" || return 1
    wait_for 30 "slurmctld (scontrol ping)" controller_up || return 1
    start_daemon slurmd "$DIR/log/slurmd.out" slurmd -D -N "$NODE" -f "$CONF" || return 1
    wait_for 30 "node $NODE to become idle" node_idle || return 1
}

# --- down -------------------------------------------------------------------------------------

# Job step daemons of this cluster left behind when slurmd died or was killed: slurmstepd
# processes (by executable) that hold a file under $DIR open (each keeps slurmd's log open).
# The job processes below them are found as their descendants.
stray_stepds() {
    local stepd pid link
    stepd=$(readlink -f "$(command -v slurmstepd)") || return 0
    for pid in /proc/[0-9]*; do
        pid=${pid#/proc/}
        [[ $(readlink -f "/proc/$pid/exe" 2>/dev/null) == "$stepd" ]] || continue
        for link in "/proc/$pid"/fd/*; do
            link=$(readlink "$link" 2>/dev/null) || continue
            if [[ $link == "$DIR"/* ]]; then echo "$pid"; break; fi
        done
    done
}
descendants() { # the pids below the given ones (children, grandchildren, …)
    local roots=("$@") p stat fields f c
    local -A children=()
    for p in /proc/[0-9]*; do
        p=${p#/proc/}
        stat=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        read -r -a fields <<<"${stat##*) }"       # state, parent, …
        children[${fields[1]}]+=" $p"
    done
    local frontier=("${roots[@]}") next
    while [[ ${#frontier[@]} -gt 0 ]]; do
        next=()
        for f in "${frontier[@]}"; do
            for c in ${children[$f]:-}; do next+=("$c"); echo "$c"; done
        done
        frontier=("${next[@]}")
    done
}
ancestors() { # this process and every process above it
    local p=$$ stat fields
    while [[ $p -gt 1 ]]; do
        echo "$p"
        stat=$(cat "/proc/$p/stat" 2>/dev/null) || return 0
        read -r -a fields <<<"${stat##*) }"
        p=${fields[1]}
    done
}

stop_pid() { # stop_pid PID START NAME: SIGTERM, then SIGKILL after 10 s
    local pid=$1 start=$2 name=$3 i
    alive "$pid" "$start" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do alive "$pid" "$start" || return 0; sleep 0.1; done
    note "$name ($pid) did not stop within 10 s of SIGTERM; SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do alive "$pid" "$start" || return 0; sleep 0.1; done
}

teardown() {
    [[ -f $CREATED ]] || return 0
    local ctld_alive=false
    # 1. Jobs: cancel them while slurmctld and slurmd still run, so SLURM ends their processes.
    if [[ -f $CONF ]] && awk '$1 == "pid" && $4 == "slurmctld"' "$CREATED" | grep -q . ; then
        local pid start name
        read -r _ pid start name < <(awk '$1 == "pid" && $4 == "slurmctld"' "$CREATED" | tail -n 1)
        alive "$pid" "$start" && ctld_alive=true
    fi
    if $ctld_alive; then
        local jobs
        jobs=$(SLURM_CONF=$CONF timeout 10 squeue -h -o %i 2>/dev/null | tr '\n' ' ') || jobs=""
        if [[ -n ${jobs// /} ]]; then
            note "cancelling job(s) $jobs"
            # shellcheck disable=SC2086
            SLURM_CONF=$CONF timeout 10 scancel $jobs 2>/dev/null || true
            local deadline=$((SECONDS + 25))
            while [[ $SECONDS -lt $deadline ]] &&
                  [[ -n $(SLURM_CONF=$CONF timeout 10 squeue -h -t PD,R,CG,S,CF,RQ,RS,SO,ST -o %i 2>/dev/null) ]]; do
                sleep 0.2
            done
        fi
    fi
    # 2. Daemons, newest first (slurmd, slurmctld, munged).
    local kind a b c
    while read -r kind a b c; do
        [[ $kind == pid ]] && stop_pid "$a" "$b" "$c"
    done < <(tac "$CREATED")
    # 3. Leftovers of jobs (only if a daemon died or was killed mid-job): slurmstepd processes
    #    and everything below them.
    local left=()
    mapfile -t left < <(stray_stepds)
    if [[ ${#left[@]} -gt 0 ]]; then
        local all=() mine=() p
        mapfile -t mine < <(ancestors)
        # Never this script or anything above it, never pid 1.
        for p in $(printf '%s\n' "${left[@]}"; descendants "${left[@]}"); do
            [[ $p -gt 1 ]] && ! printf '%s\n' "${mine[@]}" | grep -qxF "$p" && all+=("$p")
        done
        if [[ ${#all[@]} -gt 0 ]]; then
            note "killing ${#all[@]} process(es) left by the cluster's jobs (slurmstepd ${left[*]} and below): ${all[*]}"
            kill -KILL "${all[@]}" 2>/dev/null || true
        fi
    fi
    # 4. Files and directories, newest first. The record goes last (it may live in DIR).
    while read -r kind a b c; do
        case $kind in
            file) [[ $a == "$CREATED" ]] || rm -f -- "$a" ;;
            dir) [[ $a == "$DIR" ]] || rm -rf -- "$a" ;;
        esac
    done < <(tac "$CREATED")
    if grep -qxF "dir $DIR" "$CREATED"; then
        rm -f -- "$CREATED"; rmdir -- "$DIR" 2>/dev/null || note "$DIR is not empty (files not made by up are left)"
    else
        rm -f -- "$CREATED"
    fi
}

cmd_down() {
    if [[ ! -f $CREATED ]]; then note "nothing to take down ($CREATED does not exist)"; return 0; fi
    # Finish even when interrupted: a half-done down would leave daemons or files behind.
    trap 'note "signal ignored: finishing down"' INT TERM HUP
    teardown
    trap - INT TERM HUP
    echo "local-slurm: down"
}

# --- status, env, run -------------------------------------------------------------------------

cmd_status() {
    if [[ ! -f $CREATED ]]; then echo "local-slurm: not up ($CREATED does not exist)"; return 1; fi
    local healthy=0 kind pid start name
    while read -r kind pid start name; do
        [[ $kind == pid ]] || continue
        if alive "$pid" "$start"; then echo "$name: running (pid $pid)"; else echo "$name: NOT running (pid $pid)"; healthy=1; fi
    done <"$CREATED"
    echo "export SLURM_CONF=$CONF"
    if [[ -f $CONF ]]; then
        SLURM_CONF=$CONF timeout 10 sinfo -N -o '%N %P %t %c' 2>&1 || healthy=1
        SLURM_CONF=$CONF timeout 10 squeue -o '%i %j %T %r %M %l %R' 2>&1 || healthy=1
    fi
    return $healthy
}

case ${1:-} in
    up) [[ $# -eq 1 ]] || usage; cmd_up ;;
    down) [[ $# -eq 1 ]] || usage; cmd_down ;;
    status) [[ $# -eq 1 ]] || usage; cmd_status ;;
    env) [[ $# -eq 1 ]] || usage; echo "export SLURM_CONF=$CONF" ;;
    run) shift; [[ ${1:-} == -- ]] && shift; [[ $# -ge 1 ]] || usage; SLURM_CONF=$CONF exec "$@" ;;
    *) usage ;;
esac
