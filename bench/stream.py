#!/usr/bin/env python3
"""Reports of bench/stream.sh and bench/huge.sh: the section "One image, streamed (issue 11)" of
docs/BENCHMARKS.md and its subsection on the 32768×32768 TIFF, each between HTML comment markers
(a second run replaces its own block, the rest of the file is kept).

  stream.py report RESULTS --into FILE   the 8K table from bench/stream.sh's results
  stream.py huge RESULTS --into FILE     the 32768² subsection from bench/huge.sh's results
  stream.py bands NP3.json               row bands to compare: "TOP ROWS" per line

Results are one file per run: NAME.json (the run's --json summary, empty for vips) and NAME.secs
(wall seconds measured outside, mpirun included), and `env` (KEY=VALUE lines of the run).
"""
import argparse
import glob
import json
import os
import re
import statistics
import subprocess

STREAM = ("<!-- bench/stream.sh: begin -->", "<!-- bench/stream.sh: end -->")
HUGE = ("<!-- bench/huge.sh: begin -->", "<!-- bench/huge.sh: end -->")
RUNTIME_BEGIN = "<!-- bench/runtime.sh: begin -->"
MB = 1e6
# The memory bound of issue 11: each rank's peak ≤ 1.5 × its strip's input bytes + 100 MB.
BOUND_FACTOR, BOUND_EXTRA = 1.5, 100 * MB


def load_env(res):
    env = {}
    with open(os.path.join(res, "env")) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("=")
            env[k] = v
    return env


def load_json(path):
    with open(path) as f:
        text = f.read().strip()
    return json.loads(text) if text else None


def secs(path):
    with open(path) as f:
        return float(f.read())


def strip_bytes(rank, width, channels=3):
    first, end = rank["rows"]
    return (end - first) * width * channels


def peaks_rows(summary, channels=3):
    """(rank, rows, strip MB, peak MB, bound MB, within) for every rank of a summary."""
    out = []
    for r in sorted(summary["per_rank"], key=lambda r: r["rank"]):
        strip = strip_bytes(r, summary["width"], channels)
        bound = BOUND_FACTOR * strip + BOUND_EXTRA
        peak = r["peak_rss_bytes"]
        out.append((r["rank"], r["rows"], strip / MB, peak / MB, bound / MB, peak <= bound))
    return out


# --- bands -------------------------------------------------------------------------------------


def bands(a):
    s = load_json(a.summary)
    h = s["height"]
    n = 16
    tops = {0, h - n}
    for r in s["per_rank"]:
        first, end = r["rows"]
        if first > 0:
            tops.add(first - n)
        tops.add((first + end) // 2)
    for t in sorted(tops):
        t = max(0, min(t, h - 2 * n))
        print(t, 2 * n)


# --- huge --------------------------------------------------------------------------------------


def huge(a):
    res = a.results
    env = load_env(res)
    np3 = load_json(os.path.join(res, "np3.json"))
    ref = load_json(os.path.join(res, "ref.json"))
    size = int(env["size"])
    w = []
    p = w.append
    p(f"### A {size}×{size} colour TIFF on 3 ranks")
    p("")
    p(f"Measured {env['date']} by `bash bench/huge.sh` ({env['seconds']} s) at commit {env['commit']}, "
      f"on 2 cores, {env['ompi']}, OpenCV {env['opencv']}. Load average at start / end: "
      f"{env['load_start']} / {env['load_end']}. One run of each (the reference alone needs about 7 GB).")
    p("")
    p(f"Input: `target/release/examples/synth {size} {size} 3 42 big.tif` (OpenCV's LZW TIFF, "
      f"{int(env['input_bytes']) / MB:.0f} MB on disk, {size * size * 3 / MB:.0f} MB decoded), "
      f"op `gaussian`. Wall is measured outside (mpirun included); job is `wall_secs` of `--json`.")
    p("")
    p("| run | wall s | job s | output MB | peak MB (rank 0) | io |")
    p("|---|---|---|---|---|---|")
    p(f"| `imgproc run --reference` | {secs(os.path.join(res, 'ref.secs')):.1f} | {ref['wall_secs']:.1f} | "
      f"{int(env['ref_bytes']) / MB:.0f} | {ref['rank0_peak_rss_bytes'] / MB:.0f} | whole image in one process |")
    p(f"| `mpirun -np 3 imgproc run` | {secs(os.path.join(res, 'np3.secs')):.1f} | {np3['wall_secs']:.1f} | "
      f"{int(env['out_bytes']) / MB:.0f} | {np3['rank0_peak_rss_bytes'] / MB:.0f} | {np3.get('io', '?')} |")
    p("")
    p("Every rank's peak resident memory against the bound 1.5 × its strip's input bytes (rows × width × 3) "
      "+ 100 MB:")
    p("")
    p("| rank | rows | strip MB | peak MB | bound MB | peak / strip | within |")
    p("|---|---|---|---|---|---|---|")
    for rank, rows, strip, peak, bound, ok in peaks_rows(np3):
        p(f"| {rank} | {rows[0]}–{rows[1]} | {strip:.0f} | {peak:.0f} | {bound:.0f} | {peak / strip:.2f} | "
          f"{'yes' if ok else 'NO'} |")
    p("")
    p("Seconds per phase of each rank (from its timeline; *in* is reading its own rows of the TIFF). "
      "3 ranks share 2 cores here, so each phase runs at about two thirds of a core's speed: the "
      "target of this run is memory and exactness, not speed.")
    p("")
    p("| rank | in | filter | encode | write | job |")
    p("|---|---|---|---|---|---|")
    for r in sorted(np3["per_rank"], key=lambda r: r["rank"]):
        ph = phase_secs(r)
        p(f"| {r['rank']} | {ph['input']:.1f} | {ph['filter']:.1f} | {ph['encode']:.1f} | {ph['write']:.1f} | "
          f"{np3['wall_secs']:.1f} |")
    p("")
    compared = open(os.path.join(res, "compared")).read().split("\n")
    compared = [c.split() for c in compared if c.strip()]
    rows = sum(int(c[1]) for c in compared)
    same = all(c[2] == "same" for c in compared)
    p(f"Exactness, sampled: {len(compared)} full-width bands of {compared[0][1]} rows ({rows} rows, "
      f"{rows * size * 3 / MB:.0f} MB: across every strip boundary, the first and last rows, the middle "
      f"of each strip) cut from both outputs with `vips extract_area` and compared in decoded pixels "
      f"(`target/release/examples/same_pixels`): {'all equal' if same else 'DIFFERENT'}.")
    p("")
    p(f"Reproduce: `bash bench/huge.sh` (`--quick` checks it on a 4096×4096 image; `--keep` leaves the images).")
    p("")
    splice(a.into, HUGE, "\n".join(w), after=STREAM[1])


# --- report ------------------------------------------------------------------------------------

FORMATS = [("png", "PNG→PNG"), ("tif", "TIFF→TIFF"), ("jpg", "JPEG→JPEG")]
CONFIGS = ["ref", "np1", "np2", "np3", "whole2", "vips"]
VIPS_OP = {"gaussian": "gaussblur 1.1", "median": "rank 5 5 12", "canny": "canny", "invert": "invert"}
INPUT_PHASES = ("open", "decode", "read", "receive")


class Runs:
    """The runs of one input format, op and configuration: whole seconds and summaries by round."""

    def __init__(self, res, key, cfg):
        self.whole, self.summaries, self.cpu = [], [], []
        for path in sorted(glob.glob(os.path.join(res, f"{key}-{cfg}-*.secs"))):
            self.whole.append(secs(path))
            self.summaries.append(load_json(path[: -len(".secs")] + ".json"))
            cpu = path[: -len(".secs")] + ".cpu"
            if os.path.exists(cpu):
                # bash's `time`: user and system seconds of the command and the processes it waited for.
                self.cpu.append(sum(float(x) for x in open(cpu).read().split()))

    def __bool__(self):
        return bool(self.whole)

    def whole_median(self):
        return statistics.median(self.whole)

    def job_median(self):
        return statistics.median(s["wall_secs"] for s in self.summaries)

    def whole_min(self):
        return min(self.whole)

    def job_min(self):
        return min(s["wall_secs"] for s in self.summaries)

    def cpu_median(self):
        return statistics.median(self.cpu) if self.cpu else None

    def startup_median(self):
        return statistics.median(s.get("startup_secs", 0.0) for s in self.summaries)

    def median_summary(self):
        """The summary of the run with the median whole time (the lower middle for an even count)."""
        order = sorted(range(len(self.whole)), key=lambda i: self.whole[i])
        return self.summaries[order[(len(order) - 1) // 2]]


def phase_secs(rank):
    """Seconds per phase group of one rank's timeline: input, filter, encode, write."""
    out = {"input": 0.0, "filter": 0.0, "encode": 0.0, "write": 0.0}
    for span in rank.get("timeline", []):
        ph = span["phase"]
        group = "input" if ph.startswith(INPUT_PHASES) else ph
        if group in out:
            out[group] += span["end"] - span["start"]
    return out


def fmt_s(v):
    return "–" if v is None else f"{v:.2f}"


def ratio(a, b):
    return "–" if a is None or b is None else f"{a / b:.2f}"


def report(a):
    res = a.results
    env = load_env(res)
    ops = []
    for path in sorted(glob.glob(os.path.join(res, "*-ref-1.secs"))):
        if os.path.basename(path).startswith("fixed-"):
            continue
        op = os.path.basename(path).split("-")[1]
        if op not in ops:
            ops.append(op)
    order = ["gaussian", "median", "canny", "bilateral", "invert"]
    ops.sort(key=lambda o: order.index(o) if o in order else len(order))
    formats = [(f, name) for f, name in FORMATS if os.path.exists(os.path.join(res, f"{f}-{ops[0]}-ref-1.secs"))]
    runs = {(f, op, cfg): Runs(res, f"{f}-{op}", cfg) for f, _ in formats for op in ops for cfg in CONFIGS}

    def get(f, op, cfg, what):
        r = runs[(f, op, cfg)]
        return getattr(r, what)() if r else None

    fixed = {cfg: Runs(res, "fixed", cfg) for cfg in ("ref", "np2")}

    def image_work(f, op):
        """CPU seconds the image itself costs: the reference's CPU less its fixed cost (loading
        the libraries). None without CPU times."""
        ref_cpu = get(f, op, "ref", "cpu_median")
        if ref_cpu is None or not fixed["ref"] or fixed["ref"].cpu_median() is None:
            return None
        return ref_cpu - fixed["ref"].cpu_median()

    def fixed_outside():
        """Seconds of a 2-rank run outside its job: the 16x16 run's whole time less its job."""
        if not fixed["np2"]:
            return None
        return fixed["np2"].whole_median() - fixed["np2"].job_median()

    def cpu_bound(f, op):
        """The least whole-run time of np 2 on 2 cores: the time outside the job (launch, loading,
        MPI's start and end: no rank knows its rows before MPI has started) plus the image's work
        shared over 2 cores. None without CPU times."""
        work, outside = image_work(f, op), fixed_outside()
        return None if work is None or outside is None else outside + work / 2

    def cpu_bound_job(f, op):
        """The least job time of np 2 on 2 cores: the image's work shared over 2 cores."""
        work = image_work(f, op)
        return None if work is None else work / 2

    w = []
    p = w.append
    p("## One image, streamed (issue 11)")
    p("")
    dirty = f" plus {env['dirty']} uncommitted change(s) to src/" if env.get("dirty", "0") != "0" else ""
    p(f"Measured {env['date']} by `bash bench/stream.sh` ({env['seconds']} s) at commit {env['commit']} "
      f"(imgproc's sources as of {env['src_commit']}{dirty}), on 2 cores ({env['cpu']}), {env['ompi']}, "
      f"OpenCV {env['opencv']}, {env['vips']}. Load average at start / end: {env['load_start']} / "
      f"{env['load_end']}. The machine was shared with other jobs: every configuration ran {env['repeat']} "
      f"time(s) in interleaved rounds (reference, 1, 2, 3 ranks, 2 ranks `--whole-io`, vips, then the next "
      f"op); medians are shown, and ratios within this run are what to compare.")
    p("")
    p(f"Input: one {env['image']} colour picture (`target/release/examples/synth {env['image'].replace('x', ' ')} 3 42`) "
      f"as PNG, and the same pixels written by `imgproc run --reference --op brightness:factor=1` as TIFF "
      f"(OpenCV's LZW) and JPEG (OpenCV's quality 95; its decoded pixels are the input of the JPEG runs). "
      f"*ref* is `imgproc run --reference` (one process, the whole image, OpenCV's codecs); *np N* is "
      f"`mpirun --oversubscribe -np N imgproc run --json`; *whole-io* adds `--whole-io` (rank 0 decodes and "
      f"encodes the whole image: the code before streaming); *vips* is libvips' nearest op, writing with "
      f"OpenCV's settings for the format (PNG `compression=1`, JPEG `Q=95`, TIFF LZW with the predictor): "
      f"`vips gaussblur in out 1.1` (OpenCV's sigma for ksize 5; same 5 taps), `vips rank in out 5 5 12` "
      f"(8.14 has no `median`), `vips canny in out`, `vips invert in out`, none for bilateral.")
    p("")
    p("Every imgproc output (every round, every rank count, `--whole-io`) was compared in decoded pixels with "
      "the reference's output (`target/release/examples/same_pixels`); the script stops at the first "
      "difference. vips computes other values and is not compared.")
    p("")
    p("Reproduce: `bash bench/stream.sh` (writes this section and the pictures; `--quick` checks the script "
      "in a minute; `--report-only` rewrites them from the last run's results in /tmp/imgproc-stream).")
    p("")

    # Whole run.
    p("### Whole run")
    p("")
    p("Seconds from the command's start to its exit, measured outside (`mpirun` and MPI start-up "
      "included), median of the rounds; the ratios are to *ref* of the same round set. *best* is the "
      "fastest np 2 round over the fastest reference round: on this shared machine the least disturbed "
      "runs, what the code does when it gets its cores.")
    p("")
    p("| input→output | op | ref | np 1 | np 2 | np 3 | np 2 whole-io | vips | np 2 / ref | np 2 / ref, best | np 3 / ref | whole-io / ref | vips / ref |")
    p("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for f, name in formats:
        for op in ops:
            v = {c: get(f, op, c, "whole_median") for c in CONFIGS}
            p(f"| {name} | {op} | {fmt_s(v['ref'])} | {fmt_s(v['np1'])} | **{fmt_s(v['np2'])}** | {fmt_s(v['np3'])} | "
              f"{fmt_s(v['whole2'])} | {fmt_s(v['vips'])} | **{ratio(v['np2'], v['ref'])}** | "
              f"{ratio(get(f, op, 'np2', 'whole_min'), get(f, op, 'ref', 'whole_min'))} | {ratio(v['np3'], v['ref'])} | {ratio(v['whole2'], v['ref'])} | {ratio(v['vips'], v['ref'])} |")
    p("")

    # Job time.
    p("### The job alone (MPI start-up excluded) and scaling at 1–3 ranks")
    p("")
    p("`wall_secs` of `--json`: from rank 0's start of the job to the output written, without `mpirun`'s "
      "start-up (`startup_secs`, median of the np 2 runs, in its own column). The reference's is its whole "
      "job in one process. *speed-up* is np 1's job time over np N's: the same code at 1, 2 and 3 ranks "
      "(3 ranks on 2 cores are oversubscribed).")
    p("")
    p("| input→output | op | ref | np 1 | np 2 | np 3 | np 2 whole-io | np 2 / ref | np 2 / ref, best | speed-up np 2 | speed-up np 3 | start-up np 2 |")
    p("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for f, name in formats:
        for op in ops:
            v = {c: get(f, op, c, "job_median") for c in CONFIGS if c != "vips"}
            p(f"| {name} | {op} | {fmt_s(v['ref'])} | {fmt_s(v['np1'])} | **{fmt_s(v['np2'])}** | {fmt_s(v['np3'])} | "
              f"{fmt_s(v['whole2'])} | **{ratio(v['np2'], v['ref'])}** | "
              f"{ratio(get(f, op, 'np2', 'job_min'), get(f, op, 'ref', 'job_min'))} | {ratio(v['np1'], v['np2'])}× | "
              f"{ratio(v['np1'], v['np3'])}× | {fmt_s(get(f, op, 'np2', 'startup_median'))} |")
    p("")

    # Phases at 2 ranks, and the bound they set.
    p("### Where the time goes at 2 ranks, and the bound it sets")
    p("")
    p("Seconds per phase of the median np 2 run, summed from each rank's timeline (*in* = open, decode, "
      "read, read+send and receive: getting the rows). *io* says how rows were read: *streamed* (rank 0 "
      "decodes the PNG row by row and sends each worker its rows as they come), *ranged* (every rank reads "
      "its own rows of the TIFF), *whole* (rank 0 decodes the whole JPEG before anything else starts). "
      "*decode alone* is rank 0's *in* at np 1: what one core needs to get every row, work that no "
      "other rank can take; with the phases of rank 1 it bounds the job (next section).")
    p("")
    p("| input→output | op | io | r0 in | r0 filter | r0 encode | r0 write | r1 in | r1 filter | r1 encode | np 2 job | decode alone | np 1 job | np 2 / ref |")
    p("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for f, name in formats:
        for op in ops:
            r = runs[(f, op, "np2")]
            if not r:
                continue
            s = r.median_summary()
            ranks = {x["rank"]: phase_secs(x) for x in s["per_rank"]}
            io = s.get("io", "?")
            io = "streamed" if "input streamed" in io else "ranged" if "ranged" in io else "whole" if "input whole" in io else io
            n1 = runs[(f, op, "np1")].median_summary()
            decode = phase_secs(n1["per_rank"][0])["input"]
            r0, r1 = ranks.get(0, {}), ranks.get(1, {})
            p(f"| {name} | {op} | {io} | {fmt_s(r0.get('input'))} | {fmt_s(r0.get('filter'))} | "
              f"{fmt_s(r0.get('encode'))} | {fmt_s(r0.get('write'))} | {fmt_s(r1.get('input'))} | "
              f"{fmt_s(r1.get('filter'))} | {fmt_s(r1.get('encode'))} | {fmt_s(s['wall_secs'])} | "
              f"{fmt_s(decode)} | {fmt_s(n1['wall_secs'])} | "
              f"{ratio(get(f, op, 'np2', 'whole_median'), get(f, op, 'ref', 'whole_median'))} |")
    p("")

    # The bound 2 cores set, from CPU time.
    if fixed["np2"] and fixed["np2"].cpu_median() is not None:
        fr, fn = fixed["ref"], fixed["np2"]
        p("### The bound 2 cores set (CPU time)")
        p("")
        p("CPU seconds (user + system, every process of the run: `mpirun` and its ranks) of the median rounds, "
          "by bash's `time`. The *fixed cost* is a job on a 16×16 image, measured once a round: "
          f"`imgproc run --reference` {fr.whole_median():.2f} s wall, {fr.cpu_median():.2f} s CPU (loading "
          f"OpenCV, its codecs and GUI libraries); `mpirun -np 2 imgproc run` {fn.whole_median():.2f} s wall, "
          f"{fn.cpu_median():.2f} s CPU, of which {fixed_outside():.2f} s lie outside its job (the launch, "
          "two processes loading those libraries, MPI's start and end).")
        p("")
        p("The bound: np 2 runs the same OpenCV calls and codecs over the same pixels as *ref*, so the "
          "image costs it at least *image work* = *ref*'s CPU less *ref*'s fixed cost. That work runs "
          "inside the job, which starts once MPI has started on every rank (a rank learns its rows "
          "over MPI) and ends before MPI's end, on 2 cores. So np 2's whole run takes at least the "
          "2-rank time outside the job plus half the image work (*CPU bound*), however well it "
          "overlaps and balances; its job alone takes at least half the image work. Where *CPU bound / "
          "ref* is above a target, 2 cores cannot meet it. *ref uses* is *ref*'s CPU over its wall "
          "time: the cores it keeps busy alone (OpenCV runs its filters in threads). The bound needs np 2 "
          "to run *ref*'s library code: it holds for TIFF (libtiff reads and writes both) and JPEG "
          "(libjpeg-turbo both), not for PNG (np 2 decodes with the `png` crate and Sub-filters its rows "
          "for zlib itself, less work than OpenCV's libpng) nor for Canny (split Canny computes its edges "
          "otherwise than cv::Canny): there np 2 can, and does, come in under it.")
        p("")
        p("*balanced* is the same sum with np 2's own work (its CPU less the 2-rank fixed cost's): what "
          "this code would take with no core ever idle; *np 2 wall* minus it is the time a core waited.")
        p("")
        p("| input→output | op | ref wall | ref CPU | ref uses | image work | np 2 wall | np 2 CPU | balanced | CPU bound | CPU bound / ref | np 2 / ref |")
        p("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for f, name in formats:
            for op in ops:
                rw, rc = get(f, op, "ref", "whole_median"), get(f, op, "ref", "cpu_median")
                nw, nc = get(f, op, "np2", "whole_median"), get(f, op, "np2", "cpu_median")
                b = cpu_bound(f, op)
                if None in (rw, rc, nw, nc, b):
                    continue
                balanced = fixed_outside() + (nc - fn.cpu_median()) / 2
                p(f"| {name} | {op} | {rw:.2f} | {rc:.2f} | {rc / rw:.2f} cores | {image_work(f, op):.2f} | "
                  f"{nw:.2f} | {nc:.2f} | {balanced:.2f} | {b:.2f} | **{b / rw:.2f}** | {nw / rw:.2f} |")
        p("")

    # Timelines.
    out_dir = os.path.dirname(os.path.abspath(a.into))
    pics = []
    for f, name in formats:
        if "gaussian" not in ops:
            break
        jsons = []
        for cfg in ("ref", "np1", "np2", "np3"):
            r = runs[(f, "gaussian", cfg)]
            path = os.path.join(res, f"timeline-{f}-{cfg}.json")
            with open(path, "w") as fh:
                json.dump(r.median_summary(), fh)
            jsons.append(path)
        pic = os.path.join(a.pictures, f"timeline-8k-{f}-gaussian.png")
        tool = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "release", "examples", "timeline")
        subprocess.run([tool, *jsons, "-o", pic], check=True)
        pics.append((name, os.path.relpath(pic, out_dir)))
    if pics:
        p("### Timelines")
        p("")
        p("One bar per phase and rank of the median run of gaussian (top: the one-process reference as a "
          "single bar; then 1, 2 and 3 ranks), on one time axis from the job's start on rank 0's clock (MPI "
          "start-up not shown). Drawn by `target/release/examples/timeline SUMMARY.json... -o OUT.png` "
          "from the runs' `--json`.")
        p("")
        for name, rel in pics:
            p(f"{name}, gaussian:")
            p("")
            p(f"![{name} gaussian timeline at 1, 2 and 3 ranks]({rel})")
            p("")

    # Memory.
    p("### Peak memory per rank")
    p("")
    p("Each rank's peak resident memory (`peak_rss_bytes`, median run) against its strip's input bytes "
      "(rows × width × 3, halo left out) and the bound 1.5 × strip + 100 MB. About 70–90 MB of it is "
      "the libraries (OpenCV, Open MPI) before any pixel is read, which is why small strips sit far "
      "above 1.5×.")
    p("")
    p("| input→output | op | ranks | rank | rows | strip MB | peak MB | bound MB | within |")
    p("|---|---|---|---|---|---|---|---|---|")
    for f, name in formats:
        if f not in ("png", "tif") or "gaussian" not in ops:
            continue
        for np_ in (1, 2, 3):
            r = runs[(f, "gaussian", f"np{np_}")]
            if not r:
                continue
            for rank, rows, strip, peak, bound, ok in peaks_rows(r.median_summary()):
                p(f"| {name} | gaussian | {np_} | {rank} | {rows[0]}–{rows[1]} | {strip:.0f} | {peak:.0f} | "
                  f"{bound:.0f} | {'yes' if ok else 'NO'} |")
    p("")

    # Output sizes.
    p("Output sizes, MB (ref / np 2), gaussian: " + ", ".join(
        f"{name} {int(open(os.path.join(res, f'{f}-gaussian-ref.bytes')).read()) / MB:.1f} / "
        f"{int(open(os.path.join(res, f'{f}-gaussian-np2-1.bytes')).read()) / MB:.1f}"
        for f, name in formats if "gaussian" in ops) + ".")
    p("")

    # Targets.
    p("### Targets")
    p("")
    p("*CPU bound / ref* is the least np 2 / ref that 2 cores allow (section above): for a whole-run "
      "target the CPU bound over *ref*'s whole run; for a job target half the image work over *ref*'s job.")
    p("")
    p("| target | measured | met | CPU bound / ref |")
    p("|---|---|---|---|")
    for f, name in formats:
        for op in ops:
            ref_w, np2_w, vips_w = (get(f, op, c, "whole_median") for c in ("ref", "np2", "vips"))
            ref_j, np2_j = get(f, op, "ref", "job_median"), get(f, op, "np2", "job_median")
            if None in (ref_w, np2_w):
                continue
            best_w = get(f, op, "np2", "whole_min") / get(f, op, "ref", "whole_min")
            best_j = get(f, op, "np2", "job_min") / get(f, op, "ref", "job_min")

            def met(x, limit, best):
                return f"{'yes' if x <= limit else 'no'} (best: {'yes' if best <= limit else 'no'})"

            b = cpu_bound(f, op)
            bound = "–" if b is None else f"{b / ref_w:.2f}×"

            if f == "png":
                x = np2_w / ref_w
                p(f"| {name} {op}: np 2 whole run ≤ 0.75× ref (aim 0.65) | {x:.2f}× (best {best_w:.2f}×) | "
                  f"{met(x, 0.75, best_w)}{', aim met' if x <= 0.65 else ''} | {bound} |")
                if vips_w is not None:
                    vb = get(f, op, "vips", "whole_min")
                    nb = get(f, op, "np2", "whole_min")
                    p(f"| {name} {op}: np 2 whole run faster than `vips {VIPS_OP[op]}` | {np2_w:.2f} s vs "
                      f"{vips_w:.2f} s (best {nb:.2f} vs {vb:.2f}) | {'yes' if np2_w < vips_w else 'no'} "
                      f"(best: {'yes' if nb < vb else 'no'}) | – |")
            elif f == "tif":
                x = np2_w / ref_w
                p(f"| {name} {op}: np 2 whole run ≤ 0.6× ref | {x:.2f}× (best {best_w:.2f}×) | {met(x, 0.6, best_w)} | "
                  f"{bound} |")
            elif f == "jpg":
                x = np2_j / ref_j
                bj = cpu_bound_job(f, op)
                p(f"| {name} {op}: np 2 job ≤ 0.8× ref's | {x:.2f}× (best {best_j:.2f}×) | {met(x, 0.8, best_j)} | "
                  f"{'–' if bj is None else f'{bj / ref_j:.2f}×'} |")
                if vips_w is not None:
                    p(f"| {name} {op}: gap to `vips {VIPS_OP[op]}`, whole run | {np2_w:.2f} s vs {vips_w:.2f} s "
                      f"({np2_w - vips_w:+.2f} s) | – | – |")
    p("")

    # What the JPEG gap to vips is made of.
    if any(f == "jpg" for f, _ in formats):
        p("### JPEG→JPEG: the gap to vips")
        p("")
        p("The np 2 whole run (median) cut into: *outside the job* = whole run − `wall_secs` (mpirun, MPI "
          "start-up and exit), rank 0's *decode* of the whole JPEG before any row is sent (its *in*), and "
          "*after the decode* = the rest of the job (send, filter, encode in pieces, write). vips runs "
          "decode, op and encode as one demand-driven pipeline in threads, without a process launch.")
        p("")
        p("| op | vips | np 2 | gap | outside the job | decode on rank 0 | after the decode | ref |")
        p("|---|---|---|---|---|---|---|---|")
        for op in ops:
            r = runs[("jpg", op, "np2")]
            vips_w = get("jpg", op, "vips", "whole_median")
            if not r or vips_w is None:
                continue
            s = r.median_summary()
            whole = r.whole[sorted(range(len(r.whole)), key=lambda i: r.whole[i])[(len(r.whole) - 1) // 2]]
            decode = phase_secs(next(x for x in s["per_rank"] if x["rank"] == 0))["input"]
            p(f"| {op} | {vips_w:.2f} | {whole:.2f} | {whole - vips_w:+.2f} | {whole - s['wall_secs']:.2f} | "
              f"{decode:.2f} | {s['wall_secs'] - decode:.2f} | {get('jpg', op, 'ref', 'whole_median'):.2f} |")
        p("")
    # The reading of these numbers, kept beside the script (it names figures of the run it was written for).
    notes = os.path.join(os.path.dirname(os.path.abspath(__file__)), "stream-notes.md")
    if os.path.exists(notes):
        with open(notes) as fh:
            p(fh.read().rstrip())
        p("")
    splice(a.into, STREAM, "\n".join(w), before=RUNTIME_BEGIN)


# --- splicing ----------------------------------------------------------------------------------


def splice(path, markers, section, after=None, before=None):
    """Replaces the block between `markers` in `path`; without them, inserts it after the line
    `after` or before the line `before` when present, else appends it."""
    begin, end = markers
    text = open(path).read() if os.path.exists(path) else ""
    block = f"{begin}\n{section.rstrip()}\n{end}\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        tail = rest.split(end, 1)[1].lstrip("\n")
        text = head + block + (("\n" + tail) if tail else "")
    elif after and after in text:
        head, tail = text.split(after, 1)
        text = head + after + "\n\n" + block + "\n" + tail.lstrip("\n")
    elif before and before in text:
        head, tail = text.split(before, 1)
        text = head.rstrip("\n") + "\n\n" + block + "\n" + before + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block
    with open(path, "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    for name in ("report", "huge"):
        s = sub.add_parser(name)
        s.add_argument("results")
        s.add_argument("--into", required=True)
        s.add_argument("--pictures", default="docs")
    s = sub.add_parser("bands")
    s.add_argument("summary")
    a = ap.parse_args()
    {"report": report, "huge": huge, "bands": bands}[a.what](a)


if __name__ == "__main__":
    main()
