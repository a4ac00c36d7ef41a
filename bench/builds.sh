#!/usr/bin/env bash
# Two (or more) builds of imgproc on one image each, interleaved: for every format, op and round,
# each build runs `mpirun -np N imgproc run` in turn, so a noisy neighbour hits them alike. Prints
# the median job seconds (`wall_secs` of `--json`, MPI start-up excluded) per build and the ratio
# of every build to the first; every output is compared in decoded pixels with the first build's
# (examples/same_pixels). For checking that a change costs nothing (a refactor) or what it gains.
#
#   bash bench/builds.sh before=/tmp/imgproc-old after=target/release/imgproc
#   options (before the builds): --np N (default 2), --repeat N (default 5), --size WxH
#            (default 7680x4320), --formats "jpg png tif", --ops "gaussian invert bilateral",
#            --work DIR (default /tmp/imgproc-builds)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/env.sh
source scripts/env.sh

np=2
repeat=5
size=7680x4320
formats=(jpg png tif)
ops=(gaussian invert bilateral)
work=/tmp/imgproc-builds
while [ $# -gt 0 ]; do
  case $1 in
    --np) np=$2; shift ;;
    --repeat) repeat=$2; shift ;;
    --size) size=$2; shift ;;
    --formats) read -ra formats <<<"$2"; shift ;;
    --ops) read -ra ops <<<"$2"; shift ;;
    --work) work=$2; shift ;;
    --*) sed -n '2,11p' "$0" >&2; exit 2 ;;
    *) break ;;
  esac
  shift
done
builds=("$@")
[ ${#builds[@]} -ge 2 ] || { sed -n '2,11p' "$0" >&2; exit 2; }

cargo build --release --locked --examples >&2
synth=$root/target/release/examples/synth
same=$root/target/release/examples/same_pixels
rm -rf "$work"
mkdir -p "$work"
for fmt in "${formats[@]}"; do
  "$synth" "${size%x*}" "${size#*x}" 3 7 "$work/in.$fmt" 1
done

results=$work/results.tsv
: >"$results"
for rep in $(seq 1 "$repeat"); do
  for fmt in "${formats[@]}"; do
    for op in "${ops[@]}"; do
      first=
      for build in "${builds[@]}"; do
        name=${build%%=*} bin=${build#*=}
        out=$work/out-$name-$op.$fmt
        secs=$(mpirun --oversubscribe -np "$np" "$bin" run --op "$op" "$work/in.$fmt" -o "$out" --json 2>/dev/null |
          python3 -c 'import json,sys; print(json.load(sys.stdin)["wall_secs"])')
        if [ -z "$first" ]; then
          first=$out
        else
          "$same" "$first" "$out" >/dev/null || { echo "builds.sh: $out differs from $first" >&2; exit 1; }
        fi
        printf '%s\t%s\t%s\t%s\n' "$fmt" "$op" "$name" "$secs" >>"$results"
      done
    done
  done
  echo "builds.sh: round $rep of $repeat done" >&2
done

python3 - "$results" "${builds[@]%%=*}" <<'EOF'
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().split("\n") if l]
names = sys.argv[2:]
keys = sorted({(f, o) for f, o, _, _ in rows}, key=lambda k: (k[0], k[1]))
print("| format | op | " + " | ".join(f"{n} (median s)" for n in names) + " | " + " | ".join(f"{n} / {names[0]}" for n in names[1:]) + " |")
print("|---" * (2 + 2 * len(names) - 1) + "|")
for f, o in keys:
    med = {n: statistics.median(float(s) for ff, oo, nn, s in rows if (ff, oo, nn) == (f, o, n)) for n in names}
    print(f"| {f} | {o} | " + " | ".join(f"{med[n]:.3f}" for n in names) + " | " + " | ".join(f"{med[n] / med[names[0]]:.2f}" for n in names[1:]) + " |")
EOF
