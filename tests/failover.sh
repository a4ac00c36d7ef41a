#!/usr/bin/env bash
# The failure test, on 3 simulated hosts (testbed/netns.sh: network namespaces, real TCP):
#   A. a batch runs under watcher.sh; once some images are done, host 3 is taken down (link down,
#      processes killed); the watcher relaunches on the 2 that remain. At the end every output
#      exists and equals a clean one-process run byte for byte, the journal holds exactly one Done
#      per image, no temporary file is left, and the recovery time goes to docs/RECOVERY.md.
#   B. a host that is down before the start is pruned before the first launch.
# Needs root. Every wait has a deadline; the test bed is removed whatever happens.
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

work=$(mktemp -d /tmp/imgproc-failover.XXXXXX)
watcher_pid=
cleanup() {
  if [ -n "$watcher_pid" ]; then kill "$watcher_pid" 2>/dev/null || true; fi
  bash testbed/netns.sh down || true
  if [ -n "${KEEP_FAILOVER_LOGS:-}" ]; then cp "$work"/*.log "$KEEP_FAILOVER_LOGS"/ 2>/dev/null; fi
  rm -rf "$work"
}
trap cleanup EXIT

test_name=failover
# shellcheck source=tests/lib.sh
source tests/lib.sh
# shellcheck source=tests/testbed_lib.sh
source tests/testbed_lib.sh
export TESTBED_NAME=imgp TESTBED_NET=10.213.47

# The job: slow enough per image (bilateral, d=31, 1200x900) that a host dies mid-batch.
op=bilateral:d=31
count=48
mkdir -p "$work/shared/in"
"$synth" 1200 900 3 7 "$work/shared/in/img{}.png" "$count"
echo "failover: reference run of $count images in one process" >&2
timeout 600 "$bin" batch --op "$op" "$work/shared/in" -o "$work/reference" 2>"$work/reference.log" ||
  fail "the reference run failed"

testbed_up 3 "$work/hostfile"
journal=$work/shared/out/.imgproc-journal.jsonl

# --- A: a host dies mid-batch ---------------------------------------------------
timeout 900 ./watcher.sh -f "$work/hostfile" -p "$probe" -r 3 -i 1 -b 1 -- \
  "$bin" batch --op "$op" "$work/shared/in" -o "$work/shared/out" --shared-dir "$work/shared" \
  >"$work/watcher-out.log" 2>"$work/watcher.log" &
watcher_pid=$!

deadline=$((SECONDS + 300))
until [ "$(done_count "$journal")" -ge 4 ]; do
  [ $SECONDS -lt $deadline ] || fail "no image finished within 300 s"
  kill -0 "$watcher_pid" 2>/dev/null || fail "the watcher ended before the failure"
  sleep 0.1
done
done_before=$(done_count "$journal")
[ "$done_before" -lt "$count" ] || fail "the batch finished before the failure could be injected"
killed_at=$(now)
bash testbed/netns.sh kill h3
echo "failover: host 3 killed after $done_before of $count images" >&2

wait "$watcher_pid" || fail "the watcher exited $?"
watcher_pid=

grep -q "lost hosts=\[10.213.47.13\]" "$work/watcher.log" || fail "the watcher did not see host 3 go"
grep -q "relaunch number=1" "$work/watcher.log" || fail "the watcher did not relaunch"
grep -q "launch attempt=2 hosts=2" "$work/watcher.log" || fail "the relaunch was not on the 2 remaining hosts"
grep -q "done mpirun exited 0" "$work/watcher.log" || fail "the relaunched job did not succeed"

# Every output equals the clean run's; nothing half-written is left.
for ref in "$work/reference"/*.png; do
  out=$work/shared/out/$(basename "$ref")
  [ -f "$out" ] || fail "missing output $(basename "$ref")"
  cmp -s "$ref" "$out" || fail "$(basename "$ref") differs from the one-process run"
done
leftovers=$(find "$work/shared/out" -name '.*imgproc-tmp*' | wc -l)
[ "$leftovers" -eq 0 ] || fail "$leftovers temporary file(s) left"

# The journal: each image done exactly once across both launches.
check_journal "$journal" "$count" failover || fail "the journal shows an image done twice or not at all"

# Recovery time: from the kill to the relaunched mpirun, and to its first finished image.
exit_at=$(log_time "$work/watcher.log" ' lost hosts=')
relaunch_at=$(log_time "$work/watcher.log" ' launch attempt=2')
first_done_after=$(first_done_after "$journal" "$relaunch_at")
detect=$(secs_between "$killed_at" "$exit_at")
relaunch=$(secs_between "$killed_at" "$relaunch_at")
working=$(secs_between "$killed_at" "$first_done_after")
echo "failover: the loss was noticed ${detect} s after the kill, relaunched at ${relaunch} s, first image done at ${working} s" >&2

# --- B: a host down before the start is pruned ------------------------------------
bash testbed/netns.sh cut h2
mkdir -p "$work/shared/in2"
cp "$work/shared/in"/img00[0-5].png "$work/shared/in2/"
timeout 300 ./watcher.sh -f "$work/hostfile" -p "$probe" -r 1 -i 1 -- \
  "$bin" batch --op "$op" "$work/shared/in2" -o "$work/shared/out2" --shared-dir "$work/shared" \
  >"$work/watcher2-out.log" 2>"$work/watcher2.log" || fail "the job with a host down before the start failed"
grep -q "dead=2 \[10.213.47.12 10.213.47.13\]" "$work/watcher2.log" || fail "the dead hosts were not pruned"
grep -q "launch attempt=1 hosts=1" "$work/watcher2.log" || fail "the first launch did not use only the live host"
grep -q "relaunch" "$work/watcher2.log" && fail "a pruned start should need no relaunch"
for f in "$work/shared/in2"/*.png; do
  cmp -s "$work/reference/$(basename "$f")" "$work/shared/out2/$(basename "$f")" || fail "B: $(basename "$f") differs"
done

# --- the numbers ---------------------------------------------------------------------
write_doc_section docs/RECOVERY.md failover <<EOF
Measured by \`tests/failover.sh\` (run by \`.ci/run\`) on $(date -u +%Y-%m-%d), $(nproc) cores,
3 simulated hosts (network namespaces, real TCP between them, one rank each), a batch of $count
images of 1200×900 with \`$op\` under \`watcher.sh -i 1 -b 1\`, with \`--shared-dir\`. Host 3 was
taken down (link down, every process killed) after $done_before images were done.

| from the kill to | seconds |
|---|---|
| the watcher noticing the lost host (its probes; mpirun is stopped) | $detect |
| the relaunched mpirun starting on the 2 remaining hosts | $relaunch |
| the first image finished by the relaunched job | $working |
EOF
echo "failover: all passed; numbers in docs/RECOVERY.md" >&2
