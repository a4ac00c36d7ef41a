#!/usr/bin/env bash
# One 32768×32768 colour TIFF (3.2 GB decoded) through the streamed pipeline on 3 ranks, against
# the one-process reference: both wall times, every rank's peak resident memory against the bound
# 1.5 × its strip's input bytes + 100 MB, and a sampled exactness check (full-width bands around
# every strip boundary, the first and last rows and a few inside strips, cut out of both outputs
# with `vips extract_area` and compared in decoded pixels by examples/same_pixels). Written as the
# subsection "A 32768×32768 TIFF on 3 ranks" of docs/BENCHMARKS.md (between HTML comment markers).
# Not run by CI: it needs about 7 GB of memory for the reference and 10 GB of disk in --work.
#
#   bash bench/huge.sh             # full run, about 5 minutes on 2 cores
#   bash bench/huge.sh --quick     # 4096×4096: checks the script
#   options: --size N (default 32768), --work DIR (default /tmp/imgproc-huge), --out FILE,
#            --keep (leave the images in --work), --report-only
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/env.sh
source scripts/env.sh

quick=false
keep=false
report_only=false
size=32768
work=/tmp/imgproc-huge
out=docs/BENCHMARKS.md
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=true ;;
    --keep) keep=true ;;
    --report-only) report_only=true ;;
    --size) size=$2; shift ;;
    --work) work=$2; shift ;;
    --out) out=$2; shift ;;
    *) sed -n '2,13p' "$0" >&2; exit 2 ;;
  esac
  shift
done
if $quick; then
  size=4096
  [ "$out" = docs/BENCHMARKS.md ] && { cp docs/BENCHMARKS.md "$work-quick.md" 2>/dev/null || true; out=$work-quick.md; }
fi
res=$work/results

if $report_only; then
  python3 bench/stream.py huge "$res" --into "$out"
  echo "huge: wrote the subsection into $out from $res" >&2
  exit 0
fi

cargo build --release --locked --bins --examples -j2 >&2
bin=$root/target/release/imgproc
synth=$root/target/release/examples/synth
same=$root/target/release/examples/same_pixels
rm -rf "${work:?}"
mkdir -p "$res" "$work/bands"
big=$work/big-${size}x${size}.tif
cleanup() {
  $keep || rm -f "$big" "$work"/out-*.tif "$work"/ref-*.tif
}
trap cleanup EXIT

# timed NAME CMD...: runs CMD with its stdout in $res/NAME.json and its wall time, mpirun included,
# in $res/NAME.secs.
timed() {
  local name=$1 t0 t1
  shift
  t0=$(date +%s.%N)
  "$@" >"$res/$name.json" 2>"$res/$name.err" || { echo "huge: FAIL: $name (see $res/$name.err)" >&2; exit 1; }
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }' >"$res/$name.secs"
}

{
  echo "commit=$(git rev-parse --short HEAD)"
  echo "dirty=$(git status --porcelain -- src Cargo.toml Cargo.lock | wc -l)"
  echo "size=$size"
  echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "load_start=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "ompi=$(mpirun --version 2>/dev/null | head -1)"
  echo "opencv=$(pkg-config --modversion opencv4 2>/dev/null || echo '?')"
} >"$res/env"
started=$SECONDS

echo "huge: generating $big" >&2
timed synth "$synth" "$size" "$size" 3 42 "$big"
echo "input_bytes=$(stat -c %s "$big")" >>"$res/env"
max=$((size * size))

echo "huge: 3 ranks" >&2
timed np3 mpirun --oversubscribe -np 3 "$bin" run --json --max-pixels "$max" --op gaussian "$big" -o "$work/out-3.tif"
echo "huge: one-process reference" >&2
timed ref "$bin" run --reference --json --max-pixels "$max" --op gaussian "$big" -o "$work/ref-gaussian.tif"
echo "out_bytes=$(stat -c %s "$work/out-3.tif")" >>"$res/env"
echo "ref_bytes=$(stat -c %s "$work/ref-gaussian.tif")" >>"$res/env"

# Bands: 16 rows on each side of every strip boundary, the first and last 16 rows, 16 rows in the
# middle of each strip; full width.
python3 bench/stream.py bands "$res/np3.json" >"$res/bands"
while read -r top rows; do
  for f in out-3 ref-gaussian; do
    vips extract_area "$work/$f.tif" "$work/bands/$f-$top.png" 0 "$top" "$size" "$rows"
  done
  if "$same" "$work/bands/out-3-$top.png" "$work/bands/ref-gaussian-$top.png"; then
    echo "$top $rows same" >>"$res/compared"
  else
    echo "$top $rows DIFFERENT" >>"$res/compared"
    echo "huge: FAIL: rows $top..$((top + rows)) differ from the one-process result" >&2
    exit 1
  fi
done <"$res/bands"

{
  echo "load_end=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "seconds=$((SECONDS - started))"
} >>"$res/env"
python3 bench/stream.py huge "$res" --into "$out"
echo "huge: wrote $out in $((SECONDS - started)) s" >&2
