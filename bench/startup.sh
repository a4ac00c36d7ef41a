#!/usr/bin/env bash
# Start-up: `imgproc --version`, a 2-rank job on an 8×8 PNG, and the same job alone, beside their
# anchors (`vips --version`, `mpirun -np 2 /bin/true`) and beside empty C programs linked to what
# imgproc links (OpenCV core+imgproc, +imgcodecs, +videoio, GTK 3, Open MPI): the floor the
# dynamic loader sets before `main`. Every command is run ROUNDS times, all commands interleaved
# in each round; medians in milliseconds.
#   bash bench/startup.sh [ROUNDS] [BINARY...]    # default: 20 rounds of target/release/imgproc
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/env.sh
source scripts/env.sh
rounds=${1:-20}
shift || true
bins=("$@")
[ ${#bins[@]} -gt 0 ] || bins=("$root/target/release/imgproc")
work=$(mktemp -d /tmp/imgproc-startup.XXXXXX)
trap 'rm -rf "$work"' EXIT

ffmpeg -hide_banner -loglevel error -f lavfi -i color=gray:size=8x8 -frames:v 1 "$work/tiny.png"
lib=/lib/x86_64-linux-gnu
echo 'int main(void) { return 0; }' >"$work/empty.c"
floor() { # NAME LIBS...: an empty program that loads LIBS
  local name=$1
  shift
  gcc "$work/empty.c" -o "$work/$name" -Wl,--no-as-needed "$@"
}
floor empty
floor opencv-core "$lib/libopencv_core.so.406" "$lib/libopencv_imgproc.so.406"
floor opencv-imgcodecs "$lib/libopencv_core.so.406" "$lib/libopencv_imgproc.so.406" "$lib/libopencv_imgcodecs.so.406"
floor opencv-videoio "$lib/libopencv_core.so.406" "$lib/libopencv_imgproc.so.406" "$lib/libopencv_imgcodecs.so.406" \
  "$lib/libopencv_videoio.so.406"
floor gtk3 "$lib/libgtk-3.so.0"
floor openmpi "$lib/libmpi.so.40"
floor all-but-gtk3 "$lib/libopencv_core.so.406" "$lib/libopencv_imgproc.so.406" "$lib/libopencv_imgcodecs.so.406" \
  "$lib/libopencv_videoio.so.406" "$lib/libmpi.so.40" "$lib/libtiff.so.6" "$lib/libjpeg.so.62"
floor all "$lib/libopencv_core.so.406" "$lib/libopencv_imgproc.so.406" "$lib/libopencv_imgcodecs.so.406" \
  "$lib/libopencv_videoio.so.406" "$lib/libmpi.so.40" "$lib/libtiff.so.6" "$lib/libjpeg.so.62" "$lib/libgtk-3.so.0"

commands=(
  "vips --version"
  "mpirun -np 2 /bin/true"
)
for f in empty opencv-core opencv-imgcodecs opencv-videoio gtk3 openmpi all-but-gtk3 all; do
  commands+=("$work/$f")
done
for b in "${bins[@]}"; do
  commands+=("$b --version" "$b run --op invert $work/tiny.png -o $work/out.png"
    "mpirun -np 2 $b run --op invert $work/tiny.png -o $work/out.png")
done

results=$work/results
: >"$results"
for _ in $(seq 1 "$rounds"); do
  for i in "${!commands[@]}"; do
    start=$(date +%s%N)
    # shellcheck disable=SC2086 # each command is a word list
    ${commands[$i]} >/dev/null 2>&1
    echo "$i $((($(date +%s%N) - start) / 1000))" >>"$results"
  done
done

echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "| command | shared libraries (ldd) | min ms | median ms | max ms |"
echo "|---|---|---|---|---|"
for i in "${!commands[@]}"; do
  read -r -a words <<<"${commands[$i]}"
  prog=${words[0]}
  [ "$prog" = mpirun ] && prog=${words[3]}
  libs=$(ldd "$(command -v "$prog")" 2>/dev/null | wc -l)
  awk -v i="$i" '$1 == i { print $2 / 1000 }' "$results" | sort -n | awk -v cmd="${commands[$i]//$work\//}" -v libs="$libs" '
    { v[NR] = $1 } END { printf "| `%s` | %d | %.0f | %.0f | %.0f |\n", cmd, libs, v[1], v[int((NR + 1) / 2)], v[NR] }'
done
