#!/usr/bin/env bash
# Ctrl+C during an 8K bilateral job: how long until every rank is gone, what mpirun returns, and
# whether an output or a temporary file is left. SIGINT goes to what the terminal's Ctrl+C reaches:
# `mpirun` (never forwarded to the ranks: each is in a process group of its own), or `imgproc`
# alone; and to rank 0's PID under mpirun (`kill -INT`, what the README's cancel of rank 0 means). Sent once every worker has computed 0.5 s (CPU of its strip); seconds from the signal,
# sampled every 5 ms from /proc. Binaries are compared in interleaved rounds (A B A B ...).
#   bash bench/ctrl-c.sh [ROUNDS] [BINARY...]    # default: 7 rounds of target/release/imgproc
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/env.sh
source scripts/env.sh
rounds=${1:-7}
shift || true
bins=("$@")
[ ${#bins[@]} -gt 0 ] || bins=("$root/target/release/imgproc")
work=$(mktemp -d /tmp/imgproc-ctrl-c.XXXXXX)
trap 'rm -rf "$work"' EXIT
ffmpeg -hide_banner -loglevel error -f lavfi -i testsrc2=size=7680x4320 -frames:v 1 "$work/in.png"

python3 - "$work" "$rounds" "${bins[@]}" <<'EOF'
import os, signal, statistics, subprocess, sys, time
work, rounds, bins = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
hz = os.sysconf("SC_CLK_TCK")

def procs(needle):
    """PIDs of live imgproc processes whose command line holds `needle`, with their rank."""
    out = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()
            stat = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
            exe = os.readlink(f"/proc/{pid}/exe")
        except OSError:
            continue
        if needle in cmd and "imgproc" in exe and stat[0] != "Z":
            rank = next((int(v.split(b"=")[1]) for v in env if v.startswith(b"OMPI_COMM_WORLD_RANK=")), 0)
            out[int(pid)] = (rank, (int(stat[11]) + int(stat[12])) / hz)
    return out

def trial(binary, ranks, tag, to_rank0=False):
    out = f"{work}/out-{tag}.png"
    cmd = [binary, "run", "--threads", "1", "--op", "bilateral:d=25", f"{work}/in.png", "-o", out]
    if ranks:
        cmd = ["mpirun", "--oversubscribe", "-np", str(ranks)] + cmd
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    want = ranks or 1
    deadline = time.time() + 120
    while time.time() < deadline:
        ps = procs(f"out-{tag}.png")
        busy = [cpu for rank, cpu in ps.values() if rank != 0 or not ranks]
        if len(ps) == want and busy and all(c > 0.5 for c in busy):
            break
        time.sleep(0.02)
    pids = dict(ps)
    t0 = time.time()
    if to_rank0:
        os.kill(next(pid for pid, (rank, _) in pids.items() if rank == 0), signal.SIGINT)
    else:
        p.send_signal(signal.SIGINT)
    gone = {}
    while p.poll() is None or len(gone) < len(pids):
        live = procs(f"out-{tag}.png")
        for pid in pids:
            if pid not in live and pid not in gone:
                gone[pid] = time.time() - t0
        if p.poll() is not None and "exit" not in gone:
            gone["exit"] = time.time() - t0
        if time.time() - t0 > 30:
            break
        time.sleep(0.005)
    gone.setdefault("exit", time.time() - t0)
    err = p.stderr.read().decode(errors="replace")
    left = [f for f in os.listdir(work) if f.startswith(f"out-{tag}") or f".out-{tag}" in f]
    return {"code": p.returncode, "ranks_gone": max(v for k, v in gone.items() if k != "exit"),
            "exit": gone["exit"], "left": left, "stderr": err.strip().splitlines()[-1:] }

results = {}
for r in range(rounds):
    for b, binary in enumerate(bins):
        for ranks, to_rank0 in ((3, False), (3, True), (0, False)):
            res = trial(binary, ranks, f"{b}-{ranks}-{to_rank0:d}-{r}", to_rank0)
            results.setdefault((b, ranks, to_rank0), []).append(res)
            print(f"round {r + 1} binary {b} ranks {ranks} to rank 0 {to_rank0}: {res}", file=sys.stderr)

print("| binary | command | exit code(s) | every rank gone s (min / median / max) | command returned s (min / median / max) | files left |")
print("|---|---|---|---|---|---|")
for (b, ranks, to_rank0), rs in results.items():
    f = lambda k: "{:.2f} / {:.2f} / {:.2f}".format(min(x[k] for x in rs), statistics.median(x[k] for x in rs), max(x[k] for x in rs))
    codes = ",".join(sorted({str(x["code"]) for x in rs}))
    left = sum(len(x["left"]) for x in rs)
    cmd = "SIGINT to `imgproc` alone" if not ranks else "SIGINT to rank 0 of `mpirun -np 3`" if to_rank0 else "SIGINT to `mpirun -np 3`"
    print(f"| {bins[b]} | {cmd} | {codes} | {f('ranks_gone')} | {f('exit')} | {left} |")
EOF
