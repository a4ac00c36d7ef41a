#!/usr/bin/env bash
# `imgproc serve` survives a killed worker, on 3 simulated hosts (testbed/netns.sh): the server
# runs under watcher.sh; while user A's batch and user B's one-image jobs run, a worker rank is
# killed with SIGKILL. Open MPI ends the job, the watcher relaunches it on the same hosts, and the
# server comes back on the same address and data. Every accepted job must end `succeeded` with
# results equal to the one-process reference, A's batch journal must show each image done exactly
# once (nothing redone, nothing lost), and the watcher must have relaunched exactly once.
# Clients talk to rank 0 inside the first host's namespace (loopback there). Needs root. Every
# wait has a deadline; the test bed is removed whatever happens.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/env.sh
source scripts/env.sh
export OMPI_ALLOW_RUN_AS_ROOT OMPI_ALLOW_RUN_AS_ROOT_CONFIRM
bin=$root/target/release/imgproc

work=$(mktemp -d /tmp/imgproc-serve-failover.XXXXXX)
watcher_pid=
cleanup() {
  if [ -n "$watcher_pid" ]; then kill "$watcher_pid" 2>/dev/null || true; wait "$watcher_pid" 2>/dev/null || true; fi
  bash testbed/netns.sh down || true
  rm -rf "$work"
}
trap cleanup EXIT

test_name=serve_failover
# shellcheck source=tests/lib.sh
source tests/lib.sh
# shellcheck source=tests/testbed_lib.sh
source tests/testbed_lib.sh
export TESTBED_NAME=imgs TESTBED_NET=10.213.51

op=bilateral:d=15
mkdir -p "$work/in" "$work/ref"
for i in $(seq -w 0 29); do
  convert -seed "1$i" -size 800x600 plasma:fractal "$work/in/a$i.png"
done
for i in 0 1 2; do
  convert -seed "2$i" -size 640x480 plasma:fractal "$work/in/b$i.png"
done
for f in "$work/in"/*.png; do
  "$bin" run --reference --op "$op" "$f" -o "$work/ref/$(basename "$f")" 2>/dev/null
done
ta=$("$bin" user add a --users "$work/users.toml" 2>/dev/null)
tb=$("$bin" user add b --users "$work/users.toml" 2>/dev/null)

testbed_up 3 "$work/hostfile"
h1=$TESTBED_NAME-h1
port=18088
api() { ip netns exec "$h1" curl -s --max-time 60 "$@"; }

timeout 900 ./watcher.sh -f "$work/hostfile" -p "$probe" -r 3 -i 1 -b 1 -- \
  "$bin" serve --listen "127.0.0.1:$port" --data "$work/data" --users "$work/users.toml" \
  >"$work/watcher-out.log" 2>"$work/watcher.log" &
watcher_pid=$!
deadline=$((SECONDS + 120))
until api -f "http://127.0.0.1:$port/healthz" >/dev/null; do
  [ $SECONDS -lt $deadline ] || fail "the server did not come up"
  sleep 0.2
done

# A's batch of 30, then B's three one-image jobs.
args=(-H "Authorization: Bearer $ta" -F "chain=$op")
for f in "$work/in"/a*.png; do args+=(-F "files=@$f"); done
job_a=$(api "${args[@]}" "http://127.0.0.1:$port/api/jobs" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
jobs_b=()
for i in 0 1 2; do
  jobs_b+=("$(api -H "Authorization: Bearer $tb" -F "chain=$op" -F "files=@$work/in/b$i.png" \
    "http://127.0.0.1:$port/api/jobs" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')")
done
journal=$work/data/jobs/$job_a/out/.imgproc-journal.jsonl
deadline=$((SECONDS + 300))
until [ "$(done_count "$journal")" -ge 4 ]; do
  [ $SECONDS -lt $deadline ] || fail "A's batch did not start"
  sleep 0.1
done
done_before=$(done_count "$journal")
[ "$done_before" -lt 30 ] || fail "A's batch ended before the kill"

# SIGKILL to a worker rank (rank 1).
victim=
for p in $(pgrep -f "$bin serve"); do
  # grep without -q reads all of tr's output: -q would exit at the match and, under pipefail,
  # tr's SIGPIPE would fail the test (CI: "no worker rank found").
  if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -x 'OMPI_COMM_WORLD_RANK=1' >/dev/null; then victim=$p; fi
done
[ -n "$victim" ] || fail "no worker rank found"
kill -KILL "$victim"
echo "serve_failover: worker rank 1 (pid $victim) killed after $done_before of 30 images of A" >&2

# Every job ends succeeded after the relaunch.
state() { api -H "Authorization: Bearer $2" "http://127.0.0.1:$port/api/jobs/$1" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["status"], j["done"], j["total"])' 2>/dev/null || echo "down"; }
deadline=$((SECONDS + 600))
for pair in "$job_a:$ta" "${jobs_b[0]}:$tb" "${jobs_b[1]}:$tb" "${jobs_b[2]}:$tb"; do
  id=${pair%%:*} token=${pair#*:}
  until s=$(state "$id" "$token") && [[ "$s" == succeeded* || "$s" == failed* || "$s" == canceled* ]]; do
    [ $SECONDS -lt $deadline ] || fail "job $id did not end after the relaunch ($s)"
    sleep 0.3
  done
  read -r status finished total <<<"$s"
  if [ "$status" != succeeded ] || [ "$finished" != "$total" ]; then fail "job $id ended $s"; fi
done
grep -q "relaunch number=1" "$work/watcher.log" || fail "the watcher did not relaunch"
grep -q "relaunch number=2" "$work/watcher.log" && fail "the watcher relaunched more than once"

# Exact results, and A's images each done once across both launches.
for pair in "$job_a:$ta" "${jobs_b[0]}:$tb" "${jobs_b[1]}:$tb" "${jobs_b[2]}:$tb"; do
  id=${pair%%:*} token=${pair#*:}
  for name in $(api -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/jobs/$id" |
    python3 -c 'import json,sys; print(" ".join(i["output"] for i in json.load(sys.stdin)["items"]))'); do
    api -H "Authorization: Bearer $token" -o "$work/got.png" "http://127.0.0.1:$port/api/jobs/$id/results/$name"
    [ "$(compare -metric AE "$work/got.png" "$work/ref/$name" null: 2>&1)" = 0 ] || fail "$name of job $id differs from the reference"
  done
done
check_journal "$journal" 30 serve_failover || fail "A's journal shows an image done twice or not at all"
echo "serve_failover: all passed (the server came back on 127.0.0.1:$port with its data; 4 jobs succeeded, exact)" >&2
