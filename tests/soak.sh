#!/usr/bin/env bash
# The crash soak test, on 3 simulated hosts (testbed/netns.sh, one rank each): TRIALS times, a
# batch runs under watcher.sh and one rank process is killed with SIGKILL (as the OOM killer
# does) at a random moment between 10% and 60% of the batch, while its host stays up. Trial 1
# kills rank 0 (the master, which writes the journal); the others kill a random rank. Odd trials
# use --shared-dir (every rank writes its own outputs), even ones let rank 0 write them all.
# Each trial must end with: the watcher exiting 0 after one relaunch, its log naming the killed
# rank and signal 9, every output byte-identical to a clean one-process run, no temporary file,
# and exactly one `done` per output in the journal (no torn line). The recovery times go to
# docs/RECOVERY.md. Then the rest of the relaunch policy, once each: a batch failing by itself
# (exit 1) and a program mpirun cannot launch are not relaunched; a killed daemon (orted) is; the
# user's Ctrl+C is passed on (exit 130, no relaunch, no rank left) and the same command resumes.
#
#   SEED=N     replay a run (every run prints its seed first)
#   TRIALS=N   how many trials (default 5)
#
# Needs root. Every wait has a deadline; the test bed and every process are removed on exit.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/env.sh
source scripts/env.sh
export OMPI_ALLOW_RUN_AS_ROOT OMPI_ALLOW_RUN_AS_ROOT_CONFIRM
bin=$root/target/release/imgproc
synth=$root/target/release/examples/synth
if [ ! -x "$bin" ] || [ ! -x "$synth" ]; then
  cargo build --release --locked --bins --examples
fi
bin_real=$(readlink -f "$bin")

seed=${SEED:-$(( $(date +%s%N) % 1000000 ))}
trials=${TRIALS:-5}
RANDOM=$seed
echo "soak: seed $seed, $trials trial(s) (replay: SEED=$seed bash tests/soak.sh)" >&2

work=$(mktemp -d /tmp/imgproc-soak.XXXXXX)
watcher_pid=
# A test bed of its own, so this test can run beside tests/failover.sh.
export TESTBED_NAME=imgs TESTBED_NET=10.213.48
cleanup() {
  if [ -n "$watcher_pid" ]; then
    kill "$watcher_pid" 2>/dev/null || true
    wait "$watcher_pid" 2>/dev/null || true
  fi
  bash testbed/netns.sh down || true
  if [ -n "${KEEP_SOAK_LOGS:-}" ]; then cp "$work"/*.log "$KEEP_SOAK_LOGS"/ 2>/dev/null; fi
  rm -rf "$work"
}
trap cleanup EXIT

test_name=soak
# shellcheck source=tests/lib.sh
source tests/lib.sh
# shellcheck source=tests/testbed_lib.sh
source tests/testbed_lib.sh

# The job: a few dozen small images, each slow enough (bilateral, d=31) that a kill lands mid-batch.
op=bilateral:d=31
count=24
width=640 height=480
ranks=3
mkdir -p "$work/in"
"$synth" $width $height 3 11 "$work/in/img{}.png" "$count"
echo "soak: reference run of $count images in one process" >&2
timeout 300 "$bin" batch --op "$op" "$work/in" -o "$work/reference" 2>"$work/reference.log" ||
  fail "the reference run failed"

testbed_up $ranks "$work/hostfile"

# rank_pid RANK: the imgproc process of RANK in the job running on the test bed, if any.
rank_pid() {
  local ns pid
  for ns in $(ip netns list | awk '{print $1}' | grep "^$TESTBED_NAME-h[0-9]"); do
    for pid in $(ip netns pids "$ns"); do
      [ "$(readlink -f "/proc/$pid/exe" 2>/dev/null)" = "$bin_real" ] || continue
      # grep without -q reads all of tr's output: -q would exit at the match and, under pipefail,
      # tr's SIGPIPE would fail the test (CI: "no worker rank found").
      if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -x "OMPI_COMM_WORLD_RANK=$1" >/dev/null; then
        echo "$pid"
        return 0
      fi
    done
  done
  return 1
}

# daemon_pid HOST: the Open MPI daemon (orted) running on HOST of the test bed.
daemon_pid() {
  local pid
  for pid in $(ip netns pids "$TESTBED_NAME-$1"); do
    if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = orted ]; then
      echo "$pid"
      return 0
    fi
  done
  return 1
}

# check_outputs OUT LABEL: every output equals the clean run's, no temporary or other file is left,
# and the journal holds exactly one done per image.
check_outputs() {
  local out=$1 label=$2 ref name temps extra
  for ref in "$work/reference"/*.png; do
    name=$(basename "$ref")
    [ -f "$out/$name" ] || fail "$label: missing output $name"
    cmp -s "$ref" "$out/$name" || fail "$label: $name differs from the one-process run"
  done
  temps=$(find "$out" -name '*.imgproc-tmp-*')
  [ -z "$temps" ] || fail "$label: temporary file(s) left: $temps"
  extra=$(find "$out" -mindepth 1 ! -name '*.png' ! -name .imgproc-journal.jsonl)
  [ -z "$extra" ] || fail "$label: unexpected file(s) left: $extra"
  check_journal "$out/.imgproc-journal.jsonl" "$count" "soak: $label" ||
    fail "$label: the journal is not exactly one done per image"
}

# wait_done_count JOURNAL N LABEL: until the journal has N done lines (120 s at most).
wait_done_count() {
  local deadline=$((SECONDS + 120))
  until [ "$(done_count "$1")" -ge "$2" ]; do
    [ $SECONDS -lt $deadline ] || fail "$3: $2 images not done within 120 s"
    kill -0 "$watcher_pid" 2>/dev/null || fail "$3: the watcher ended too early"
    sleep 0.05
  done
}

# run_watched COMMAND...: COMMAND under the watcher on the test bed, with short back-offs.
run_watched() {
  timeout 300 ./watcher.sh -f "$work/hostfile" -p "$probe" -r 3 -i 1 -b 0.5 -m 2 -- "$@"
}

rows=() times=()
for trial in $(seq 1 "$trials"); do
  if [ "$trial" -eq 1 ]; then rank=0; else rank=$((RANDOM % ranks)); fi
  lo=$(((count + 9) / 10)) hi=$((count * 6 / 10))
  at=$((lo + RANDOM % (hi - lo + 1)))
  delay=$(printf '0.%02d' $((RANDOM % 30))) # within an image or two
  out=$work/out$trial
  journal=$out/.imgproc-journal.jsonl
  shared=()
  mode="rank 0 writes"
  if [ $((trial % 2)) -eq 1 ]; then
    shared=(--shared-dir "$work")
    mode="--shared-dir"
  fi
  log=$work/watcher$trial.log
  run_watched "$bin" batch --op "$op" "$work/in" -o "$out" "${shared[@]}" >"$work/watcher$trial-out.log" 2>"$log" &
  watcher_pid=$!

  wait_done_count "$journal" "$at" "trial $trial"
  sleep "$delay"
  pid=$(rank_pid "$rank") || fail "trial $trial: no process of rank $rank found on the test bed"
  done_before=$(done_count "$journal")
  [ "$done_before" -lt "$count" ] || fail "trial $trial: the batch finished before the kill (use slower images)"
  killed_at=$(now)
  kill -KILL "$pid"
  echo "soak: trial $trial ($mode): rank $rank (pid $pid) killed with SIGKILL after $done_before of $count images (+${delay} s)" >&2

  code=0
  wait "$watcher_pid" || code=$?
  watcher_pid=
  [ $code -eq 0 ] || fail "trial $trial: the watcher exited $code"

  # The watcher saw a crash, named the rank and the signal, and relaunched once.
  crash=$(grep -m1 -E " crash rank=$rank host=[^ ]+ signal=9 \(Killed\)" "$log") ||
    fail "trial $trial: the watcher log does not name rank $rank and signal 9"
  grep -q " launch attempt=2 hosts=$ranks" "$log" || fail "trial $trial: no relaunch on all $ranks hosts"
  grep -q " launch attempt=3" "$log" && fail "trial $trial: more than one relaunch for one kill"
  grep -q " done mpirun exited 0" "$log" || fail "trial $trial: the relaunched job did not succeed"

  check_outputs "$out" "trial $trial"

  # Recovery: from the kill to the watcher's verdict, the relaunch, the first image done after it.
  noticed=$(secs_between "$killed_at" "$(log_time "$log" ' crash rank=')")
  relaunched_at=$(log_time "$log" ' launch attempt=2')
  relaunched=$(secs_between "$killed_at" "$relaunched_at")
  working=$(secs_between "$killed_at" "$(first_done_after "$journal" "$relaunched_at")")
  host=$(sed -E 's/.* host=([^ ]+) .*/\1/' <<<"$crash")
  echo "soak: trial $trial: $crash" >&2
  echo "soak: trial $trial: noticed at ${noticed} s, relaunched at ${relaunched} s, first image done at ${working} s" >&2
  rows+=("| $trial | $rank | $host | $mode | $done_before of $count | $noticed | $relaunched | $working |")
  times+=("$noticed $relaunched $working")
done

# --- a job that fails by itself is not relaunched --------------------------------------
mkdir -p "$work/bad"
cp "$work/in/img000.png" "$work/in/img001.png" "$work/bad/"
echo "not an image" >"$work/bad/broken.png"
code=0
run_watched "$bin" batch --op "$op" "$work/bad" -o "$work/out-bad" 2>"$work/own.log" || code=$?
[ $code -eq 1 ] || fail "a batch with a broken image: the watcher exited $code, not imgproc's 1"
grep -q " give-up every host answers and no rank died abnormally: the job failed by itself (exit 1: images failed)" "$work/own.log" ||
  fail "a batch with a broken image: no give-up line"
[ "$(grep -c ' launch attempt=' "$work/own.log")" -eq 1 ] || fail "a batch with a broken image was relaunched"
code=0
run_watched "$work/no-such-program" 2>"$work/nolaunch.log" || code=$?
[ "$(grep -c ' launch attempt=' "$work/nolaunch.log")" -eq 1 ] || fail "a program mpirun cannot launch was relaunched"
grep -q " give-up mpirun could not launch the program" "$work/nolaunch.log" || fail "no give-up line for a missing program"
echo "soak: a job that fails by itself (exit 1) and a missing program (exit $code) are not relaunched" >&2

# --- a daemon killed mid-batch: relaunched ---------------------------------------------
out=$work/out-daemon
run_watched "$bin" batch --op "$op" "$work/in" -o "$out" 2>"$work/daemon.log" &
watcher_pid=$!
wait_done_count "$out/.imgproc-journal.jsonl" $((count / 4)) "daemon"
orted=$(daemon_pid h3) || fail "daemon: no orted on host 3"
kill -KILL "$orted"
echo "soak: the daemon on host 3 (pid $orted) killed with SIGKILL" >&2
code=0
wait "$watcher_pid" || code=$?
watcher_pid=
[ $code -eq 0 ] || fail "daemon: the watcher exited $code"
grep -qE " lost daemon=[0-9]+ host=$TESTBED_NET.13 | crash rank=2 host=$TESTBED_NET.13 " "$work/daemon.log" ||
  fail "daemon: the watcher log does not name the lost daemon"
grep -q " launch attempt=2 hosts=$ranks" "$work/daemon.log" || fail "daemon: no relaunch on all $ranks hosts"
check_outputs "$out" daemon
echo "soak: daemon: $(grep -m1 -E ' (lost daemon|crash rank)=' "$work/daemon.log")" >&2

# --- the user's Ctrl+C: passed on, no relaunch; the same command later resumes ------------
out=$work/out-interrupted
# A background job of a script ignores SIGINT: give the watcher the default, as a terminal would.
python3 -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])' \
  timeout 300 ./watcher.sh -f "$work/hostfile" -p "$probe" -r 3 -i 1 -b 0.5 -m 2 -- \
  "$bin" batch --op "$op" "$work/in" -o "$out" 2>"$work/interrupted.log" &
watcher_pid=$!
wait_done_count "$out/.imgproc-journal.jsonl" $((count / 4)) "interrupted"
kill -INT "$watcher_pid"
code=0
wait "$watcher_pid" || code=$?
watcher_pid=
[ $code -eq 130 ] || fail "interrupted: the watcher exited $code, not 130"
grep -q " stop SIGINT received" "$work/interrupted.log" || fail "interrupted: no stop line"
grep -q " relaunch number=" "$work/interrupted.log" && fail "interrupted: the watcher relaunched after the user's Ctrl+C"
deadline=$((SECONDS + 10))
while rank_pid 0 >/dev/null || rank_pid 1 >/dev/null || rank_pid 2 >/dev/null; do
  [ $SECONDS -lt $deadline ] || fail "interrupted: ranks still run 10 s after the watcher stopped"
  sleep 0.1
done
partial=$(done_count "$out/.imgproc-journal.jsonl")
run_watched "$bin" batch --op "$op" "$work/in" -o "$out" 2>"$work/resumed.log" || fail "resumed: the watcher exited $?"
check_outputs "$out" resumed
echo "soak: interrupted after $partial of $count images (exit 130, no relaunch); the same command finished the rest" >&2

# --- the numbers ---------------------------------------------------------------------
[ ${#rows[@]} -gt 0 ] || exit 0
medians=$(printf '%s\n' "${times[@]}" | python3 -c '
import statistics, sys
cols = list(zip(*(map(float, line.split()) for line in sys.stdin)))
n, r, w = (f"{statistics.median(c):.2f}" for c in cols)
print(f"{n} s, the relaunch at {r} s, the first image done at {w} s")')
write_doc_section docs/RECOVERY.md soak <<EOF
Measured by \`tests/soak.sh\` (run by \`.ci/run\`) on $(date -u +%Y-%m-%d), $(nproc) cores, seed
$seed: $ranks simulated hosts (one rank each), a batch of $count images of ${width}×${height} with
\`$op\` under \`watcher.sh -i 1 -b 0.5 -m 2\`. In each trial one rank process was killed with
SIGKILL while its host stayed up; the times are from the kill.

| trial | rank killed | its host | outputs | images done at the kill | watcher's verdict (s) | relaunched mpirun (s) | first image done after it (s) |
|---|---|---|---|---|---|---|---|
$(printf '%s\n' "${rows[@]}")

Medians: the verdict at $medians after the kill.

Every trial ended with the watcher exiting 0 after one relaunch, every output byte-identical to a
clean one-process run, no temporary file, and exactly one \`done\` per image in the journal.
EOF
echo "soak: all $trials trials passed (seed $seed); numbers in docs/RECOVERY.md" >&2
