#!/usr/bin/env bash
# The benchmark: every op on an 8K colour image and a batch of 200 one-megapixel images, at 1, 2
# and 3 ranks under mpirun, next to a one-process run of the same OpenCV calls (`--reference`).
# Every distributed output is compared byte for byte with the reference output. Phases, bytes and
# rank 0's peak memory come from each run's `--json` summary; bench/report.py turns them into
# docs/BENCHMARKS.md.
#
#   bash bench/run.sh              # full run (about 10 minutes on 2 cores)
#   bash bench/run.sh --quick      # small image, 20 batch images, one repeat: checks the script
#   options: --repeat N (default 3), --work DIR (default /tmp/imgproc-bench), --out FILE
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/env.sh
source scripts/env.sh

quick=false
repeat=3
work=/tmp/imgproc-bench
out=docs/BENCHMARKS.md
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=true ;;
    --repeat) repeat=$2; shift ;;
    --work) work=$2; shift ;;
    --out) out=$2; shift ;;
    *) sed -n '2,12p' "$0" >&2; exit 2 ;;
  esac
  shift
done
if $quick; then
  width=1920 height=1080 count=20 repeat=1
  [ "$out" = docs/BENCHMARKS.md ] && out=$work/BENCHMARKS-quick.md
else
  width=7680 height=4320 count=200
fi
ops=(blur gaussian median bilateral canny invert brightness gray bw contrast-stretch)
batch_ops=(gaussian bilateral)
ranks=(1 2 3)

cargo build --release --locked --bins --examples >&2
bin=$root/target/release/imgproc
synth=$root/target/release/examples/synth
rm -rf "$work"
mkdir -p "$work/results" "$work/batch"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
started=$SECONDS

image=$work/image-${width}x${height}.png
echo "bench: generating $image and $count batch images" >&2
"$synth" "$width" "$height" 3 42 "$image"
"$synth" 1280 800 3 1000 "$work/batch/photo{}.jpg" "$count"

run_mpi() {
  local np=$1
  shift
  mpirun --oversubscribe -np "$np" "$bin" "$@"
}

for op in "${ops[@]}"; do
  for rep in $(seq 1 "$repeat"); do
    echo "bench: $op reference #$rep" >&2
    "$bin" run --reference --json --op "$op" "$image" -o "$work/ref-$op.png" \
      >"$work/results/image-$op-ref-$rep.json" 2>/dev/null
    for np in "${ranks[@]}"; do
      echo "bench: $op $np rank(s) #$rep" >&2
      run_mpi "$np" run --json --op "$op" "$image" -o "$work/out-$op-$np.png" \
        >"$work/results/image-$op-$np-$rep.json" 2>/dev/null
      cmp -s "$work/ref-$op.png" "$work/out-$op-$np.png" ||
        { echo "bench: FAIL: $op at $np ranks differs from the one-process result" >&2; exit 1; }
    done
  done
done

# How fast a strip-sized copy is into fresh and into touched memory, for the report's notes.
copy_mb=$((width * height * 3 / 2 / 1000000))
BENCH_COPY_PROBE=$("$root/target/release/examples/copy_probe" "$((copy_mb > 0 ? copy_mb : 1))")

for op in "${batch_ops[@]}"; do
  # The one-process reference for every batch image, to check the distributed outputs.
  "$bin" batch --op "$op" "$work/batch" -o "$work/batch-ref-$op" 2>/dev/null
  for rep in $(seq 1 "$repeat"); do
    for np in "${ranks[@]}"; do
      echo "bench: batch $op $np rank(s) #$rep" >&2
      rm -rf "$work/batch-out"
      run_mpi "$np" batch --json --op "$op" "$work/batch" -o "$work/batch-out" \
        >"$work/results/batch-$op-$np-$rep.json" 2>/dev/null
      for f in "$work/batch-ref-$op"/*.jpg; do
        cmp -s "$f" "$work/batch-out/$(basename "$f")" ||
          { echo "bench: FAIL: batch $op at $np ranks: $(basename "$f") differs" >&2; exit 1; }
      done
    done
  done
done

BENCH_LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
BENCH_OPENCV=$(pkg-config --modversion opencv4 2>/dev/null || echo '?')
BENCH_OMPI=$(mpirun --version 2>/dev/null | head -1)
export BENCH_LOAD_START=$load_start BENCH_LOAD_END BENCH_OPENCV BENCH_OMPI
export BENCH_SECONDS=$((SECONDS - started)) BENCH_QUICK=$quick BENCH_REPEAT=$repeat
export BENCH_IMAGE="${width}x${height}" BENCH_COUNT=$count BENCH_COPY_PROBE
python3 bench/report.py "$work/results" >"$out"
echo "bench: wrote $out in $((SECONDS - started)) s" >&2
