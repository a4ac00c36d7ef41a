#!/usr/bin/env bash
# Video throughput: frames/s of `imgproc video` at 1 and 2 ranks (gaussian and bilateral, H.264
# output), and of `ffmpeg -vf` doing the nearest filter (gblur, bilateral... with its own threads)
# on the same machine, on a test video it makes (1080p, DURATION seconds, default 60, with audio).
# Also the cores one rank keeps busy (CPU seconds of every process / wall seconds): its ffmpeg
# encoder runs beside it, so one rank already uses more than a core and the 2-rank speed-up on a
# 2-core machine is capped at cores / busy.
# Then the same at 1 and 2 ranks with each rank bound to a core of its own (one-core nodes).
# Prints Markdown tables for docs/BENCHMARKS.md. Usage: bash bench/video.sh [DURATION]
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

# secs COMMAND...: "wall cpu" seconds of one run; cpu is user + system of the command and every
# process it waited for (the ranks, and the ffmpeg encoders they start).
secs() {
  /usr/bin/time -f "%e %U %S" -o "$work/time" "$@" >/dev/null 2>"$work/last.log" || { cat "$work/last.log" >&2; exit 1; }
  python3 -c "import sys; e, u, s = map(float, open(sys.argv[1]).read().split()[-3:]); print(f'{e:.2f} {u + s:.2f}')" "$work/time"
}
fps() { python3 -c "import sys; print(f'{int(sys.argv[1]) / float(sys.argv[2]):.1f}')" "$frames" "$1"; }
cores=$(nproc)

echo "| job | 1 rank frames/s | 2 ranks frames/s | speed-up | cores busy at 1 rank | ceiling on $cores cores | ffmpeg -vf | ffmpeg frames/s |"
echo "|---|---|---|---|---|---|---|---|"
for pair in "gaussian|gblur=sigma=1.1" "bilateral|bilateral=sigmaS=75:sigmaR=0.29"; do
  op=${pair%%|*}
  vf=${pair#*|}
  read -r one one_cpu < <(secs mpirun --oversubscribe -np 1 "$bin" video --op "$op" "$work/in.mp4" -o "$work/one.mp4")
  read -r two _ < <(secs mpirun --oversubscribe -np 2 "$bin" video --op "$op" "$work/in.mp4" -o "$work/two.mp4")
  read -r ff _ < <(secs ffmpeg -hide_banner -loglevel error -y -i "$work/in.mp4" -vf "$vf" -c:v libx264 -preset medium -crf 20 \
    -pix_fmt yuv420p -c:a copy "$work/ff.mp4")
  rm -f "$work/one.mp4" "$work/two.mp4"
  speedup=$(python3 -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.2f}')" "$one" "$two")
  # One rank already keeps busy/wall cores busy (its ffmpeg encoder is a process of its own), so on
  # this machine no rank count can beat cores / busy.
  busy=$(python3 -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.2f}')" "$one_cpu" "$one")
  ceiling=$(python3 -c "import sys; print(f'{int(sys.argv[1]) / float(sys.argv[2]):.2f}')" "$cores" "$busy")
  echo "| $op | $(fps "$one") | $(fps "$two") | ${speedup}× | $busy | ${ceiling}× | \`$vf\` | $(fps "$ff") |"
done

# The same code with every rank bound to a core of its own and one OpenCV thread (its ffmpeg
# encoder inherits the binding): what two one-core nodes give over one.
echo
echo "Each rank bound to one core (\`mpirun --bind-to core ... --threads 1\`):"
echo
echo "| job | 1 rank frames/s | 2 ranks frames/s | speed-up |"
echo "|---|---|---|---|"
for op in gaussian bilateral; do
  read -r one _ < <(secs mpirun --bind-to core -np 1 "$bin" video --threads 1 --op "$op" "$work/in.mp4" -o "$work/one.mp4")
  read -r two _ < <(secs mpirun --bind-to core -np 2 "$bin" video --threads 1 --op "$op" "$work/in.mp4" -o "$work/two.mp4")
  rm -f "$work/one.mp4" "$work/two.mp4"
  speedup=$(python3 -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.2f}')" "$one" "$two")
  echo "| $op | $(fps "$one") | $(fps "$two") | ${speedup}× |"
done
