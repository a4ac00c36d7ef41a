#!/usr/bin/env bash
# A host dies mid-video, on 3 simulated hosts (testbed/netns.sh: network namespaces, real TCP):
# `imgproc video` runs under watcher.sh; once some chunks are journaled, host 3 is taken down and
# the watcher relaunches on the 2 that remain. The relaunch must redo only the unfinished chunks
# (its --json summary: every chunk journaled before the kill is `already_done`), the output must appear complete and equal a
# clean one-process run frame for frame (FFV1, lossless), and nothing half-written may remain.
# Needs root. Every wait has a deadline; the test bed is removed whatever happens.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/env.sh
source scripts/env.sh
export OMPI_ALLOW_RUN_AS_ROOT OMPI_ALLOW_RUN_AS_ROOT_CONFIRM
bin=$root/target/release/imgproc
if [ ! -x "$bin" ]; then
  cargo build --release --locked --bins
fi

work=$(mktemp -d /tmp/imgproc-video-failover.XXXXXX)
watcher_pid=
cleanup() {
  if [ -n "$watcher_pid" ]; then kill "$watcher_pid" 2>/dev/null || true; fi
  bash testbed/netns.sh down || true
  rm -rf "$work"
}
trap cleanup EXIT

test_name=video_failover
# shellcheck source=tests/lib.sh
source tests/lib.sh
# shellcheck source=tests/testbed_lib.sh
source tests/testbed_lib.sh
export TESTBED_NAME=imgv TESTBED_NET=10.213.49

# 12 s of 320x240 at 25 fps, a keyframe every 12 frames: 25 chunks, slow enough per chunk
# (bilateral d=21, one thread) that a host dies mid-video.
op=bilateral:d=21
mkdir -p "$work/shared"
ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc2=size=320x240:rate=25:duration=12 \
  -c:v libx264 -g 12 -pix_fmt yuv420p "$work/shared/in.mp4"
chunks=25
echo "video_failover: reference run in one process" >&2
timeout 600 "$bin" video --threads 1 --op "$op" --chunk-frames 12 "$work/shared/in.mp4" -o "$work/reference.mkv" \
  2>"$work/reference.log" || fail "the reference run failed"

testbed_up 3 "$work/hostfile"
out=$work/shared/out.mkv
journal=$work/shared/.out.mkv.imgproc-video/.imgproc-journal.jsonl

timeout 900 ./watcher.sh -f "$work/hostfile" -p "$probe" -r 3 -i 1 -b 1 -- \
  "$bin" video --json --threads 1 --op "$op" --chunk-frames 12 "$work/shared/in.mp4" -o "$out" \
  >"$work/watcher-out.log" 2>"$work/watcher.log" &
watcher_pid=$!

deadline=$((SECONDS + 300))
until [ "$(done_count "$journal")" -ge 4 ]; do
  [ $SECONDS -lt $deadline ] || fail "no chunk finished within 300 s"
  kill -0 "$watcher_pid" 2>/dev/null || fail "the watcher ended before the failure"
  sleep 0.1
done
done_before=$(done_count "$journal")
[ "$done_before" -lt "$chunks" ] || fail "the video finished before the failure could be injected"
bash testbed/netns.sh kill h3
echo "video_failover: host 3 killed after $done_before of $chunks chunks" >&2

wait "$watcher_pid" || fail "the watcher exited $?"
watcher_pid=
grep -q "relaunch number=1" "$work/watcher.log" || fail "the watcher did not relaunch"
grep -q "done mpirun exited 0" "$work/watcher.log" || fail "the relaunched job did not succeed"

# The relaunch's summary (the last JSON object mpirun printed): finished chunks were not redone.
python3 - "$work/watcher-out.log" "$done_before" "$chunks" <<'PY' || fail "the relaunch redid finished chunks"
import json, sys
text, before, chunks = open(sys.argv[1]).read(), int(sys.argv[2]), int(sys.argv[3])
last = json.loads(text[text.rindex('{\n  "mode"'):])
print(f"video_failover: relaunch: {last['already_done']} chunks already done, {last['done']} done now", file=sys.stderr)
sys.exit(0 if last["already_done"] >= before and last["already_done"] + last["done"] == chunks else 1)
PY
[ -f "$out" ] || fail "no output"
[ ! -e "$work/shared/.out.mkv.imgproc-video" ] || fail "the work folder was left behind"
leftovers=$(find "$work/shared" -name '*imgproc-tmp*' | wc -l)
[ "$leftovers" -eq 0 ] || fail "$leftovers temporary file(s) left"
ffmpeg -v error -i "$work/reference.mkv" -f framemd5 - | grep -v '^#' >"$work/reference.md5"
ffmpeg -v error -i "$out" -f framemd5 - | grep -v '^#' >"$work/out.md5"
[ "$(wc -l <"$work/out.md5")" -eq 300 ] || fail "the output does not have 300 frames"
cmp -s "$work/reference.md5" "$work/out.md5" || fail "the frames differ from the one-process run"
echo "video_failover: all passed ($done_before chunks were done before the kill, none redone)" >&2
