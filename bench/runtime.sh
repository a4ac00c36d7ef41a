#!/usr/bin/env bash
# Ranks at rest, cancel latency, threads per rank and start-up, written as the section "Ranks at
# rest, cancel, threads and start-up" of docs/BENCHMARKS.md (between HTML comment markers: a second
# run replaces it, the rest of the file is kept). bench/runtime.py does the probing and the report.
#
#   1. an idle GUI job of 3 ranks under Xvfb: each rank's CPU over 10 s (/proc/PID/stat); and a CLI
#      job's workers while rank 0 decodes a large PNG;
#   2. one rank per core (`mpirun -np 2 ... --threads 1`) against an older build (--old);
#   3. cancel: SIGINT to rank 0 of `mpirun -np 3 imgproc run --op bilateral:d=25` on an 8K image, and
#      to `imgproc run` alone: until "cancelled" on stderr and until every rank has exited;
#   4. threads: alone, --reference, under mpirun -np 1 and 2, old and new; every output is compared
#      with the reference (cmp);
#   5. start-up: mpirun /bin/true, ob1 (default) against Open MPI's own pml selection, no MPI.
# Configurations run interleaved (A B A B ...); the report shows medians.
#
#   bash bench/runtime.sh --old ../wt-old/target/release/imgproc   # full run, about 20 minutes on 2 cores
#   bash bench/runtime.sh --quick          # small images, short windows, one repeat: checks the script
#   options: --old BIN (an older imgproc for the comparisons; without it they are left out),
#            --old-rev REV (its commit, for the report; default: asked from BIN's worktree),
#            --reps N (default 5), --work DIR (default /tmp/imgproc-runtime), --out FILE,
#            --report-only (write the section again from the raw results of the last run in --work)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/env.sh
source scripts/env.sh

quick=false
report_only=false
reps=5
old=
old_rev=
work=/tmp/imgproc-runtime
out=docs/BENCHMARKS.md
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=true ;;
    --report-only) report_only=true ;;
    --old) old=$(realpath "$2"); shift ;;
    --old-rev) old_rev=$2; shift ;;
    --reps) reps=$2; shift ;;
    --work) work=$2; shift ;;
    --out) out=$2; shift ;;
    *) sed -n '2,22p' "$0" >&2; exit 2 ;;
  esac
  shift
done
if $quick; then
  width=1920 height=1080 big_w=3840 big_h=2160 reps=1 idle_secs=2 idle_trials=1 cancel_trials=1
  startup_reps=1 ops=(gaussian canny) oldnew_ops=(gaussian) busy=0.05
else
  width=7680 height=4320 big_w=15360 big_h=8640 idle_secs=10 idle_trials=3 cancel_trials=7
  startup_reps=7 ops=(bilateral canny gaussian) oldnew_ops=(gaussian median bilateral canny) busy=0.5
fi
if [ -n "$old" ] && [ -z "$old_rev" ]; then
  old_rev=$(git -C "$(dirname "$old")" rev-parse --short HEAD 2>/dev/null || echo '?')
fi

if $report_only; then
  python3 bench/runtime.py report "$work/results" --into "$out"
  echo "runtime: wrote the section into $out from $work/results" >&2
  exit 0
fi

cargo build --release --locked --bins --examples >&2
bin=$root/target/release/imgproc
synth=$root/target/release/examples/synth
probe_py=$root/bench/runtime.py
rm -rf "${work:?}"
mkdir -p "$work/results" "$work/out" "$work/home"
res=$work/results
if $quick && [ "$out" = docs/BENCHMARKS.md ]; then
  cp docs/BENCHMARKS.md "$work/BENCHMARKS-quick.md"
  out=$work/BENCHMARKS-quick.md
fi

probe_pid=
xvfb_pid=
cleanup() {
  # The probe kills its job's whole session when it is stopped.
  if [ -n "$probe_pid" ]; then kill "$probe_pid" 2>/dev/null || true; wait "$probe_pid" 2>/dev/null || true; fi
  if [ -n "$xvfb_pid" ]; then kill "$xvfb_pid" 2>/dev/null || true; wait "$xvfb_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# probe ARGS...: bench/runtime.py in the background, so a signal to this script stops it at once.
probe() {
  python3 "$probe_py" "$@" &
  probe_pid=$!
  wait "$probe_pid"
  probe_pid=
}

# wait_for SECONDS WHAT COMMAND...: retries COMMAND until it succeeds or the deadline passes.
wait_for() {
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then echo "runtime: timed out waiting for $what" >&2; exit 1; fi
    sleep 0.2
  done
}

same() { # same FILE REFERENCE WHAT
  cmp -s "$1" "$2" || { echo "runtime: FAIL: $3: $1 differs from the reference $2" >&2; exit 1; }
}

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
started=$SECONDS
date_utc=$(date -u '+%Y-%m-%d %H:%M UTC')

image=$work/image-${width}x${height}.bmp
big=$work/big-${big_w}x${big_h}.png
small=$work/small-640x480.png
echo "runtime: generating $image, $big and $small" >&2
"$synth" "$width" "$height" 3 42 "$image"
"$synth" "$big_w" "$big_h" 3 42 "$big"
"$synth" 640 480 3 42 "$small"
for op in "${ops[@]}" "${oldnew_ops[@]}"; do
  [ -f "$work/ref-$op.bmp" ] || "$bin" run --reference --op "$op" "$image" -o "$work/ref-$op.bmp" 2>/dev/null
done

cpus=$(for n in 1 2 3; do
  echo "\$ mpirun --oversubscribe -np $n grep Cpus_allowed_list /proc/self/status"
  mpirun --oversubscribe -np "$n" grep Cpus_allowed_list /proc/self/status
done)

# --- 1. ranks at rest -------------------------------------------------------------------------------
display=
for n in $(seq 70 89); do
  if [ ! -e "/tmp/.X11-unix/X$n" ] && [ ! -e "/tmp/.X$n-lock" ]; then display=:$n; break; fi
done
[ -n "$display" ] || { echo "runtime: no free X display number in :70-:89" >&2; exit 1; }
Xvfb "$display" -screen 0 1280x820x24 -nolisten tcp >"$work/xvfb.log" 2>&1 &
xvfb_pid=$!
wait_for 15 "Xvfb on $display" env DISPLAY="$display" xdpyinfo
for t in $(seq 1 "$idle_trials"); do
  echo "runtime: idle GUI, 3 ranks, ${idle_secs} s (#$t)" >&2
  rm -rf "${work:?}/home"
  mkdir -p "$work/home"
  # A fresh HOME: no saved settings reopen a job. No dbus here: GTK keeps its settings in memory.
  env DISPLAY="$display" HOME="$work/home" XDG_DATA_HOME="$work/home/.local/share" \
    XDG_CONFIG_HOME="$work/home/.config" GSETTINGS_BACKEND=memory \
    python3 "$probe_py" gui-idle --out "$res/idle-gui-$t.json" --ranks 3 --seconds "$idle_secs" --settle 1 \
    --timeout 120 -- mpirun --oversubscribe -np 3 "$bin" &
  probe_pid=$!
  wait "$probe_pid"
  probe_pid=
done
kill "$xvfb_pid"
wait "$xvfb_pid" 2>/dev/null || true
xvfb_pid=

for t in $(seq 1 "$idle_trials"); do
  echo "runtime: workers while rank 0 decodes ${big_w}x${big_h} (#$t)" >&2
  probe decode-idle --out "$res/idle-decode-$t.json" --ranks 3 --timeout 120 -- \
    mpirun --oversubscribe -np 3 "$bin" run --json --op invert "$big" -o "$work/out/big-invert.png"
done

# --- 3. cancel ----------------------------------------------------------------------------------------
for t in $(seq 1 "$cancel_trials"); do
  echo "runtime: cancel under mpirun -np 3 (#$t)" >&2
  probe cancel --out "$res/cancel-mpi-$t.json" --ranks 3 --busy "$busy" --timeout 120 -- \
    mpirun --oversubscribe -np 3 "$bin" run --op bilateral:d=25 "$image" -o "$work/out/cancelled.bmp"
  echo "runtime: cancel alone (#$t)" >&2
  probe cancel --out "$res/cancel-alone-$t.json" --ranks 0 --busy "$busy" --timeout 120 -- \
    "$bin" run --op bilateral:d=25 "$image" -o "$work/out/cancelled.bmp"
  [ ! -e "$work/out/cancelled.bmp" ] || { echo "runtime: FAIL: a cancelled job wrote its output" >&2; exit 1; }
done

# --- 4. threads ---------------------------------------------------------------------------------------
# timed NAME REFERENCE COMMAND...: one run, its output compared with REFERENCE.
timed() {
  local name=$1 ref=$2
  shift 2
  rm -f "$work/out/t.bmp"
  probe timed --out "$res/$name.json" --timeout 600 -- "$@"
  same "$work/out/t.bmp" "$ref" "$name"
}
mpi=(mpirun --oversubscribe)
for rep in $(seq 1 "$reps"); do
  for op in "${ops[@]}"; do
    echo "runtime: threads, $op #$rep" >&2
    ref=$work/ref-$op.bmp
    io=(--json --op "$op" "$image" -o "$work/out/t.bmp")
    timed "threads-a-$op-$rep" "$ref" "$bin" run "${io[@]}"
    timed "threads-b-$op-$rep" "$ref" "$bin" run --reference "${io[@]}"
    timed "threads-c-$op-$rep" "$ref" "$bin" run --threads 1 "${io[@]}"
    timed "threads-d-$op-$rep" "$ref" "${mpi[@]}" -np 1 "$bin" run "${io[@]}"
    timed "threads-e-$op-$rep" "$ref" "${mpi[@]}" -np 1 "$bin" run --threads 1 "${io[@]}"
    timed "threads-f-$op-$rep" "$ref" "${mpi[@]}" -np 2 "$bin" run "${io[@]}"
    if [ -n "$old" ]; then
      timed "threads-g-$op-$rep" "$ref" "${mpi[@]}" -np 1 "$old" run --threads 2 "${io[@]}"
      timed "threads-h-$op-$rep" "$ref" "${mpi[@]}" -np 1 "$old" run --threads 1 "${io[@]}"
    fi
  done
done

# --- 2. one rank per core, new against old ----------------------------------------------------------
if [ -n "$old" ]; then
  for rep in $(seq 1 "$reps"); do
    for op in "${oldnew_ops[@]}"; do
      echo "runtime: old/new, mpirun -np 2 --threads 1, $op #$rep" >&2
      io=(--json --threads 1 --op "$op" "$image" -o "$work/out/t.bmp")
      timed "oldnew-old-$op-$rep" "$work/ref-$op.bmp" "${mpi[@]}" -np 2 "$old" run "${io[@]}"
      timed "oldnew-new-$op-$rep" "$work/ref-$op.bmp" "${mpi[@]}" -np 2 "$bin" run "${io[@]}"
    done
  done
fi

# --- 5. start-up --------------------------------------------------------------------------------------
for rep in $(seq 1 "$startup_reps"); do
  echo "runtime: start-up #$rep" >&2
  io=(--json --op invert "$small" -o "$work/out/small.png")
  probe timed --out "$res/startup-true-x-$rep.json" --timeout 60 -- "${mpi[@]}" -np 2 /bin/true
  probe timed --out "$res/startup-ob1-x-$rep.json" --timeout 60 -- "${mpi[@]}" -np 2 "$bin" run "${io[@]}"
  probe timed --out "$res/startup-auto-x-$rep.json" --timeout 60 -- \
    env OMPI_MCA_pml='^none' mpirun --oversubscribe -np 2 "$bin" run "${io[@]}"
  probe timed --out "$res/startup-alone-x-$rep.json" --timeout 60 -- "$bin" run "${io[@]}"
  probe timed --out "$res/startup-ops-x-$rep.json" --timeout 60 -- "$bin" ops
done

# --- report -------------------------------------------------------------------------------------------
RT_LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
RT_CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
RT_OMPI=$(mpirun --version 2>/dev/null | head -1)
RT_OPENCV=$(pkg-config --modversion opencv4 2>/dev/null || echo '?')
RT_COMMIT=$(git rev-parse --short HEAD)
RT_SRC_COMMIT=$(git log -1 --format=%h -- src Cargo.toml Cargo.lock)
export RT_LOAD_START=$load_start RT_LOAD_END RT_CPU RT_OMPI RT_OPENCV RT_COMMIT RT_SRC_COMMIT RT_DATE=$date_utc
export RT_SECONDS=$((SECONDS - started)) RT_QUICK=$quick RT_REPS=$reps RT_STARTUP_REPS=$startup_reps
RT_NPROC=$(nproc)
RT_LIBS=$(ldd "$bin" | wc -l)
export RT_NPROC RT_LIBS RT_W=$width RT_H=$height RT_BIG="${big_w}×${big_h}" RT_SMALL=640×480
export RT_IDLE_SECS=$idle_secs RT_IDLE_SETTLE=1 RT_BUSY=$busy RT_OLD_REV=${old_rev:-none} RT_CPUS=$cpus
python3 "$probe_py" report "$res" --into "$out"
echo "runtime: wrote the section into $out in $((SECONDS - started)) s (raw results in $res)" >&2
