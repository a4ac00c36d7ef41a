#!/usr/bin/env bash
# Does a short video split? The 2-rank speed-up of a 48-frame 1080p Motion JPEG clip (bilateral,
# FFV1 out: the case where `--chunk-frames 48` once made one chunk and left a rank idle) beside the
# 2-rank speed-up of a long video (1080p H.264, a keyframe every 50 frames, DURATION seconds,
# default 60), in interleaved rounds; and a 2-s 1080p H.264 clip with a single keyframe, split
# between keyframes. Job seconds are `wall_secs` of `--json` (MPI start-up excluded). Every
# output of 2 ranks is compared frame by frame with 1 rank's (FFV1 is lossless).
#   bash bench/short-video.sh [DURATION] [ROUNDS]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/env.sh
source scripts/env.sh
bin=$root/target/release/imgproc
duration=${1:-60}
rounds=${2:-2}
work=$(mktemp -d /tmp/imgproc-short-video.XXXXXX)
trap 'rm -rf "$work"' EXIT

lavfi=(-hide_banner -loglevel error -y -f lavfi)
ffmpeg "${lavfi[@]}" -i "testsrc2=size=1920x1080:rate=25:duration=1.92" -c:v mjpeg -q:v 3 "$work/short.avi"
ffmpeg "${lavfi[@]}" -i "testsrc2=size=1920x1080:rate=25:duration=$duration" -c:v libx264 -preset veryfast \
  -g 50 -pix_fmt yuv420p "$work/long.mp4"
ffmpeg "${lavfi[@]}" -i "testsrc2=size=1920x1080:rate=25:duration=2" -c:v libx264 -preset veryfast \
  -x264-params keyint=1000:min-keyint=1000:scenecut=0 -pix_fmt yuv420p "$work/one-gop.mp4"

# job NP INPUT: the job's seconds and chunks, "secs chunks"
job() {
  mpirun --oversubscribe -np "$1" "$bin" video --json --op bilateral "$work/$2" -o "$work/out-$1-${2%.*}.mkv" 2>/dev/null |
    python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["wall_secs"], j["chunks"])'
  rm -rf "$work/.out-$1-${2%.*}.mkv.imgproc-video"
}
# same A B: every frame of two lossless videos equal
same() {
  cmp <(ffmpeg -hide_banner -loglevel error -i "$1" -f rawvideo -pix_fmt bgr24 -) \
    <(ffmpeg -hide_banner -loglevel error -i "$2" -f rawvideo -pix_fmt bgr24 -) >/dev/null ||
    { echo "short-video.sh: $1 and $2 differ" >&2; exit 1; }
}

results=$work/results
: >"$results"
for round in $(seq 1 "$rounds"); do
  for input in short.avi one-gop.mp4 long.mp4; do
    for np in 1 2; do
      read -r secs chunks < <(job "$np" "$input")
      echo "$input $np $secs $chunks" >>"$results"
    done
    same "$work/out-1-${input%.*}.mkv" "$work/out-2-${input%.*}.mkv"
  done
  echo "short-video.sh: round $round of $rounds done" >&2
done

python3 - "$results" "$duration" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
names = {"short.avi": "48-frame 1080p MJPG clip", "one-gop.mp4": "2-s 1080p H.264, one keyframe",
         "long.mp4": f"{sys.argv[2]}-s 1080p H.264, keyframe every 50"}
med = lambda i, np: statistics.median(float(r[2]) for r in rows if r[0] == i and r[1] == str(np))
chunks = lambda i, np: next(r[3] for r in rows if r[0] == i and r[1] == str(np))
print("| input (bilateral, FFV1 out) | 1 rank s | 2 ranks s | chunks at 2 ranks | 2-rank speed-up | share of the long video's speed-up |")
print("|---|---|---|---|---|---|")
long = med("long.mp4", 1) / med("long.mp4", 2)
for i in ["short.avi", "one-gop.mp4", "long.mp4"]:
    up = med(i, 1) / med(i, 2)
    print(f"| {names[i]} | {med(i, 1):.2f} | {med(i, 2):.2f} | {chunks(i, 2)} | {up:.2f}× | {up / long:.0%} |")
EOF
