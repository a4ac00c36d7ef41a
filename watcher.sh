#!/usr/bin/env bash
# watcher.sh: run an MPI job on the hosts that are alive, and relaunch it on the ones that remain
# when a host dies mid-job.
#
#   ./watcher.sh -f HOSTFILE [-p PROBE] [-r MAX_RESTARTS] [-i INTERVAL] -- COMMAND [ARGS...]
#
#   -f HOSTFILE      Open MPI hostfile (`host slots=N` lines; comments and blank lines allowed)
#   -p PROBE         command with {host} in it; exit 0 means the host is usable
#                    (default: ssh -o BatchMode=yes -o ConnectTimeout=5 {host} true)
#   -r MAX_RESTARTS  relaunches allowed after a host is lost (default 3)
#   -i INTERVAL      seconds between probes while deciding and before a relaunch (default 3)
#   MPIRUN_ARGS      environment variable: extra mpirun options, split on spaces
#   MPIRUN           environment variable: the mpirun to call (default: mpirun)
#
# What it does: probe every host, write the live ones to a pruned hostfile (HOSTFILE.live), run
# `mpirun -hostfile HOSTFILE.live $MPIRUN_ARGS COMMAND ARGS...`, and keep probing every INTERVAL
# while it runs: a host that stops answering stops mpirun at once (Open MPI alone may take
# minutes to notice a host that died without closing its connections) and the job is relaunched.
# When mpirun fails by itself, probe again (up to 3 rounds, INTERVAL apart, since a dead host can
# take a moment to stop answering):
#   - a host stopped answering, or mpirun said it lost a daemon: relaunch on the live hosts;
#   - every host answers and mpirun lost nothing: the job itself failed (a bad image, a usage
#     error); relaunching would fail again, so stop with mpirun's exit code.
# imgproc batches keep a journal beside their outputs, so a relaunched batch skips finished images.
# Every decision is logged on stderr as `watcher: <UTC time> <event> ...`; the events are start,
# probe, launch, exit, lost, relaunch, done, give-up.
#
# Exit status: 0 the job succeeded; mpirun's own code when it failed without losing a host;
# 2 usage error; 4 no usable host left; 5 hosts kept failing after MAX_RESTARTS relaunches.
set -uo pipefail

usage() {
  sed -n '4,13p' "$0" >&2
  exit 2
}

log() {
  printf 'watcher: %s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" "$*" >&2
}

hostfile=
probe='ssh -o BatchMode=yes -o ConnectTimeout=5 {host} true'
max_restarts=3
interval=3
while getopts 'f:p:r:i:h' opt; do
  case $opt in
    f) hostfile=$OPTARG ;;
    p) probe=$OPTARG ;;
    r) max_restarts=$OPTARG ;;
    i) interval=$OPTARG ;;
    *) usage ;;
  esac
done
shift $((OPTIND - 1))
[ "${1:-}" = "--" ] && shift
if [ -z "$hostfile" ] || [ $# -eq 0 ]; then
  usage
fi
[ -r "$hostfile" ] || { log "give-up cannot read hostfile $hostfile"; exit 2; }
case $probe in *'{host}'*) ;; *) log "give-up the probe must contain {host}: $probe"; exit 2 ;; esac
[[ $max_restarts =~ ^[0-9]+$ ]] || usage
[[ $interval =~ ^[0-9]+([.][0-9]+)?$ ]] || usage

mpirun_cmd=${MPIRUN:-mpirun}
# Open MPI notices a silently dead host only through TCP keepalives, after 8 minutes by default;
# make it seconds (unless the caller chose). The watcher's own probes usually act first.
export OMPI_MCA_oob_tcp_keepalive_time=${OMPI_MCA_oob_tcp_keepalive_time:-10}
export OMPI_MCA_oob_tcp_keepalive_intvl=${OMPI_MCA_oob_tcp_keepalive_intvl:-2}
export OMPI_MCA_oob_tcp_keepalive_probes=${OMPI_MCA_oob_tcp_keepalive_probes:-3}
read -r -a extra_args <<<"${MPIRUN_ARGS:-}"
live_file=$hostfile.live
mpirun_log=$(mktemp)
trap 'rm -f "$mpirun_log"' EXIT

# Host lines of the hostfile, comments and blanks dropped.
mapfile -t all_lines < <(sed -e 's/#.*//' -e 's/^[[:space:]]*//' -e '/^[[:space:]]*$/d' "$hostfile")
[ ${#all_lines[@]} -gt 0 ] || { log "give-up no host in $hostfile"; exit 4; }

# probe_hosts: fills live_lines and live_hosts with the hosts that answer.
probe_hosts() {
  live_lines=()
  live_hosts=()
  local line host cmd
  for line in "${all_lines[@]}"; do
    host=${line%%[[:space:]]*}
    cmd=${probe//\{host\}/$host}
    if timeout 20 sh -c "$cmd" </dev/null >/dev/null 2>&1; then
      live_lines+=("$line")
      live_hosts+=("$host")
    else
      dead+=("$host")
    fi
  done
}

log "start hosts=${#all_lines[@]} probe='$probe' max_restarts=$max_restarts command='$*'"
restarts=0
while true; do
  dead=()
  probe_hosts
  log "probe live=${#live_hosts[@]} [${live_hosts[*]}] dead=${#dead[@]} [${dead[*]}]"
  if [ ${#live_hosts[@]} -eq 0 ]; then
    log "give-up no usable host left"
    exit 4
  fi
  printf '%s\n' "${live_lines[@]}" >"$live_file"
  launched=${#live_hosts[@]}
  log "launch attempt=$((restarts + 1)) hosts=$launched hostfile=$live_file"
  # Its own process group, so stopping it also stops the ranks and daemons it started here.
  setsid "$mpirun_cmd" -hostfile "$live_file" "${extra_args[@]}" "$@" 2> >(tee "$mpirun_log" >&2) &
  mpirun_pid=$!
  # While the job runs, probe every INTERVAL: a host that stops answering stops the job at once,
  # instead of waiting for Open MPI's TCP timeouts to notice a host that died silently.
  lost=false
  while kill -0 "$mpirun_pid" 2>/dev/null; do
    ticks=$(awk -v i="$interval" 'BEGIN { print int(i * 10) }')
    for ((t = 0; t < ticks; t++)); do
      kill -0 "$mpirun_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "$mpirun_pid" 2>/dev/null || break
    dead=()
    probe_hosts
    if [ ${#live_hosts[@]} -lt "$launched" ] && kill -0 "$mpirun_pid" 2>/dev/null; then
      lost=true
      log "lost hosts=[${dead[*]}] remaining=${#live_hosts[@]} while the job runs: stopping mpirun"
      kill -TERM -- "-$mpirun_pid" 2>/dev/null
      for ((t = 0; t < 30; t++)); do
        kill -0 "$mpirun_pid" 2>/dev/null || break
        sleep 0.1
      done
      # mpirun may wait on the dead host's daemon: nothing is lost by not waiting (the journal).
      kill -KILL -- "-$mpirun_pid" 2>/dev/null
      break
    fi
  done
  wait "$mpirun_pid"
  code=$?
  wait # the tee above
  if [ $code -eq 0 ]; then
    log "done mpirun exited 0"
    exit 0
  fi
  log "exit mpirun exited $code"

  # Was a host lost? mpirun's own words, then the probes.
  lost_daemon=false
  if grep -qiE 'lost communication|daemon .*(failed|died)|unexpectedly failed|ORTE has lost|unable to reliably start|terminated by signal 9' "$mpirun_log"; then
    lost_daemon=true
  fi
  if ! $lost; then
    for round in 1 2 3; do
      dead=()
      probe_hosts
      if [ ${#live_hosts[@]} -lt "$launched" ]; then
        lost=true
        log "lost hosts=[${dead[*]}] remaining=${#live_hosts[@]}"
        break
      fi
      if [ $round -lt 3 ]; then
        sleep "$interval"
      fi
    done
  fi
  if ! $lost && ! $lost_daemon; then
    log "give-up every host answers and mpirun lost no daemon: the job failed by itself (exit $code)"
    exit "$code"
  fi
  if ! $lost; then
    log "lost a daemon, but every host answers: relaunching on all of them"
  fi
  if [ "$restarts" -ge "$max_restarts" ]; then
    log "give-up $restarts relaunch(es) already, the limit (-r $max_restarts)"
    exit 5
  fi
  restarts=$((restarts + 1))
  sleep "$interval"
  log "relaunch number=$restarts"
done
