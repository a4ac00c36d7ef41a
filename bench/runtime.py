#!/usr/bin/env python3
"""bench/runtime.sh's probes and report: ranks at rest, cancel latency, timed runs.

Every probe starts its command in a session of its own and kills that session when it leaves
(normally, on a deadline, or on SIGTERM/SIGINT from the calling script), so nothing outlives it.
Ranks are the launcher's children that carry OMPI_COMM_WORLD_RANK (mpirun starts local ranks
itself); a command started without mpirun is its own rank 0. CPU time is utime + stime from
/proc/PID/stat (all threads), in clock ticks.

  runtime.py timed --out F -- CMD...                  wall time, exit code, CMD's --json summary
  runtime.py gui-idle --out F --ranks N --seconds S -- CMD...   CPU of each rank of an idle GUI
  runtime.py decode-idle --out F --ranks N -- CMD...  workers' CPU while rank 0 reads its input
  runtime.py cancel --out F --ranks N --busy S -- CMD...        SIGINT to rank 0 mid-job, timings
  runtime.py report RESULTS --into FILE               writes the section into FILE (markers)
"""
import argparse
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import time

HZ = os.sysconf("SC_CLK_TCK")
BEGIN = "<!-- bench/runtime.sh: begin -->"
END = "<!-- bench/runtime.sh: end -->"


def now():
    """Seconds since boot, the clock /proc/PID/stat's start time counts in."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def stat_fields(pid):
    """Fields of /proc/PID/stat after the command name (index 0 = state), or None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def cpu_ticks(pid):
    f = stat_fields(pid)
    return None if f is None else int(f[11]) + int(f[12])


def compute_ticks(pid):
    """CPU ticks of the process's strip-compute threads (imgproc runs the ops on those)."""
    total = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                text = f.read()
        except OSError:
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        if name == "strip-compute":
            f = text.rsplit(")", 1)[1].split()
            total += int(f[11]) + int(f[12])
    return total


def start_secs(pid):
    f = stat_fields(pid)
    return None if f is None else int(f[19]) / HZ


def ended(pid):
    """Exited: gone, or a zombie not yet reaped (it runs no more code either way)."""
    f = stat_fields(pid)
    return f is None or f[0] in ("Z", "X")


def sig_caught(pid):
    """Whether the process had a handler for SIGINT (SigCgt in /proc/PID/status)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))
    except OSError:
        pass
    return None


def rank_of(pid):
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = f.read().split(b"\0")
    except OSError:
        return None
    for kv in env:
        if kv.startswith(b"OMPI_COMM_WORLD_RANK="):
            return int(kv.split(b"=", 1)[1])
    return None


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


class Job:
    """A command in its own session, killed with its whole session when the probe leaves."""

    def __init__(self, cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
        self.proc = subprocess.Popen(cmd, stdout=stdout, stderr=stderr, start_new_session=True)

    def kill(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def ranks(self, n, deadline):
        """PIDs of ranks 0..n-1 (n == 0: the command itself is rank 0, no MPI)."""
        if n == 0:
            return [self.proc.pid]
        while True:
            found = {}
            for c in children(self.proc.pid):
                r = rank_of(c)
                if r is not None:
                    found[r] = c
            if len(found) == n:
                return [found[r] for r in range(n)]
            if self.proc.poll() is not None:
                raise SystemExit(f"runtime.py: the job exited ({self.proc.returncode}) before its {n} ranks were up")
            wait_tick(deadline, f"{n} ranks")

    def wait(self, deadline):
        while self.proc.poll() is None:
            wait_tick(deadline, "the job to exit")
        return self.proc.returncode


def wait_tick(deadline, what, step=0.02):
    if now() > deadline:
        raise SystemExit(f"runtime.py: timed out waiting for {what}")
    time.sleep(step)


def on_term(_sig, _frame):
    raise SystemExit("runtime.py: stopped")


def write(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)


# --- probes ----------------------------------------------------------------------------------------
def machine_busy_secs():
    """CPU seconds the whole machine has spent not idle since boot (/proc/stat)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / HZ  # all but idle and iowait; guest time is inside user


def thread_samples(pid):
    """{tid: (ticks, name, Cpus_allowed_list)} of every thread of a process."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                text = f.read()
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                allowed = next(line.split()[1] for line in f if line.startswith("Cpus_allowed_list:"))
        except (OSError, StopIteration):
            continue
        fields = text.rsplit(")", 1)[1].split()
        out[int(tid)] = (int(fields[11]) + int(fields[12]), text[text.index("(") + 1:text.rindex(")")], allowed)
    return out


class ThreadUse:
    """How many of a rank's threads computed at the same time: per window of at least 0.1 s, the
    threads that ran for 20 ms or more (2 clock ticks; a thread that only polls never does), and
    the cores those threads were allowed."""

    def __init__(self):
        self.last = None  # (time, {tid: ticks})
        self.most = 0
        self.allowed = set()

    def sample(self, pid):
        t, threads = now(), thread_samples(pid)
        if self.last is None:
            self.last = (t, {tid: v[0] for tid, v in threads.items()})
            return
        t0, before = self.last
        if t - t0 < 0.1:
            return
        running = [tid for tid, v in threads.items() if v[0] - before.get(tid, v[0]) >= 2]
        if len(running) >= self.most:
            if len(running) > self.most:
                self.allowed = set()
            self.most = len(running)
            self.allowed |= {threads[tid][2] for tid in running}
        self.last = (t, {tid: v[0] for tid, v in threads.items()})


def cmd_timed(a):
    busy0 = machine_busy_secs()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out_f = open(a.out + ".stdout", "w+b")
    err_f = open(a.out + ".stderr", "w+b")
    job = Job(a.cmd, stdout=out_f, stderr=err_f)
    t0 = time.monotonic()
    deadline = now() + a.timeout
    use = {}  # rank -> ThreadUse
    try:
        while job.proc.poll() is None:
            pids = {}
            for c in children(job.proc.pid):
                r = rank_of(c)
                if r is not None:
                    pids[r] = c
            if not pids and os.path.basename(a.cmd[0]) == "imgproc":
                pids[0] = job.proc.pid  # alone: the command is rank 0
            for r, pid in pids.items():
                use.setdefault(r, ThreadUse()).sample(pid)
            wait_tick(deadline, f"{a.cmd} to finish", 0.02)
    except SystemExit:
        job.kill()
        raise
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # The command and every process it waited for (mpirun reaps its ranks).
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # What everything else on the machine used meanwhile, in cores: the contention this run saw.
    others = max(0.0, machine_busy_secs() - busy0 - cpu) / wall
    out_f.seek(0)
    err_f.seek(0)
    out, err = out_f.read(), err_f.read().decode(errors="replace")
    summary = None
    try:
        summary = json.loads(out) if out.strip() else None
    except json.JSONDecodeError:
        pass
    ranks = [{"rank": r, "threads_at_once": u.most, "allowed": sorted(u.allowed)} for r, u in sorted(use.items())]
    write(a.out, {"cmd": a.cmd, "exit": job.proc.returncode, "wall": wall, "cpu": cpu, "others_cores": others,
                  "ranks": ranks, "json": summary, "stderr": err[-2000:]})
    if job.proc.returncode != 0:
        sys.stderr.write(err)
        raise SystemExit(f"runtime.py: {' '.join(a.cmd)} exited {job.proc.returncode}")


def cmd_gui_idle(a):
    job = Job(a.cmd, stderr=open(a.out + ".log", "w"))
    try:
        deadline = now() + a.timeout
        pids = job.ranks(a.ranks, deadline)
        while True:  # the window is mapped
            r = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", a.title],
                               capture_output=True, text=True)
            if r.returncode == 0 and r.stdout.split():
                win = r.stdout.split()[0]
                break
            if job.proc.poll() is not None:
                raise SystemExit(f"runtime.py: the GUI exited ({job.proc.returncode}) before its window showed")
            wait_tick(deadline, "the window", 0.2)
        window_at = now() - (start_secs(pids[0]) or 0)
        time.sleep(a.settle)
        before = [cpu_ticks(p) for p in pids]
        t0 = now()
        time.sleep(a.seconds)
        after = [cpu_ticks(p) for p in pids]
        span = now() - t0
        if None in before or None in after:
            raise SystemExit("runtime.py: a rank exited while the idle GUI was measured")
        # Close the window as a user would (Ctrl+Q): every rank must shut down and mpirun exit 0.
        subprocess.run(["xdotool", "windowfocus", "--sync", win], capture_output=True, timeout=10)
        subprocess.run(["xdotool", "key", "--window", win, "ctrl+q"], capture_output=True, timeout=10)
        code = job.wait(now() + 30)
        write(a.out, {
            "seconds": span,
            "window_after_start_secs": window_at,
            "exit": code,
            "ranks": [{"rank": r, "cpu_secs": (af - bf) / HZ, "pct": 100 * (af - bf) / HZ / span}
                      for r, (bf, af) in enumerate(zip(before, after))],
        })
    finally:
        job.kill()


def cmd_decode_idle(a):
    """Samples every rank's CPU through the whole job; the report keeps rank 0's read window."""
    job = Job(a.cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        deadline = now() + a.timeout
        pids = job.ranks(a.ranks, deadline)
        starts = [start_secs(p) for p in pids]
        samples = []  # (time since boot, ticks per rank)
        while job.proc.poll() is None:
            samples.append((now(), [cpu_ticks(p) for p in pids]))
            wait_tick(deadline, "the job", 0.01)
        out = job.proc.stdout.read()
        summary = json.loads(out)
        r0 = summary["per_rank"][0]
        lo = starts[0] + summary["startup_secs"]
        hi = lo + r0["read_secs"]
        inside = [(t, ticks) for t, ticks in samples if lo <= t <= hi and None not in ticks]
        if len(inside) < 2:
            raise SystemExit("runtime.py: no samples inside rank 0's read")
        (t0, b), (t1, e) = inside[0], inside[-1]
        write(a.out, {
            "exit": job.proc.returncode,
            "read_secs": r0["read_secs"],
            "startup_secs": summary["startup_secs"],
            "seconds": t1 - t0,
            "ranks": [{"rank": r, "cpu_secs": (y - x) / HZ, "pct": 100 * (y - x) / HZ / (t1 - t0)}
                      for r, (x, y) in enumerate(zip(b, e))],
        })
    finally:
        job.kill()


def cmd_cancel(a):
    err_path = a.out + ".stderr"
    job = Job(a.cmd, stderr=open(err_path, "w"))
    try:
        deadline = now() + a.timeout
        pids = job.ranks(a.ranks, deadline)
        busy = pids[1:] or pids  # the workers; alone, the process itself
        # Computing, not starting: loading the libraries alone costs a few tenths of a second of CPU.
        while not all(compute_ticks(p) / HZ >= a.busy for p in busy):
            if any(ended(p) for p in pids):
                raise SystemExit("runtime.py: a rank ended before it was busy: make the job longer")
            wait_tick(deadline, "every rank computing", 0.01)
        caught = sig_caught(pids[0])
        t0 = now()
        os.kill(pids[0], signal.SIGINT)
        said = None
        gone = [None] * len(pids)
        launcher = None
        stop = t0 + 30
        while said is None or None in gone or launcher is None:
            t = now()
            if said is None:
                with open(err_path, errors="replace") as f:
                    if "cancelled" in f.read():
                        said = t - t0
            for i, p in enumerate(pids):
                if gone[i] is None and ended(p):
                    gone[i] = t - t0
            if launcher is None and job.proc.poll() is not None:
                launcher = t - t0
            if t > stop:
                break
            time.sleep(0.001)
        code = job.proc.poll()
        write(a.out, {"said_cancelled": said, "rank_exits": gone, "all_exited": None if None in gone else max(gone),
                      "launcher_exit": launcher, "exit": code,
                      "rank0_catches_sigint": caught,
                      "stderr": open(err_path, errors="replace").read()[-1000:]})
        if None in gone or said is None:
            raise SystemExit(f"runtime.py: the cancel did not finish within 30 s: {a.out}")
    finally:
        job.kill()


# --- report ----------------------------------------------------------------------------------------
def load(results, prefix):
    out = {}
    for name in sorted(os.listdir(results)):
        if name.startswith(prefix) and name.endswith(".json"):
            with open(os.path.join(results, name)) as f:
                out[name[len(prefix):-len(".json")]] = json.load(f)
    return out


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else float("nan")


def autogroup():
    try:
        with open("/proc/sys/kernel/sched_autogroup_enabled") as f:
            return f.read().strip() == "1"
    except OSError:
        return False


def others(runs):
    """Median CPU the rest of the machine used during these runs, in cores ('?' if not recorded)."""
    xs = [r.get("others_cores") for r in runs if r.get("others_cores") is not None]
    return f"{statistics.median(xs):.1f}" if xs else "?"


def computing(runs):
    """'2 (0-1)': per rank, the most threads that computed at once in any of these runs, and the
    cores they were allowed; ranks separated by '; '."""
    per = {}
    for r in runs:
        for x in r.get("ranks") or []:
            n, allowed = per.get(x["rank"], (0, set()))
            if x["threads_at_once"] > n:
                per[x["rank"]] = (x["threads_at_once"], set(x["allowed"]))
            elif x["threads_at_once"] == n:
                per[x["rank"]] = (n, allowed | set(x["allowed"]))
    if not per:
        return "?"
    return "; ".join(f"{n} ({', '.join(sorted(a)) or '-'})" for _, (n, a) in sorted(per.items()))


def by_key(runs):
    """{'cfg-op-rep': run} -> {('cfg', 'op'): [runs]}"""
    groups = {}
    for key, r in runs.items():
        cfg_op, _rep = key.rsplit("-", 1)
        cfg, op = cfg_op.split("-", 1)
        groups.setdefault((cfg, op), []).append(r)
    return groups


def cmd_report(a):
    res = a.results
    # The run's facts (date, load, machine) travel in RT_* variables; they are kept beside the raw
    # results, so `runtime.sh --report-only` can write the section again from the same run.
    saved = os.path.join(res, "run-env.json")
    env = {k: v for k, v in os.environ.items() if k.startswith("RT_")}
    if env:
        write(saved, env)
    elif os.path.exists(saved):
        with open(saved) as f:
            env = json.load(f)
    w = []
    p = w.append
    quick = env.get("RT_QUICK") == "true"
    p("## Ranks at rest, cancel, threads and start-up" + (" (quick run: not the reference numbers)" if quick else ""))
    p("")
    p(f"Measured {env.get('RT_DATE', '?')} by `bash bench/runtime.sh` ({env.get('RT_SECONDS', '?')} s) at commit "
      f"{env.get('RT_COMMIT', '?')} (imgproc's sources as of {env.get('RT_SRC_COMMIT', '?')}), on {env.get('RT_NPROC', '?')} cores ({env.get('RT_CPU', '?')}), "
      f"{env.get('RT_OMPI', '?')}, OpenCV {env.get('RT_OPENCV', '?')}. Load average at start / end: "
      f"{env.get('RT_LOAD_START', '?')} / {env.get('RT_LOAD_END', '?')}. The machine was shared with other "
      "engineers' builds and tests: configurations run interleaved (A B A B ...), medians are shown, and "
      "ratios within this run are what to compare.")
    p("")
    p("Reproduce:")
    p("")
    p("```bash")
    p(f"git worktree add ../wt-old {env.get('RT_OLD_REV', '21010d8')} && (cd ../wt-old && cargo build --release --locked --bins)")
    p("bash bench/runtime.sh --old ../wt-old/target/release/imgproc   # writes this section; --quick checks the script")
    p("```")
    p("")
    p("Every output of the thread and old-versus-new runs was compared byte for byte (`cmp`) with "
      "`imgproc run --reference`'s; the script stops at the first difference. Images are synthetic "
      f"(`target/release/examples/synth {env.get('RT_W', '?')} {env.get('RT_H', '?')} 3 42`), BMP in and out "
      "so decoding and encoding take little of the time, unless said otherwise.")
    p("")
    verdicts = []

    # 1. idle ---------------------------------------------------------------------------------------
    p("### Ranks at rest")
    p("")
    idle = load(res, "idle-gui-")
    if idle:
        secs = env.get("RT_IDLE_SECS", "?")
        p(f"`mpirun --oversubscribe -np 3 target/release/imgproc` under Xvfb with a fresh `HOME` (no job "
          f"reopened), the window shown for {env.get('RT_IDLE_SETTLE', '?')} s, then each rank's utime + stime "
          f"from `/proc/PID/stat` over {secs} s. % of one core:")
        p("")
        p("| trial | rank 0 (GUI) | rank 1 | rank 2 | mpirun exit after Ctrl+Q |")
        p("|---|---|---|---|---|")
        worst = 0.0
        for k, r in sorted(idle.items()):
            pct = [x["pct"] for x in r["ranks"]]
            worst = max([worst] + pct[1:])
            p(f"| {k} | {pct[0]:.2f} | " + " | ".join(f"{x:.2f}" for x in pct[1:]) + f" | {r['exit']} |")
        p("")
        ok = worst < 2
        verdicts.append(("an idle GUI job of 3 ranks uses under 2% of a core per worker over "
                         f"{secs} s", f"worst worker {worst:.2f}%", ok))
    dec = load(res, "idle-decode-")
    if dec:
        p(f"A CLI job's workers while rank 0 decodes: `mpirun --oversubscribe -np 3 imgproc run --op invert` on a "
          f"{env.get('RT_BIG', '?')} PNG; each rank sampled every 10 ms, kept: rank 0's read (from `startup_secs` "
          "to `startup_secs + read_secs` after its start).")
        p("")
        p("| trial | read s | rank 0 % (decoding) | rank 1 % | rank 2 % |")
        p("|---|---|---|---|---|")
        for k, r in sorted(dec.items()):
            pct = [x["pct"] for x in r["ranks"]]
            p(f"| {k} | {r['seconds']:.2f} | {pct[0]:.1f} | " + " | ".join(f"{x:.1f}" for x in pct[1:]) + " |")
        p("")

    # 3. cancel -------------------------------------------------------------------------------------
    p("### Cancel latency")
    p("")
    for kind, title in (("mpi", "`mpirun -np 3 imgproc run --op bilateral:d=25` (SIGINT to rank 0's PID)"),
                        ("alone", "`imgproc run --op bilateral:d=25` alone (SIGINT)")):
        c = load(res, f"cancel-{kind}-")
        if not c:
            continue
        said = [r["said_cancelled"] for r in c.values()]
        allx = [r["all_exited"] for r in c.values()]
        launch = [r["launcher_exit"] for r in c.values()]
        codes = sorted({r["exit"] for r in c.values()})
        p(f"{title} on the {env.get('RT_W', '?')}×{env.get('RT_H', '?')} image, signalled once "
          f"{'every worker' if kind == 'mpi' else 'it'} had computed {env.get('RT_BUSY', '?')} s (CPU of its "
          f"strip-compute threads); {len(c)} trials; exit code(s) {', '.join(map(str, codes))}. Seconds "
          "from the signal:")
        p("")
        p("| | min | median | max |")
        p("|---|---|---|---|")
        p(f"| rank 0 printed `cancelled` (stderr, as the caller sees it) | {min(said):.3f} | {med(said):.3f} | {max(said):.3f} |")
        if kind == "mpi":
            per = list(zip(*[r["rank_exits"] for r in c.values()]))
            for i, xs in enumerate(per):
                p(f"| rank {i} exited (zombie or gone) | {min(xs):.3f} | {med(xs):.3f} | {max(xs):.3f} |")
            p(f"| every rank exited | {min(allx):.3f} | {med(allx):.3f} | {max(allx):.3f} |")
            p(f"| mpirun exited | {min(launch):.3f} | {med(launch):.3f} | {max(launch):.3f} |")
            p("")
            p("Every rank has exited long before `mpirun` does: once rank 0 exits with 130, Open MPI reports "
              "the non-zero exit and aborts the job (\"Primary job terminated normally, but 1 process returned "
              "a non-zero exit code\"), which takes it up to a few more seconds; its own exit code is rank 0's.")
            verdicts.append(("cancel: all ranks back waiting within 0.5 s (8K bilateral:d=25, 3 ranks)",
                             f"every rank exited: median {med(allx):.3f} s, max {max(allx):.3f} s",
                             max(allx) <= 0.5))
        else:
            p(f"| the process exited | {min(allx):.3f} | {med(allx):.3f} | {max(allx):.3f} |")
            verdicts.append(("cancel alone within 0.5 s", f"median {med(allx):.3f} s, max {max(allx):.3f} s",
                             max(allx) <= 0.5))
        p("")

    # 4. threads ------------------------------------------------------------------------------------
    th = by_key(load(res, "threads-"))
    cfgs = [
        ("a", "`imgproc run` alone, default threads"),
        ("b", "`imgproc run --reference`, default threads"),
        ("c", "`imgproc run --threads 1` alone"),
        ("d", "`mpirun -np 1 imgproc run` (default threads)"),
        ("e", "`mpirun -np 1 imgproc run --threads 1`"),
        ("f", "`mpirun -np 2 imgproc run` (default threads)"),
        ("g", "old `mpirun -np 1 imgproc run --threads 2`"),
        ("h", "old `mpirun -np 1 imgproc run --threads 1`"),
    ]
    ops = []
    for _, op in th:
        if op not in ops:
            ops.append(op)
    if th:
        p("### Threads and ranks on one host")
        p("")
        p("Why more threads used to be slower: `mpirun` binds each rank to one core when it starts two ranks "
          "or fewer, so OpenCV's threads in a rank shared that core. `grep Cpus_allowed_list /proc/self/status` "
          "under mpirun on this machine:")
        p("")
        p("```")
        p(env.get("RT_CPUS", "?").rstrip())
        p("```")
        p("")
        p("The fix (commit 748e950): a rank asked for more threads than it is bound to widens its affinity to "
          "every core of its host, and the default is the host's cores ÷ the job's ranks on that host. "
          "*old* is commit " + env.get("RT_OLD_REV", "?") + ". Median of "
          f"{env.get('RT_REPS', '?')} interleaved runs; *wall* is the whole command (process start to exit), "
          "*job* is `wall_secs` from `--json` (read, filter, write; MPI start-up excluded), *compute* the "
          "slowest rank's, *threads* per rank from `per_rank[].threads`, *CPU* the whole command's user + "
          "system time (every rank). *threads at once* is, per rank, the most threads that computed at the same "
          "time (each ran 20 ms or more in a window of 0.1 s, from `/proc/PID/task/*/stat`), with the cores "
          "they were allowed (`Cpus_allowed_list`): whether a rank's threads really ran side by side, however "
          "busy the machine was.")
        p("")
        contended = med([r.get("others_cores") for rs in th.values() for r in rs]) > 0.5
        if autogroup():
            p("Read the times with care on a shared machine: this kernel schedules by session (autogroup, "
              "`/proc/sys/kernel/sched_autogroup_enabled` = 1). While other sessions keep the cores busy, a "
              "job gets about its session's share of the machine however many threads or ranks it runs, so "
              "a second thread or rank can only show its gain when the rest of the machine is idle. *others' "
              "load* is the CPU the rest of the machine used during the runs (from `/proc/stat`), in cores.")
            p("")
        p("| op | configuration | threads | threads at once (cores allowed) | wall s | job s | compute s | CPU s | "
          "start-up s | job vs `--reference` | others' load (cores) |")
        p("|---|---|---|---|---|---|---|---|---|---|---|")
        for op in ops:
            ref = med([r["json"]["wall_secs"] for r in th.get(("b", op), [])])
            for cfg, label in cfgs:
                rs = th.get((cfg, op))
                if not rs:
                    continue
                js = [r["json"] for r in rs]
                threads = ",".join(str(x.get("threads", "?")) for x in js[0]["per_rank"])
                job = med([j["wall_secs"] for j in js])
                comp = med([max(x["compute_secs"] for x in j["per_rank"]) for j in js])
                st = med([j.get("startup_secs") for j in js]) if "startup_secs" in js[0] else None
                p(f"| {op} | ({cfg}) {label} | {threads} | {computing(rs)} | {med([r['wall'] for r in rs]):.2f} | "
                  f"{job:.2f} | {comp:.2f} | {med([r.get('cpu') for r in rs]):.2f} | "
                  f"{'—' if st is None or cfg == 'b' else f'{st:.2f}'} | {job / ref:.2f}× | {others(rs)} |")
        p("")
        for op in ops:
            def job(cfg):
                return med([r["json"]["wall_secs"] for r in th.get((cfg, op), [])])

            def cpu(cfg):
                return med([r.get("cpu") for r in th.get((cfg, op), [])])
            if ("a", op) in th and ("b", op) in th:
                ok = job("a") <= job("b") * 1.05
                more = cpu("a") / cpu("b")
                if not ok and contended and more <= 1.05:
                    ok = None
                verdicts.append((f"{op}: `imgproc run` alone as fast as `--reference`",
                                 f"job {job('a'):.2f} s vs {job('b'):.2f} s ({job('a') / job('b'):.2f}×); CPU "
                                 f"{cpu('a'):.2f} s vs {cpu('b'):.2f} s ({more:.2f}×)", ok))
            if ("d", op) in th and ("e", op) in th:
                ok = job("d") <= job("e") * 1.05
                if not ok and contended:
                    ok = None
                verdicts.append((f"{op}: one rank under mpirun with N threads at least as fast as with one",
                                 f"{job('d'):.2f} s vs {job('e'):.2f} s ({job('d') / job('e'):.2f}×); "
                                 f"threads at once {computing(th[('d', op)])}", ok))

    # 2. old vs new ---------------------------------------------------------------------------------
    on = by_key(load(res, "oldnew-"))
    if on:
        p("### One rank per core: this commit against the previous code")
        p("")
        p(f"`mpirun -np 2 imgproc run --threads 1 --json` on the {env.get('RT_W', '?')}×{env.get('RT_H', '?')} BMP, "
          f"*new* = this commit, *old* = {env.get('RT_OLD_REV', '?')}, interleaved, median of {env.get('RT_REPS', '?')}.")
        p("")
        p("| op | old wall s | new wall s | new / old | old job s | new job s | new / old | old CPU s | new CPU s | "
          "new start-up s | others' load (cores) |")
        p("|---|---|---|---|---|---|---|---|---|---|---|")
        for op in [o for (c, o) in on if c == "new"]:
            old, new = on.get(("old", op), []), on.get(("new", op), [])
            if not old or not new:
                continue
            ow, nw = med([r["wall"] for r in old]), med([r["wall"] for r in new])
            oj, nj = med([r["json"]["wall_secs"] for r in old]), med([r["json"]["wall_secs"] for r in new])
            ns = med([r["json"]["startup_secs"] for r in new])
            p(f"| {op} | {ow:.2f} | {nw:.2f} | {nw / ow:.2f}× | {oj:.2f} | {nj:.2f} | {nj / oj:.2f}× | "
              f"{med([r.get('cpu') for r in old]):.2f} | {med([r.get('cpu') for r in new]):.2f} | {ns:.2f} | "
              f"{others(old + new)} |")
            verdicts.append((f"{op}: 1 rank per core no slower than before (job time, 5% noise allowed)",
                             f"{nj:.2f} s vs {oj:.2f} s ({nj / oj:.2f}×)", nj <= oj * 1.05))
        p("")
        cpu_pairs = [(op, med([r.get("cpu") for r in on.get(("old", op), [])]),
                      med([r.get("cpu") for r in on.get(("new", op), [])])) for op in [o for (c, o) in on if c == "new"]]
        if cpu_pairs and all(n < o for _, o, n in cpu_pairs):
            p("The new code does the same work with less CPU (" +
              ", ".join(f"{op} {n:.2f} s against {o:.2f} s" for op, o, n in cpu_pairs) + "). The old ranks "
              "waited in blocking MPI calls (the command broadcast, blocking receives), which Open MPI completes "
              "by polling at full speed: rank 0, done with its own strip, polled while rank 1 still computed. "
              "With the machine's share fixed by the other sessions, that polling took CPU from the rank still "
              "computing; on idle cores, each rank on its own core, the gap would be smaller.")
            p("")

    # reading ----------------------------------------------------------------------------------------
    if th:
        def job(cfg, op):
            return med([r["json"]["wall_secs"] for r in th.get((cfg, op), [])])

        p("### Layout: one rank per node with threads, or one rank per core")
        p("")
        lines = []
        for op in ops:
            parts = []
            if ("d", op) in th and ("e", op) in th:
                parts.append(f"one rank under mpirun with {env.get('RT_NPROC', 'N')} threads {job('d', op):.2f} s "
                             f"against 1 thread {job('e', op):.2f} s ({job('d', op) / job('e', op):.2f}×)")
            if ("g", op) in th and ("h", op) in th:
                parts.append(f"the old code, bound to one core: 2 threads {job('g', op):.2f} s against 1 "
                             f"thread {job('h', op):.2f} s ({job('g', op) / job('h', op):.2f}×)")
            if ("f", op) in th and ("d", op) in th:
                parts.append(f"one rank per core (2 × 1 thread) {job('f', op):.2f} s against one rank with "
                             f"2 threads {job('d', op):.2f} s ({job('f', op) / job('d', op):.2f}×)")
            if ("a", op) in th and ("b", op) in th:
                parts.append(f"alone {job('a', op):.2f} s against `--reference` {job('b', op):.2f} s")
            lines.append(f"- **{op}**: " + "; ".join(parts) + ".")
        p("\n".join(lines))
        p("")
        pairs = [(op, job("f", op), job("d", op)) for op in ops if ("f", op) in th and ("d", op) in th]
        load_all = med([r.get("others_cores") for rs in th.values() for r in rs])
        tbb_warned = any("TBB Warning" in r.get("stderr", "") for (c, _), rs in th.items() if c == "g" for r in rs)
        if pairs:
            threads_win = [op for op, f, d in pairs if d <= f * 1.05]
            ranks_win = [op for op, f, d in pairs if d > f * 1.05]
            ratios = ", ".join(f"{op} {f / d:.2f}×" for op, f, d in pairs)
            if load_all > 0.5:
                p(f"The rest of the machine used {load_all:.1f} of its {env.get('RT_NPROC', '?')} cores during these "
                  "runs, so every configuration ran on about the same share of CPU: the times compare the work "
                  "each layout does, not how it scales on idle cores. What they show: under a fixed share, one "
                  f"rank per core took longer than one rank with a thread per core (job time, 2 ranks ÷ 1 rank: "
                  f"{ratios}): two processes must send and collect strips. The *threads at once* column "
                  "shows the other half: the one rank's threads ran side by side and were allowed every core" + (" (the old code's were held to one, and OpenCV's pool said so: \"TBB Warning: The "
                            "number of workers is currently limited to 0\")" if tbb_warned else "") +
                  ". How far the threads scale on an idle machine is not measured by this run.")
                p("")
            if not ranks_win:
                p("Recommended layout: **one rank per node**, with the default threads (the host's cores): "
                  "`host slots=1` in the hostfile, or `mpirun --map-by ppr:1:node`. It was at least as fast as "
                  f"one rank per core here ({ratios} for 2 ranks ÷ 1), runs one process per node and sends "
                  "each node's rows once. One rank per core stays supported (the default then gives each rank "
                  "one thread); the old-versus-new table above compares it with the previous code.")
            elif not threads_win:
                p(f"Recommended layout: **one rank per core** ({ratios} for 2 ranks ÷ 1 rank with threads): the "
                  "hostfile lists each node's cores as slots and the default gives each rank one thread.")
            else:
                p(f"Mixed ({ratios} for 2 ranks ÷ 1 rank with threads): one rank with threads is as fast for "
                  f"{', '.join(threads_win)}, one rank per core faster for {', '.join(ranks_win)}. Recommended "
                  "layout: one rank per core when those ops dominate, else one rank per node.")
            p("")

    # 5. start-up -----------------------------------------------------------------------------------
    su = by_key(load(res, "startup-"))
    if su:
        p("### Start-up")
        p("")
        p(f"Median of {env.get('RT_STARTUP_REPS', '?')} interleaved runs on a {env.get('RT_SMALL', '?')} PNG. "
          "*start-up* is `startup_secs`: from the process's start to every rank ready (MPI_Init, the ranks' hello, "
          "threads set).")
        p("")
        p("| command | wall s (min / median / max) | start-up s (median) | job s (median) | CPU s (median) |")
        p("|---|---|---|---|---|")
        labels = {
            "true": "`mpirun -np 2 /bin/true` (Open MPI's own launch cost)",
            "ob1": "`mpirun -np 2 imgproc run --op invert` (default: pml ob1)",
            "auto": "`OMPI_MCA_pml='^none' mpirun -np 2 imgproc run --op invert` (Open MPI probes every pml)",
            "alone": "`imgproc run --op invert` alone (no MPI)",
            "ops": "`imgproc ops` (prints the op list: process start and exit only)",
        }
        for key in ("true", "ob1", "auto", "alone", "ops"):
            rs = su.get((key, "x"))
            if not rs:
                continue
            walls = [r["wall"] for r in rs]
            st = med([r["json"]["startup_secs"] for r in rs if r["json"]]) if rs[0]["json"] else None
            jb = med([r["json"]["wall_secs"] for r in rs if r["json"]]) if rs[0]["json"] else None
            p(f"| {labels[key]} | {min(walls):.2f} / {med(walls):.2f} / {max(walls):.2f} | "
              f"{'—' if st is None else f'{st:.2f}'} | {'—' if jb is None else f'{jb:.2f}'} | "
              f"{med([r.get('cpu') for r in rs]):.2f} |")
        p("")

        def m(key, field):
            rs = su.get((key, "x"), [])
            vals = [r["json"][field] for r in rs if r.get("json")] if field != "wall" else [r["wall"] for r in rs]
            return med(vals)
        if ("ob1", "x") in su and ("auto", "x") in su:
            d = m("auto", "startup_secs") - m("ob1", "startup_secs")
            p(f"ob1 by default saves {d:.2f} s of start-up (median) against Open MPI's own selection "
              f"({m('ob1', 'startup_secs'):.2f} s against {m('auto', 'startup_secs'):.2f} s); `mpirun` itself "
              f"takes {m('true', 'wall'):.2f} s to start and stop two processes that do nothing.")
        if ("alone", "x") in su and ("ops", "x") in su:
            cpu_ops = med([r.get("cpu") for r in su[("ops", "x")]])
            p(f"Alone there is no MPI, yet `startup_secs` is {m('alone', 'startup_secs'):.2f} s: starting the "
              f"process at all costs that much here (`imgproc ops` takes {m('ops', 'wall'):.2f} s and "
              f"{cpu_ops:.2f} s of CPU), most of it the dynamic loader and the start-up code of the "
              f"{env.get('RT_LIBS', '?')} shared libraries the binary links (OpenCV, GTK for the GUI's file "
              "dialogs, Open MPI), stretched by the busy machine.")
        p("")

    # targets ----------------------------------------------------------------------------------------
    p("### Targets")
    p("")
    p("| target | measured | met |")
    p("|---|---|---|")
    for t, m, ok in verdicts:
        p(f"| {t} | {m} | {'yes' if ok else 'unclear: contended' if ok is None else '**no**'} |")
    p("")
    missed = [t for t, _m, ok in verdicts if ok is False]
    if any("canny: `imgproc run` alone" in t for t in missed):
        p("Why Canny alone is slower than `--reference`: the strip path computes Canny so that strips can "
          "join edges exactly, as `Canny(low, low)` and `Canny(high, high)` on the strip and a "
          "connected-component labelling of the candidates in one thread, then rank 0's union-find "
          "(`src/global.rs`). Alone, the whole image is one strip and pays all of that: the CPU column "
          "above shows the extra work. A job of one strip could call `cv::Canny` directly, as `--reference` does.")
        p("")
    if any("1 rank per core no slower" in t for t in missed):
        p("A missed old-versus-new target: compare the CPU columns; the job times come from the same "
          "interleaved runs.")
        p("")
    notes = os.path.join(res, "notes.md")
    if os.path.exists(notes):
        with open(notes) as f:
            p(f.read().rstrip())
        p("")
    section = "\n".join(w).rstrip() + "\n"
    splice(a.into, section)


def splice(path, section):
    """Replaces the text between the markers in `path` (or appends it once, with the markers)."""
    text = open(path).read() if os.path.exists(path) else ""
    block = f"{BEGIN}\n{section}{END}\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        text = head + block + (("\n" + tail) if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    with open(path, "w") as f:
        f.write(text)


def main():
    signal.signal(signal.SIGTERM, on_term)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    for name in ("timed", "gui-idle", "decode-idle", "cancel"):
        s = sub.add_parser(name)
        s.add_argument("--out", required=True)
        s.add_argument("--timeout", type=float, default=300)
        s.add_argument("--ranks", type=int, default=0)
        s.add_argument("--seconds", type=float, default=10)
        s.add_argument("--settle", type=float, default=1)
        s.add_argument("--busy", type=float, default=0.5)
        s.add_argument("--title", default="^imgproc .* rank")
        s.add_argument("cmd", nargs="+")
    s = sub.add_parser("report")
    s.add_argument("results")
    s.add_argument("--into", required=True)
    a = ap.parse_args()
    {"timed": cmd_timed, "gui-idle": cmd_gui_idle, "decode-idle": cmd_decode_idle, "cancel": cmd_cancel,
     "report": cmd_report}[a.what](a)


if __name__ == "__main__":
    main()
