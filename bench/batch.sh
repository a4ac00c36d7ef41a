#!/usr/bin/env bash
# Batch throughput: 200 JPEGs of 1280×800 at 1, 2 and 3 ranks under mpirun, gaussian and
# bilateral, for one or more builds of imgproc (e.g. before and after a change). Runs are
# interleaved (every build and rank count in turn, then the next repeat), so a noisy neighbour
# hits all configurations alike; the table shows the median images/s of the repeats, from each
# run's `--json` (done ÷ wall_secs, MPI start-up excluded) and every output is checked
# against the one-process reference.
#
#   bash bench/batch.sh                                  # this checkout's release build
#   bash bench/batch.sh before=/tmp/old-imgproc after=target/release/imgproc
#   options (before the builds): --repeat N (default 3), --count N (default 200),
#            --work DIR (default /tmp/imgproc-bench-batch; keep it on a disk, not tmpfs)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/env.sh
source scripts/env.sh

repeat=3
count=200
work=/tmp/imgproc-bench-batch
while [ $# -gt 0 ]; do
  case $1 in
    --repeat) repeat=$2; shift ;;
    --count) count=$2; shift ;;
    --work) work=$2; shift ;;
    --*) sed -n '2,13p' "$0" >&2; exit 2 ;;
    *) break ;;
  esac
  shift
done
builds=("$@")
[ ${#builds[@]} -gt 0 ] || builds=("current=$root/target/release/imgproc")
ops=(gaussian bilateral)
ranks=(1 2 3)

cargo build --release --locked --bins --examples >&2
synth=$root/target/release/examples/synth
rm -rf "$work"
mkdir -p "$work/results" "$work/in"
"$synth" 1280 800 3 1000 "$work/in/photo{}.jpg" "$count"
for op in "${ops[@]}"; do
  "$root/target/release/imgproc" batch --op "$op" "$work/in" -o "$work/ref-$op" 2>/dev/null
done

for rep in $(seq 1 "$repeat"); do
  for op in "${ops[@]}"; do
    for np in "${ranks[@]}"; do
      for build in "${builds[@]}"; do
        name=${build%%=*} bin=${build#*=}
        echo "bench: batch $op $name $np rank(s) #$rep" >&2
        rm -rf "$work/out"
        mpirun --oversubscribe -np "$np" "$bin" batch --json --op "$op" "$work/in" -o "$work/out" \
          >"$work/results/$op-$name-$np-$rep.json" 2>/dev/null
        for f in "$work/ref-$op"/*.jpg; do
          cmp -s "$f" "$work/out/$(basename "$f")" ||
            { echo "bench: FAIL: $op $name at $np ranks: $(basename "$f") differs" >&2; exit 1; }
        done
      done
    done
  done
done

python3 - "$work/results" "$(cut -d' ' -f1-3 /proc/loadavg)" "${builds[@]%%=*}" <<'EOF'
import json, statistics, sys, pathlib, collections
results, load, names = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
runs = collections.defaultdict(list)
for f in results.glob("*.json"):
    op, rest = f.stem.split("-", 1)
    name, np, _ = rest.rsplit("-", 2)
    s = json.loads(f.read_text())
    runs[(op, name, int(np))].append(s)
def rate(s):
    return s["done"] / s["wall_secs"]
print(f"load average at the end: {load}\n")
print("| op | build | ranks | images/s (median) | runs | vs 1 rank | workers own files | MB through rank 0 |")
print("|---|---|---|---|---|---|---|---|")
for op in ("gaussian", "bilateral"):
    for name in names:
        base = None
        for np in (1, 2, 3):
            rs = runs.get((op, name, np), [])
            if not rs:
                continue
            med = statistics.median(rate(s) for s in rs)
            base = base or med
            one = sorted(rs, key=rate)[len(rs) // 2]
            own = [r.get("own_files") for r in one["per_rank"][1:]]
            own = "-" if not own else ("n/a" if None in own else ",".join("yes" if o else "no" for o in own))
            moved = (one["per_rank"][0]["bytes_sent"] + one["per_rank"][0]["bytes_received"]) / 1e6
            spread = " ".join(f"{rate(s):.1f}" for s in rs)
            print(f"| {op} | {name} | {np} | {med:.1f} | {spread} | {med / base:.2f}× | {own} | {moved:.0f} |")
EOF
