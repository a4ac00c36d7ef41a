#!/usr/bin/env bash
# Video throughput: frames/s of `imgproc video` at 1 and 2 ranks (gaussian and bilateral, H.264
# output), and of `ffmpeg -vf` doing the nearest filter (gblur, bilateral... with its own threads)
# on the same machine, on a test video it makes (1080p, DURATION seconds, default 60, with audio).
# Prints a Markdown table for docs/BENCHMARKS.md. Usage: bash bench/video.sh [DURATION]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/env.sh
source scripts/env.sh
bin=$root/target/release/imgproc
duration=${1:-60}
work=$(mktemp -d /tmp/imgproc-video-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

ffmpeg -hide_banner -loglevel error -y -f lavfi -i "testsrc2=size=1920x1080:rate=25:duration=$duration" \
  -f lavfi -i "sine=frequency=440:duration=$duration" -c:v libx264 -preset veryfast -g 50 -pix_fmt yuv420p \
  -c:a aac -shortest "$work/in.mp4"
frames=$((duration * 25))

# secs COMMAND...: wall seconds of one run.
secs() {
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >/dev/null 2>"$work/last.log" || { cat "$work/last.log" >&2; exit 1; }
  t1=$(date +%s.%N)
  python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$t0" "$t1"
}
fps() { python3 -c "import sys; print(f'{int(sys.argv[1]) / float(sys.argv[2]):.1f}')" "$frames" "$1"; }

echo "| job | 1 rank frames/s | 2 ranks frames/s | speed-up | ffmpeg -vf | ffmpeg frames/s |"
echo "|---|---|---|---|---|---|"
for pair in "gaussian|gblur=sigma=1.1" "bilateral|bilateral=sigmaS=75:sigmaR=0.29"; do
  op=${pair%%|*}
  vf=${pair#*|}
  one=$(secs mpirun --oversubscribe -np 1 "$bin" video --op "$op" "$work/in.mp4" -o "$work/one.mp4")
  two=$(secs mpirun --oversubscribe -np 2 "$bin" video --op "$op" "$work/in.mp4" -o "$work/two.mp4")
  ff=$(secs ffmpeg -hide_banner -loglevel error -y -i "$work/in.mp4" -vf "$vf" -c:v libx264 -preset medium -crf 20 \
    -pix_fmt yuv420p -c:a copy "$work/ff.mp4")
  speedup=$(python3 -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.2f}')" "$one" "$two")
  echo "| $op | $(fps "$one") | $(fps "$two") | ${speedup}× | \`$vf\` | $(fps "$ff") |"
done
