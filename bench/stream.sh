#!/usr/bin/env bash
# One 8K colour image through the streamed pipeline (issue 11): PNG→PNG, TIFF→TIFF and JPEG→JPEG
# for gaussian, median, canny, bilateral and invert, in interleaved rounds of
#   the one-process reference (`imgproc run --reference`), `mpirun -np 1/2/3 imgproc run`,
#   `mpirun -np 2 imgproc run --whole-io` (the code before streaming) and libvips' nearest op
#   (gaussblur at OpenCV's sigma for ksize 5, rank 5×5 for the median, canny, invert; none for bilateral).
# Whole-run wall time is measured outside (mpirun included), job time is `wall_secs` of `--json`
# (MPI start-up excluded), CPU time by bash's `time` (every rank included); with the fixed cost of a
# job on a 16x16 image it gives the lower bound 2 cores set on np 2's whole run. Every imgproc output is compared in decoded pixels with the reference
# output (examples/same_pixels); the script stops at the first difference. Medians go into the
# section "One image, streamed (issue 11)" of docs/BENCHMARKS.md (between HTML comment markers),
# with the per-rank timelines of gaussian at 1, 2 and 3 ranks drawn by examples/timeline
# (docs/timeline-8k-FORMAT-gaussian.png).
#
#   bash bench/stream.sh             # full run, about 15 minutes on 2 cores
#   bash bench/stream.sh --quick     # 1920×1080, one round: checks the script in a minute
#   options: --repeat N (default 3), --work DIR (default /tmp/imgproc-stream), --out FILE,
#            --formats "png tif jpg", --ops "gaussian median canny bilateral invert",
#            --report-only (write the section again from the results of the last run in --work)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/env.sh
source scripts/env.sh

quick=false
report_only=false
repeat=3
work=/tmp/imgproc-stream
out=docs/BENCHMARKS.md
formats=(png tif jpg)
ops=(gaussian median canny bilateral invert)
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=true ;;
    --report-only) report_only=true ;;
    --repeat) repeat=$2; shift ;;
    --work) work=$2; shift ;;
    --out) out=$2; shift ;;
    --formats) read -ra formats <<<"$2"; shift ;;
    --ops) read -ra ops <<<"$2"; shift ;;
    *) sed -n '2,18p' "$0" >&2; exit 2 ;;
  esac
  shift
done
if $quick; then
  width=1920 height=1080 repeat=1
else
  width=7680 height=4320
fi
if $quick && [ "$out" = docs/BENCHMARKS.md ]; then
  mkdir -p "$work"
  cp docs/BENCHMARKS.md "$work-quick.md"
  out=$work-quick.md
fi
# The timeline pictures (timeline-8k-FORMAT-gaussian.png) go beside the file the section is written into.
pictures=$(dirname "$out")
$quick && pictures=$work
res=$work/results

report() {
  python3 bench/stream.py report "$res" --into "$out" --pictures "$pictures"
}
if $report_only; then
  report
  echo "stream: wrote the section into $out from $res" >&2
  exit 0
fi

cargo build --release --locked --bins --examples -j2 >&2
bin=$root/target/release/imgproc
synth=$root/target/release/examples/synth
same=$root/target/release/examples/same_pixels
rm -rf "${work:?}/results" "$work"/*.png "$work"/*.tif "$work"/*.jpg "$work/passed"
mkdir -p "$res"
touch "$work/passed"

{
  echo "commit=$(git rev-parse --short HEAD)"
  echo "src_commit=$(git log -1 --format=%h -- src Cargo.toml Cargo.lock)"
  echo "dirty=$(git status --porcelain -- src Cargo.toml Cargo.lock | wc -l)"
  echo "image=${width}x${height}"
  echo "repeat=$repeat"
  echo "quick=$quick"
  echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "load_start=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "ompi=$(mpirun --version 2>/dev/null | head -1)"
  echo "opencv=$(pkg-config --modversion opencv4 2>/dev/null || echo '?')"
  echo "vips=$(vips --version)"
  echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
} >"$res/env"
started=$SECONDS

# The same pixels as PNG, TIFF (OpenCV's LZW) and JPEG (OpenCV's quality 95: its decoded pixels are
# then the input of every JPEG run), written by the identity op.
echo "stream: generating the ${width}x${height} input" >&2
"$synth" "$width" "$height" 3 42 "$work/in.png"
for fmt in "${formats[@]}"; do
  [ "$fmt" = png ] && continue
  "$bin" run --reference --op brightness:factor=1:offset=0 "$work/in.png" -o "$work/in.$fmt" 2>/dev/null
done
if [ -e "$work/in.tif" ]; then
  "$same" "$work/in.png" "$work/in.tif" || { echo "stream: FAIL: the TIFF input differs from the PNG" >&2; exit 1; }
fi

# timed NAME CMD...: CMD's stdout in $res/NAME.json, its wall time (mpirun included) in NAME.secs, and
# the CPU seconds (user and system) of it and every process it waited for (mpirun waits for its
# ranks) in NAME.cpu.
timed() {
  local name=$1 t0 t1 TIMEFORMAT='%3U %3S'
  shift
  t0=$(date +%s.%N)
  { time "$@" >"$res/$name.json" 2>"$res/$name.err"; } 2>"$res/$name.cpu" ||
    { echo "stream: FAIL: $name (see $res/$name.err)" >&2; exit 1; }
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }' >"$res/$name.secs"
}

# check OUTPUT REFERENCE WHAT: OUTPUT must hold the reference's pixels. Outputs already compared are
# remembered by checksum, so later rounds only decode what they have not seen.
check() {
  local sum
  sum=$(md5sum <"$1" | cut -d' ' -f1)
  grep -qx "$sum $2" "$work/passed" && return 0
  "$same" "$1" "$2" || { echo "stream: FAIL: $3: $1 differs from the one-process result $2" >&2; exit 1; }
  echo "$sum $2" >>"$work/passed"
}

# vips_op OP IN OUT: libvips' nearest op, writing with the settings of OpenCV's writer of that format
# (PNG zlib level 1, JPEG quality 95, TIFF LZW with the horizontal predictor), so both pay for the
# same kind of file. Gaussian: ksize 5 with sigma 0 is sigma 0.3 × ((5 − 1) / 2 − 1) + 0.8 = 1.1 in
# OpenCV, and gaussblur's default minimum amplitude 0.2 gives the same 5 taps.
vips_op() {
  local op=$1 in=$2 out=$3
  case $out in
    *.png) out="${out}[compression=1]" ;;
    *.jpg) out="${out}[Q=95]" ;;
    *.tif) out="${out}[compression=lzw,predictor=horizontal]" ;;
  esac
  case $op in
    gaussian) vips gaussblur "$in" "$out" 1.1 ;;
    median) vips rank "$in" "$out" 5 5 12 ;;
    canny) vips canny "$in" "$out" ;;
    invert) vips invert "$in" "$out" ;;
    *) return 1 ;;
  esac
}

# The fixed cost of a job, whatever its image: loading the libraries, and for mpirun the launch, MPI's
# start and end, a second process. Measured once a round on a 16x16 image, for the CPU bound.
"$synth" 16 16 3 7 "$work/tiny.png"
for rep in $(seq 1 "$repeat"); do
  timed "fixed-ref-$rep" "$bin" run --reference --json --op invert "$work/tiny.png" -o "$work/tiny-out.png"
  timed "fixed-np2-$rep" mpirun --oversubscribe -np 2 "$bin" run --json --op invert "$work/tiny.png" -o "$work/tiny-out.png"
  for fmt in "${formats[@]}"; do
    in=$work/in.$fmt
    for op in "${ops[@]}"; do
      key=$fmt-$op
      ref=$work/ref-$key.$fmt
      echo "stream: round $rep/$repeat: $fmt $op" >&2
      timed "$key-ref-$rep" "$bin" run --reference --json --op "$op" "$in" -o "$work/out.$fmt"
      if [ "$rep" = 1 ]; then mv "$work/out.$fmt" "$ref"; else check "$work/out.$fmt" "$ref" "$key reference"; fi
      for np in 1 2 3; do
        timed "$key-np$np-$rep" mpirun --oversubscribe -np "$np" "$bin" run --json --op "$op" "$in" -o "$work/out.$fmt"
        check "$work/out.$fmt" "$ref" "$key at $np rank(s)"
        stat -c %s "$work/out.$fmt" >"$res/$key-np$np-$rep.bytes"
      done
      timed "$key-whole2-$rep" mpirun --oversubscribe -np 2 "$bin" run --whole-io --json --op "$op" "$in" -o "$work/out.$fmt"
      check "$work/out.$fmt" "$ref" "$key at 2 rank(s) --whole-io"
      stat -c %s "$work/out.$fmt" >"$res/$key-whole2-$rep.bytes"
      if [ "$op" != bilateral ]; then
        timed "$key-vips-$rep" vips_op "$op" "$in" "$work/vips.$fmt"
      fi
      stat -c %s "$ref" >"$res/$key-ref.bytes"
    done
  done
done

{
  echo "load_end=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "seconds=$((SECONDS - started))"
} >>"$res/env"
report
echo "stream: wrote $out and its pictures in $((SECONDS - started)) s" >&2
