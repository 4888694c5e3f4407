#!/usr/bin/env bash
# Reruns a training command after a failure, resuming from its last checkpoint.
#
#   Scripts/supervise.sh [--max-restarts R] [--backoff SECONDS] [--hang-grace SECONDS] [--start-timeout SECONDS] \
#       -- mpirun -np 2 .build/release/ddptrain train … --run-dir DIR
#
# The command runs; if it fails (a rank died, the watchdog fired, a node was lost), the
# supervisor waits (SECONDS, doubling each time, at most 5 minutes), logs the restart, and runs it
# again with `--resume auto` added (if the command does not already say how to resume), so
# training continues from the newest valid checkpoint in the run directory. Statuses a restart
# cannot help end the supervisor at once with the same status: 75 (stopped by a signal on
# purpose), 64 (bad command line) and 65 (bad input files); see Docs/cli.md. After R restarts
# (default 3) it gives up with a message and the command's last exit status. SIGTERM or SIGINT
# to the supervisor is passed to the command, and no restart follows. Note that mpirun (Open MPI
# 4) answers SIGTERM by signalling the ranks and killing them a second later, which is usually too
# short for a checkpoint: for a graceful stop, signal the rank processes themselves (as SLURM does).
#
# The supervisor follows the run through its events file (`ddptrain train --events FILE`, JSON
# lines; Docs/cli.md), not through the wording of its messages: when the command has no
# `--events`, it is given one in a temporary file (every application of an MPMD command line
# gets it). Rank 0 and any aborting rank write it, so it must be on a file system this machine
# sees (the local one, or a shared one across nodes).
#
# --hang-grace (default 30 s): when the job was aborted (an `aborted` event: a rank's error or
# its `--step-timeout` watchdog; or Open MPI's own "the job has been aborted") but the command
# has not exited that many seconds later, the supervisor kills it and treats it as a failure.
# Open MPI's mpirun can wait forever for the daemon of a node that was cut off from the network
# even after the job aborted.
#
# --start-timeout (default 300 s, 0 = none): a launch without a `started` event (rank 0 writes it
# once every rank is up and the data is loaded) that many seconds after it began is killed and
# treated as a failure. Open MPI's launch waits without end or message for a node that does not
# answer, so without this a restart onto a dead node hangs.
#
# Killing a command kills its whole process tree (mpirun, a wrapper such as
# Cluster/testing/local-cluster.sh, and whatever they started on this machine).
set -uo pipefail

max_restarts=3
backoff=5
hang_grace=30
start_timeout=300
while [ $# -gt 0 ]; do
  case "$1" in
    --max-restarts) max_restarts="$2"; shift 2 ;;
    --backoff) backoff="$2"; shift 2 ;;
    --hang-grace) hang_grace="$2"; shift 2 ;;
    --start-timeout) start_timeout="$2"; shift 2 ;;
    --) shift; break ;;
    *) break ;;
  esac
done
if [ $# -eq 0 ]; then
  echo "usage: Scripts/supervise.sh [--max-restarts R] [--backoff SECONDS] [--hang-grace SECONDS] [--start-timeout SECONDS] -- COMMAND…" >&2
  exit 2
fi
case "$max_restarts" in ''|*[!0-9]*) echo "supervise: --max-restarts must be a whole number, got '$max_restarts'" >&2; exit 2 ;; esac
case "$backoff" in ''|*[!0-9]*) echo "supervise: --backoff must be a whole number of seconds, got '$backoff'" >&2; exit 2 ;; esac
case "$hang_grace" in ''|*[!0-9]*) echo "supervise: --hang-grace must be a whole number of seconds, got '$hang_grace'" >&2; exit 2 ;; esac
case "$start_timeout" in ''|*[!0-9]*) echo "supervise: --start-timeout must be a whole number of seconds (0 for none), got '$start_timeout'" >&2; exit 2 ;; esac
log=$(mktemp /tmp/supervise.XXXXXX)
events=""
trap 'rm -f "$log" ${own_events:+"$own_events"}' EXIT

command=("$@")
resume_given=false
previous=""
for arg in "${command[@]}"; do
  [ "$arg" = "--resume" ] && resume_given=true
  [ "$previous" = "--events" ] && events="$arg"
  case "$arg" in --events=*) events="${arg#--events=}" ;; esac
  previous="$arg"
done
# Adds "$@" to every application of an MPMD command line (sections separated by ':').
add_to_command() {
  local added=() arg
  for arg in "${command[@]}"; do
    [ "$arg" = ":" ] && added+=("$@")
    added+=("$arg")
  done
  command=("${added[@]}" "$@")
}
own_events=""
if [ -z "$events" ]; then
  own_events=$(mktemp /tmp/supervise-events.XXXXXX)
  events="$own_events"
  add_to_command --events "$events"
fi
# Whether an event of kind $1 was written after line $2 of the events file.
event_since() { tail -n +"$(( $2 + 1 ))" "$events" 2>/dev/null | grep -q "^{\"event\":\"$1\""; }

# The process tree under $1, children before their parents are listed (all of it is killed at once).
descendants() {
  local kid
  for kid in $(pgrep -P "$1" 2>/dev/null); do
    descendants "$kid"
    echo "$kid"
  done
}
kill_tree() {
  local pids
  pids=$(descendants "$1")
  # shellcheck disable=SC2086  # a list of pids
  kill -KILL "$1" $pids 2>/dev/null
}

child=0
stopping=false
forward() { stopping=true; [ "$child" -ne 0 ] && kill -TERM "$child" 2>/dev/null; }
trap forward TERM INT

attempt=0
delay="$backoff"
while true; do
  : > "$log"
  seen=$(wc -l < "$events" 2>/dev/null || echo 0)
  "${command[@]}" > >(tee -a "$log") 2> >(tee -a "$log" >&2) &
  child=$!
  launched_at=$(date +%s)
  aborted_at=0
  started=false
  while kill -0 "$child" 2>/dev/null; do
    sleep 1
    if ! $started && event_since started "$seen"; then
      started=true
    fi
    if ! $started && [ "$start_timeout" -gt 0 ] && [ $(( $(date +%s) - launched_at )) -ge "$start_timeout" ] && kill -0 "$child" 2>/dev/null; then
      echo "supervise: the command has not started training after ${start_timeout} s (--start-timeout; a launch waiting for an unreachable node?); killing it" >&2
      kill_tree "$child"
    fi
    if [ "$aborted_at" -eq 0 ] && { event_since aborted "$seen" || grep -q "has been aborted" "$log" 2>/dev/null; }; then
      aborted_at=$(date +%s)
    fi
    if [ "$aborted_at" -ne 0 ] && [ $(( $(date +%s) - aborted_at )) -ge "$hang_grace" ] && kill -0 "$child" 2>/dev/null; then
      echo "supervise: the job was aborted but the command is still running after ${hang_grace} s (mpirun waiting for an unreachable node?); killing it" >&2
      kill_tree "$child"
    fi
  done
  wait "$child"
  status=$?
  child=0
  if [ "$status" -eq 0 ]; then
    [ "$attempt" -gt 0 ] && echo "supervise: the command succeeded after $attempt restart(s)"
    exit 0
  fi
  if $stopping; then
    echo "supervise: stopped by a signal (status $status); not restarting"
    exit "$status"
  fi
  # ddptrain's exit statuses (Docs/cli.md): 75 = the run was stopped on purpose by a signal (after
  # a checkpoint), 64 = the command line cannot run as given, 65 = an input file is wrong. A
  # restart cannot help any of them.
  case "$status" in
    75) echo "supervise: the run was stopped by a signal sent to it (status 75); not restarting"; exit "$status" ;;
    64|65) echo "supervise: the command was refused (status $status: fix the flags or the input files); not restarting" >&2; exit "$status" ;;
  esac
  if [ "$attempt" -ge "$max_restarts" ]; then
    echo "supervise: giving up after $attempt restart(s); the command's last exit status was $status" >&2
    exit "$status"
  fi
  attempt=$((attempt + 1))
  if ! $resume_given; then
    add_to_command --resume auto
    resume_given=true
  fi
  echo "supervise: the command failed with status $status; restart $attempt of $max_restarts in ${delay} s with --resume auto"
  sleep "$delay" &
  wait $! || true
  $stopping && { echo "supervise: stopped by a signal while waiting; not restarting"; exit "$status"; }
  delay=$((delay * 2)); [ "$delay" -gt 300 ] && delay=300
done
