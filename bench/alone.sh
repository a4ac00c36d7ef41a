#!/usr/bin/env bash
# `imgproc run` alone (one rank, no mpirun) beside `imgproc run --reference` (plain OpenCV on the
# whole image) on an 8K bilateral, PNG in and out: wall seconds, CPU seconds and the cores the
# command kept busy (CPU ÷ wall), with the CPU the rest of the machine used meanwhile (from
# /proc/stat), in interleaved rounds (every command once per round); medians. Every output's
# pixels are compared with the reference's (ImageMagick compare, AE).
#   bash bench/alone.sh [ROUNDS] [BINARY...]    # default: 7 rounds of target/release/imgproc
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
rounds=${1:-7}
shift || true
bins=("$@")
[ ${#bins[@]} -gt 0 ] || bins=("$root/target/release/imgproc")
work=$(mktemp -d /tmp/imgproc-alone.XXXXXX)
trap 'rm -rf "$work"' EXIT
ffmpeg -hide_banner -loglevel error -f lavfi -i testsrc2=size=7680x4320 -frames:v 1 "$work/in.png"

commands=("${bins[0]} run --reference")
for b in "${bins[@]}"; do
  commands+=("$b run")
done
busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }
hz=$(getconf CLK_TCK)
results=$work/results
: >"$results"
for _ in $(seq 1 "$rounds"); do
  for i in "${!commands[@]}"; do
    before=$(busy)
    # shellcheck disable=SC2086 # each command is a word list
    /usr/bin/time -f "%e %U %S" -o "$work/time" ${commands[$i]} --op bilateral "$work/in.png" -o "$work/out-$i.png" \
      >/dev/null 2>&1
    after=$(busy)
    read -r wall user sys <"$work/time"
    echo "$i $wall $user $sys $((after - before))" >>"$results"
    if [ "$i" -gt 0 ] && ! compare -metric AE "$work/out-$i.png" "$work/out-0.png" null: 2>/dev/null; then
      echo "alone.sh: ${commands[$i]} differs from the reference" >&2
      exit 1
    fi
  done
done

echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
python3 - "$results" "$hz" "${commands[@]}" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
hz, commands = int(sys.argv[2]), sys.argv[3:]
print("| command | wall s (median) | CPU s (median) | cores busy (CPU ÷ wall, median) | others' load, cores (median) |")
print("|---|---|---|---|---|")
for i, cmd in enumerate(commands):
    mine = [r for r in rows if r[0] == str(i)]
    wall = [float(r[1]) for r in mine]
    cpu = [float(r[2]) + float(r[3]) for r in mine]
    others = [max(0.0, int(r[4]) / hz - c) / w for r, c, w in zip(mine, cpu, wall)]
    cores = [c / w for c, w in zip(cpu, wall)]
    med = statistics.median
    print(f"| `{cmd} --op bilateral` | {med(wall):.2f} | {med(cpu):.2f} | {med(cores):.2f} | {med(others):.2f} |")
EOF
