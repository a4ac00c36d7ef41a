#!/usr/bin/env bash
# watcher.sh: run an MPI job on the hosts that are alive, and relaunch it when a host, a daemon or
# a rank dies abnormally mid-job.
#
#   ./watcher.sh -f HOSTFILE [-p PROBE] [-r MAX_RESTARTS] [-i INTERVAL] [-b BACKOFF] [-m MAX_BACKOFF] -- COMMAND [ARGS...]
#
#   -f HOSTFILE      Open MPI hostfile (`host slots=N` lines; comments and blank lines allowed)
#   -p PROBE         command with {host} in it; exit 0 means the host is usable
#                    (default: ssh -o BatchMode=yes -o ConnectTimeout=5 {host} true)
#   -r MAX_RESTARTS  relaunches allowed in all, whatever their cause (default 3)
#   -i INTERVAL      seconds between probes of the hosts while the job runs (default 3)
#   -b BACKOFF       seconds before the first relaunch; doubled before each next one (default 1)
#   -m MAX_BACKOFF   the longest wait before a relaunch (default 30)
#   MPIRUN_ARGS      environment variable: extra mpirun options, split on spaces
#   MPIRUN           environment variable: the mpirun to call (default: mpirun)
#
# What it does: probe every host, write the live ones to a pruned hostfile (HOSTFILE.live), run
# `mpirun -hostfile HOSTFILE.live $MPIRUN_ARGS COMMAND ARGS...` in a session of its own, and keep
# probing every INTERVAL while it runs: a host that stops answering stops mpirun at once (Open MPI
# alone may take minutes to notice a host that died without closing its connections). When mpirun
# ends, every process left in its session is killed, then its exit is judged:
#   - 0: done (also when imgproc ended the job for a rank that did not answer its shutdown once
#     the work was done: it does so with MPI_Abort and the job's own code);
#   - abnormal, so relaunch on the live hosts: a host stopped answering; mpirun lost a daemon; a
#     rank died of a signal (the OOM killer, a crash, kill -9: "mpirun noticed that process rank N
#     ... exited on signal S"); MPI aborted on a broken connection; any exit code other than
#     imgproc's own;
#   - the job failed by itself, so stop with its code: imgproc's documented exits 1 (images
#     failed), 2 (usage), 3 (cannot start), 130 (interrupted, also a rank killed by SIGINT), or
#     mpirun could not launch the program at all; relaunching would fail the same way.
# A relaunch waits BACKOFF, 2×BACKOFF, 4×BACKOFF... (at most MAX_BACKOFF) and at most MAX_RESTARTS
# happen. SIGINT or SIGTERM to the watcher is passed to mpirun and its ranks, and the watcher stops
# without relaunching (exit 130 or 143). imgproc batches keep a journal beside their outputs, so a
# relaunched batch skips finished images; a one-image job is redone; the GUI reopens its job.
# Every decision is logged on stderr as `watcher: <UTC time> <event> ...`; the events are start,
# probe, launch, exit, lost, crash, reap, stop, backoff, relaunch, done, give-up.
#
# Exit status: 0 the job succeeded; the job's own code when it failed by itself (see above);
# 2 usage error; 4 no usable host left; 5 still failing after MAX_RESTARTS relaunches;
# 130/143 stopped by SIGINT/SIGTERM.
set -uo pipefail

usage() {
  sed -n '5,16p' "$0" >&2
  exit 2
}

log() {
  printf 'watcher: %s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" "$*" >&2
}

hostfile=
probe='ssh -o BatchMode=yes -o ConnectTimeout=5 {host} true'
max_restarts=3
interval=3
backoff=1
max_backoff=30
while getopts 'f:p:r:i:b:m:h' opt; do
  case $opt in
    f) hostfile=$OPTARG ;;
    p) probe=$OPTARG ;;
    r) max_restarts=$OPTARG ;;
    i) interval=$OPTARG ;;
    b) backoff=$OPTARG ;;
    m) max_backoff=$OPTARG ;;
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
for seconds in "$interval" "$backoff" "$max_backoff"; do
  [[ $seconds =~ ^[0-9]+([.][0-9]+)?$ ]] || usage
done

# imgproc's own exit codes (README): the job failed by itself and would fail again.
readonly OWN_EXITS=' 1 2 3 130 '
own_exit_meaning() {
  case $1 in
    1) echo "images failed" ;;
    2) echo "usage error" ;;
    3) echo "cannot start" ;;
    130) echo "interrupted" ;;
  esac
}

mpirun_cmd=${MPIRUN:-mpirun}
# Open MPI notices a silently dead host only through TCP keepalives, after 8 minutes by default;
# make it seconds (unless the caller chose). The watcher's own probes usually act first.
export OMPI_MCA_oob_tcp_keepalive_time=${OMPI_MCA_oob_tcp_keepalive_time:-10}
export OMPI_MCA_oob_tcp_keepalive_intvl=${OMPI_MCA_oob_tcp_keepalive_intvl:-2}
export OMPI_MCA_oob_tcp_keepalive_probes=${OMPI_MCA_oob_tcp_keepalive_probes:-3}
# When one rank dies, mpirun stops the others with SIGTERM and, by default, SIGKILL a second later on
# each host; the ranks of a job that is over have nothing to save (a batch's journal is written
# after each image), so kill at once: the relaunch comes about 2 s sooner on 3 hosts.
export OMPI_MCA_odls_base_sigkill_timeout=${OMPI_MCA_odls_base_sigkill_timeout:-0}
read -r -a extra_args <<<"${MPIRUN_ARGS:-}"
live_file=$hostfile.live
mpirun_log=$(mktemp)
mpirun_pid=
trap 'rm -f "$mpirun_log"' EXIT

# Host lines of the hostfile, comments and blanks dropped.
mapfile -t all_lines < <(sed -e 's/#.*//' -e 's/^[[:space:]]*//' -e '/^[[:space:]]*$/d' "$hostfile")
[ ${#all_lines[@]} -gt 0 ] || { log "give-up no host in $hostfile"; exit 4; }

# probe_hosts: fills live_lines and live_hosts with the hosts that answer, dead with the others.
probe_hosts() {
  live_lines=()
  live_hosts=()
  dead=()
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

running() {
  [ -n "$mpirun_pid" ] && kill -0 "$mpirun_pid" 2>/dev/null
}

# job_on: mpirun runs and the user has not asked to stop.
job_on() {
  running && [ -z "$stop_signal" ]
}

# session_pids: the processes left in mpirun's session. Open MPI puts each local rank in a
# process group of its own, so only the session (setsid below) holds mpirun and all its ranks.
# Zombies are left out: they are dead already (and a container's init may never reap them).
session_pids() {
  ps -e -o pid= -o sid= -o stat= | awk -v s="$mpirun_pid" '$2 == s && $1 != s && $3 !~ /^Z/ { print $1 }'
}

# signal_session SIG: SIG to mpirun and every process of its session.
signal_session() {
  local pids
  mapfile -t pids < <(session_pids)
  kill "-$1" "$mpirun_pid" "${pids[@]}" 2>/dev/null
}

# wait_gone TENTHS: wait up to TENTHS tenths of a second for mpirun to end.
wait_gone() {
  local t
  for ((t = 0; t < $1; t++)); do
    running || return 0
    sleep 0.1
  done
  ! running
}

# pause SECONDS: sleep, but let a trapped signal through at once.
pause() {
  sleep "$1" &
  wait $! 2>/dev/null
}

# SIGINT/SIGTERM: the user stops the job. Pass it on to mpirun and the ranks it started here (a
# rank may save its state, imgproc exits 130), then stop without relaunching.
stop_signal=
on_signal() {
  [ -n "$stop_signal" ] && return
  stop_signal=$1
  if running; then
    log "stop SIG$1 received: passing it to mpirun and its ranks; no relaunch"
    signal_session "$1"
  else
    log "stop SIG$1 received between launches; no relaunch"
  fi
}
trap 'on_signal INT' INT
trap 'on_signal TERM' TERM

stop_now() {
  local status=143 c
  [ "$stop_signal" = INT ] && status=130
  if [ -n "$mpirun_pid" ]; then
    if ! wait_gone 100; then
      log "stop mpirun still runs 10 s after SIG$stop_signal: killing its session"
      signal_session KILL
    fi
    wait "$mpirun_pid" 2>/dev/null
    c=$?
    [ $c -eq 127 ] || code=$c # 127: the main loop has already collected it
    reap_session
    log "stop mpirun ended (exit ${code:-unknown}); the watcher exits $status without relaunching"
  fi
  exit $status
}

# reap_session: ranks that outlive mpirun (it was killed, or it gave up on them) must not work
# beside a relaunched job: kill what is left in its session, a second after mpirun ended.
reap_session() {
  local left
  [ -n "$(session_pids)" ] || return 0
  sleep 1
  mapfile -t left < <(session_pids)
  [ ${#left[@]} -gt 0 ] || return 0
  log "reap ${#left[@]} process(es) left in mpirun's session:" \
    "$(ps -o pid= -o comm= -p "$(IFS=,; echo "${left[*]}")" | awk '{ printf "%s%s(%s)", sep, $1, $2; sep = " " }')"
  kill -KILL "${left[@]}" 2>/dev/null
}

# judge CODE: reads mpirun's output and sets verdict (relaunch, interrupted, cannot-launch, own)
# and why, the words for the log.
judge() {
  local code=$1 crash daemon
  # "mpirun noticed that process rank 2 with PID 8997 on node 10.213.47.13 exited on signal 9 (Killed)."
  crash=$(sed -n -E 's/.*process rank ([0-9]+) with PID [0-9]+ on node ([^ ]+) exited on signal ([0-9]+) \(([^)]*)\).*/rank=\1 host=\2 signal=\3 (\4)/p' "$mpirun_log" | head -1)
  # "ORTE has lost communication with a remote daemon. ... Remote daemon: [[61087,0],2] on node 10.213.47.13"
  daemon=$(sed -n -E 's/.*Remote daemon: *\[\[[0-9]+,[0-9]+\],([0-9]+)\] on node ([^ ]+).*/daemon=\1 host=\2/p' "$mpirun_log" | head -1)
  if grep -q 'did not answer the shutdown' "$mpirun_log" && [[ $OWN_EXITS == *" $code "* ]]; then
    # The work ended (imgproc says so) and a frozen rank was cut off with the job's own code.
    verdict=own why="the job ended by itself (exit $code: $(own_exit_meaning "$code")); a rank did not answer its shutdown"
  elif [ -n "$crash" ]; then
    case $crash in
      *' signal=2 '*) verdict=interrupted why="$crash exit=$code" ;;
      *) verdict=relaunch why="crash $crash exit=$code" ;;
    esac
  elif [ -n "$daemon" ]; then
    verdict=relaunch why="lost $daemon exit=$code"
  elif grep -qiE 'lost communication|daemon .*(failed|died)|unexpectedly failed|ORTE has lost|unable to reliably start|terminated by signal 9|noticed that the job aborted' "$mpirun_log"; then
    verdict=relaunch why="lost a daemon (mpirun's words) exit=$code"
  elif grep -qiE 'unexpectedly disconnected|MPI_ERRORS_ARE_FATAL|MPI_ABORT was invoked' "$mpirun_log"; then
    verdict=relaunch why="crash MPI aborted on a broken connection exit=$code"
  elif grep -qiE 'unable to launch the specified application|could not access or execute|not find an executable' "$mpirun_log"; then
    verdict=cannot-launch why="mpirun could not launch the program (exit $code)"
  elif [[ $OWN_EXITS == *" $code "* ]]; then
    verdict=own why="the job failed by itself (exit $code: $(own_exit_meaning "$code"))"
  else
    verdict=relaunch why="crash abnormal exit=$code (not one of imgproc's codes 1, 2, 3, 130)"
  fi
}

log "start hosts=${#all_lines[@]} probe='$probe' max_restarts=$max_restarts backoff=${backoff}s..${max_backoff}s command='$*'"
restarts=0
while true; do
  probe_hosts
  [ -z "$stop_signal" ] || stop_now
  log "probe live=${#live_hosts[@]} [${live_hosts[*]}] dead=${#dead[@]} [${dead[*]}]"
  if [ ${#live_hosts[@]} -eq 0 ]; then
    log "give-up no usable host left"
    exit 4
  fi
  printf '%s\n' "${live_lines[@]}" >"$live_file"
  launched=${#live_hosts[@]}
  log "launch attempt=$((restarts + 1)) hosts=$launched hostfile=$live_file"
  # A session of its own: the ranks it starts here are found (and stopped) through it. The tee
  # ignores the user's Ctrl+C, so mpirun's output is kept until mpirun ends.
  code=
  setsid "$mpirun_cmd" -hostfile "$live_file" "${extra_args[@]}" "$@" \
    2> >(trap '' INT TERM; exec tee "$mpirun_log" >&2) &
  mpirun_pid=$!
  # While the job runs, probe every INTERVAL: a host that stops answering stops the job at once,
  # instead of waiting for Open MPI's TCP timeouts to notice a host that died silently.
  lost=false
  ticks=$(awk -v i="$interval" 'BEGIN { print int(i * 10) }')
  while job_on; do
    for ((t = 0; t < ticks; t++)); do
      job_on || break
      sleep 0.1
    done
    job_on || break
    probe_hosts
    if [ ${#live_hosts[@]} -lt "$launched" ] && job_on; then
      lost=true
      log "lost hosts=[${dead[*]}] remaining=${#live_hosts[@]} while the job runs: stopping mpirun"
      signal_session TERM
      # mpirun may wait on the dead host's daemon: nothing is lost by not waiting (the journal).
      wait_gone 30 || signal_session KILL
      break
    fi
  done
  [ -z "$stop_signal" ] || stop_now
  wait "$mpirun_pid"
  code=$?
  [ -z "$stop_signal" ] || stop_now
  reap_session
  mpirun_pid=
  wait # the tee above
  if [ $code -eq 0 ]; then
    log "done mpirun exited 0"
    exit 0
  fi
  log "exit mpirun exited $code"

  if $lost; then
    why="lost hosts=[${dead[*]}]"
  else
    judge "$code"
    if [ "$verdict" = own ]; then
      # A host that died may have made the job fail in its own words: probe before believing it
      # (up to 3 rounds, INTERVAL apart, since a dead host can take a moment to stop answering).
      for round in 1 2 3; do
        probe_hosts
        if [ ${#live_hosts[@]} -lt "$launched" ]; then
          verdict=relaunch why="lost hosts=[${dead[*]}] remaining=${#live_hosts[@]}"
          break
        fi
        [ $round -eq 3 ] || pause "$interval"
      done
    fi
    case $verdict in
      interrupted)
        log "give-up $why: a rank was interrupted (SIGINT), not relaunching"
        exit 130
        ;;
      cannot-launch)
        log "give-up $why: it would fail again"
        exit "$code"
        ;;
      own)
        log "give-up every host answers and no rank died abnormally: $why"
        exit "$code"
        ;;
    esac
    log "$why"
  fi
  if [ "$restarts" -ge "$max_restarts" ]; then
    log "give-up $restarts relaunch(es) already, the limit (-r $max_restarts); last: $why"
    exit 5
  fi
  restarts=$((restarts + 1))
  delay=$(awk -v b="$backoff" -v m="$max_backoff" -v n="$restarts" \
    'BEGIN { d = b * 2 ^ (n - 1); if (d > m) d = m; print d }')
  log "backoff ${delay}s before relaunch $restarts of $max_restarts"
  pause "$delay"
  [ -z "$stop_signal" ] || stop_now
  log "relaunch number=$restarts"
done
