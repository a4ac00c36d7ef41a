#!/usr/bin/python3
"""bench/classify.sh's helper: the benchmark's images, the one-process anchors, the checks and
the report.

  classify_ort.py images DIR COUNT
      COUNT JPEGs (quality 90) of varied size around 500x375 (landscape and portrait, 4:3,
      3:2, 16:9, 1:1), smooth gradients, blurred noise and shapes, seeded: the same files every
      time. Does nothing when DIR already holds them.
  classify_ort.py run ENGINE THREADS BATCH MODEL DIR [--scores SCORES.json] [--copies N]
      Classifies every DIR/*.jpg in this one process: ENGINE `ort` (onnxruntime, CPU,
      intra_op_num_threads = THREADS) or `cvdnn` (OpenCV DNN, cv2.setNumThreads(THREADS)).
      Timed like imgproc's `--json` wall_secs: from loading the model (and its check) to the
      last score, with each image's decode (cv2.imread) and the sidecar's preprocessing inside
      the loop, forward passes of exactly BATCH images (a short one padded with zeros, as
      imgproc does). Python's and onnxruntime's import are outside, as mpirun's start-up is.
      Prints a JSON summary (done, wall_secs, images_per_sec...) on stdout, as `--json` does.
      --copies N runs N such processes at once, each over every image (the images of all over
      the slowest one's seconds): what the machine gives N independent processes, the ceiling
      of N ranks with nothing shared.
  classify_ort.py check RESULTS.jsonl SCORES.json [--require-equal]
      Compares imgproc's results with an anchor's scores: same top-1 index, largest difference
      of the reported scores. Prints one JSON line; with --require-equal exits 1 unless every
      top-1 is the same and every score equal to the printed precision (1e-6).
  classify_ort.py meta RESULTS_DIR KEY=VALUE...
      Writes RESULTS_DIR/meta.json for the report: the values given, and what it reads from the
      images= folder, the model= file and the runs (sizes, megabytes, mpirun's start-up).
  classify_ort.py report RESULTS_DIR --into FILE
      Writes the "Classify" section between bench/classify.sh's markers in FILE (see the
      script's header for what the table means).

The preprocessing follows src/classify/tensor.rs step by step: BGR from cv2.imread, the shorter
side resized to `resize_to` (bilinear; the other side rounded half away from zero, at least the
input size), the centre cut out at ((nw - W) // 2, (nh - H) // 2), RGB or BGR, then
(sample * scale - mean) / std in float32, NCHW or NHWC.
"""
import argparse
import glob
import json
import math
import os
import statistics
import sys
import time

import cv2
import numpy as np

BEGIN = "<!-- bench/classify.sh: begin -->"
END = "<!-- bench/classify.sh: end -->"


# --- images ------------------------------------------------------------------------------------


def make_images(folder, count):
    os.makedirs(folder, exist_ok=True)
    have = sorted(glob.glob(os.path.join(folder, "*.jpg")))
    if len(have) == count:
        return
    for f in have:
        os.remove(f)
    rng = np.random.default_rng(2024)
    shapes = [(4, 3)] * 5 + [(3, 4)] * 2 + [(3, 2), (16, 9), (1, 1)]
    for i in range(count):
        aw, ah = shapes[rng.integers(len(shapes))]
        area = 500 * 375 * rng.uniform(0.6, 1.5)
        w = int(round(math.sqrt(area * aw / ah)))
        h = int(round(w * ah / aw))
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        img = np.empty((h, w, 3), np.float32)
        for c in range(3):
            a, b, k = rng.uniform(-1, 1, 3)
            img[:, :, c] = 128 + 90 * np.sin((a * xx / w + b * yy / h) * math.pi * (1 + 2 * abs(k)))
        noise = rng.normal(0, 40, (h // 4 + 1, w // 4 + 1, 3)).astype(np.float32)
        noise = cv2.resize(cv2.GaussianBlur(noise, (0, 0), 1.5), (w, h), interpolation=cv2.INTER_LINEAR)
        img += noise + rng.normal(0, 6, (h, w, 3)).astype(np.float32)
        img = np.clip(img, 0, 255).astype(np.uint8)
        for _ in range(int(rng.integers(3, 9))):
            colour = tuple(int(v) for v in rng.integers(0, 256, 3))
            centre = (int(rng.integers(w)), int(rng.integers(h)))
            if rng.random() < 0.5:
                cv2.circle(img, centre, int(rng.integers(10, min(w, h) // 3)), colour, -1, cv2.LINE_AA)
            else:
                far = (int(rng.integers(w)), int(rng.integers(h)))
                cv2.rectangle(img, centre, far, colour, int(rng.integers(-1, 8)) or -1)
        cv2.imwrite(os.path.join(folder, f"photo{i:04d}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 90])


# --- the one-process anchors --------------------------------------------------------------------


def round_half_away(x):
    return int(math.floor(x + 0.5))


class Prep:
    def __init__(self, model):
        car = json.load(open(os.path.splitext(model)[0] + ".json"))
        self.w, self.h = car["input"]["width"], car["input"]["height"]
        self.resize = car.get("resize", "stretch")
        self.resize_to = car.get("resize_to", round_half_away(max(self.w, self.h) / 0.875))
        self.scale = np.float32(car.get("scale", 1 / 255))
        self.mean = np.array(car.get("mean", [0, 0, 0]), dtype=np.float32)
        self.std = np.array(car.get("std", [1, 1, 1]), dtype=np.float32)
        self.channels = car.get("channels", "rgb")
        self.layout = car.get("layout", "nchw")
        self.softmax = car.get("softmax", False)
        if self.channels == "gray":
            raise SystemExit("classify_ort.py: gray models are not handled here")

    def sized(self, img):
        h, w = img.shape[:2]
        if (w, h) == (self.w, self.h) and (self.resize == "stretch" or self.resize_to == min(w, h)):
            return img
        if self.resize == "stretch":
            return cv2.resize(img, (self.w, self.h), interpolation=cv2.INTER_LINEAR)
        s = self.resize_to / min(w, h)
        nw, nh = max(round_half_away(w * s), self.w), max(round_half_away(h * s), self.h)
        if (nw, nh) != (w, h):
            img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
        x0, y0 = (nw - self.w) // 2, (nh - self.h) // 2
        return img[y0:y0 + self.h, x0:x0 + self.w]

    def input_of(self, path):
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        if img is None:
            raise SystemExit(f"classify_ort.py: {path}: not a readable image")
        img = self.sized(img)
        if self.channels == "rgb":
            img = img[:, :, ::-1]
        v = (img.astype(np.float32) * self.scale - self.mean) / self.std
        return v.transpose(2, 0, 1) if self.layout == "nchw" else v


def softmax(s):
    e = np.exp(s - s.max())
    return e / e.sum()


def run(args):
    """One process, or --copies N processes at once (forked here, each over every image): their
    total images over the slowest one's seconds, what N independent one-process jobs get from
    this machine's cores together."""
    if args.copies == 1:
        summary, scores = run_once(args)
        if args.scores:
            with open(args.scores, "w") as f:
                json.dump({p: [float(v) for v in s] for p, s in scores.items()}, f)
        print(json.dumps(summary))
        return 0
    children = []
    for _ in range(args.copies):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            code = 1
            try:
                with os.fdopen(w, "w") as f:
                    json.dump(run_once(args)[0], f)
                code = 0
            finally:
                os._exit(code)
        os.close(w)
        children.append((pid, r))
    each = []
    for pid, r in children:
        with os.fdopen(r) as f:
            text = f.read()
        _, status = os.waitpid(pid, 0)
        if status != 0:
            raise SystemExit("classify_ort.py: a copy failed")
        each.append(json.loads(text))
    done = sum(e["done"] for e in each)
    wall = max(e["wall_secs"] for e in each)
    summary = dict(each[0], copies=args.copies, done=done, wall_secs=wall, images_per_sec=done / wall,
                   load_secs=max(e["load_secs"] for e in each), each=each)
    print(json.dumps(summary))
    return 0


def run_once(args):
    images = sorted(glob.glob(os.path.join(args.dir, "*.jpg")))
    if not images:
        raise SystemExit(f"classify_ort.py: no *.jpg in {args.dir}")
    prep = Prep(args.model)
    cv2.setNumThreads(args.threads)
    if args.engine == "ort":
        import onnxruntime as ort  # outside the timed part, as mpirun's start-up is for imgproc
    started = time.perf_counter()
    if args.engine == "ort":
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = args.threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        session = ort.InferenceSession(args.model, opts, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name

        def forward(blob):
            return session.run(None, {name: blob})[0]
        version = ort.__version__
    else:
        net = cv2.dnn.readNetFromONNX(args.model)
        net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)

        def forward(blob):
            net.setInput(blob)
            return net.forward()
        version = cv2.__version__
    shape = (args.batch, 3, prep.h, prep.w) if prep.layout == "nchw" else (args.batch, prep.h, prep.w, 3)
    forward(np.zeros(shape, np.float32))  # the check pass imgproc also makes before any image
    loaded = time.perf_counter()
    scores = {}
    for i in range(0, len(images), args.batch):
        group = images[i:i + args.batch]
        blob = np.zeros(shape, np.float32)
        for j, path in enumerate(group):
            blob[j] = prep.input_of(path)
        out = forward(blob)
        for j, path in enumerate(group):
            s = out[j].reshape(-1)
            scores[path] = softmax(s) if prep.softmax else s
    secs = time.perf_counter() - started
    summary = {"engine": args.engine, "version": version, "threads": args.threads, "batch": args.batch,
               "done": len(images), "load_secs": loaded - started, "wall_secs": secs,
               "images_per_sec": len(images) / secs}
    return summary, scores


# --- imgproc's results against an anchor's scores -----------------------------------------------


def check(args):
    scores = json.load(open(args.scores))
    same_top1 = n = 0
    worst = 0.0
    missing = []
    for line in open(args.results):
        rec = json.loads(line)
        s = scores.get(rec["file"])
        if s is None or rec.get("error") or not rec.get("top"):
            missing.append(rec["file"])
            continue
        n += 1
        s = np.asarray(s)
        same_top1 += int(rec["top"][0]["index"] == int(s.argmax()))
        worst = max(worst, max(abs(t["score"] - s[t["index"]]) for t in rec["top"]))
    seen = {json.loads(line)["file"] for line in open(args.results)}
    result = {"images": n, "same_top1": same_top1, "max_score_diff": worst,
              "unmatched": len(missing) + len(set(scores) - seen)}
    print(json.dumps(result))
    if args.require_equal and (result["unmatched"] or same_top1 != n or worst > 1e-6):
        return 1
    return 0


def meta(args):
    m = dict(kv.split("=", 1) for kv in args.values)
    files = sorted(glob.glob(os.path.join(m["images"], "*.jpg")))
    sizes = [cv2.imread(f).shape[1::-1] for f in files]
    ws, hs = [s[0] for s in sizes], [s[1] for s in sizes]
    m["count"] = len(files)
    m["sizes"] = (f"{min(ws)}–{max(ws)} wide, {min(hs)}–{max(hs)} high, mean "
                  f"{statistics.mean(ws):.0f}×{statistics.mean(hs):.0f}, "
                  f"{sum(w > h for w, h in sizes)} landscape / {sum(w < h for w, h in sizes)} portrait / "
                  f"{sum(w == h for w, h in sizes)} square")
    m["mb"] = sum(os.path.getsize(f) for f in files) / 1e6
    m["model_mb"] = os.path.getsize(m["model"]) / 1e6
    m["cores"] = int(m["cores"])
    starts = [json.load(open(f))["startup_secs"] for f in glob.glob(os.path.join(args.results, "run-np2-t1-*.json"))]
    m["startup"] = f"{statistics.median(starts):.2f} s at 2 ranks" if starts else "?"
    with open(os.path.join(args.results, "meta.json"), "w") as f:
        json.dump(m, f, indent=1)


# --- the report -----------------------------------------------------------------------------------

# Configurations in table order: key, label, processes/ranks, threads each.
CONFIGS = [
    ("np1-t1", "imgproc, 1 rank × 1 thread", 1, 1),
    ("np2-t1", "imgproc, 2 ranks × 1 thread", 2, 1),
    ("np3-t1", "imgproc, 3 ranks × 1 thread (oversubscribed)", 3, 1),
    ("np1-t2", "imgproc, 1 rank × 2 threads", 1, 2),
    ("ort-tN", "onnxruntime, 1 process, all cores", 1, None),
    ("ort-t1", "onnxruntime, 1 process, 1 thread", 1, 1),
    ("cvdnn-tN", "OpenCV DNN (python), 1 process, all cores", 1, None),
    ("cvdnn-t1", "OpenCV DNN (python), 1 process, 1 thread", 1, 1),
    ("cvdnn-t1x2", "OpenCV DNN (python), 2 processes × 1 thread at once", 2, 1),
]


def report(args):
    res = args.results
    meta = json.load(open(os.path.join(res, "meta.json")))
    cores = meta["cores"]
    runs, setup, compute = {}, {}, {}
    for path in glob.glob(os.path.join(res, "run-*.json")):
        key, _round = os.path.basename(path)[len("run-"):-len(".json")].rsplit("-", 1)
        s = json.load(open(path))
        runs.setdefault(key, []).append(s["done"] / s["wall_secs"])
        if "per_rank" in s:
            # imgproc: what the job spends besides its slowest rank's forward passes (rank 0
            # loading and checking the model, each worker loading its own, the last group).
            slowest = max(r["compute_secs"] for r in s["per_rank"])
            setup.setdefault(key, []).append(s["wall_secs"] - slowest)
            compute.setdefault(key, []).append(slowest)
        else:
            setup.setdefault(key, []).append(s["load_secs"])
    checks = {}
    for path in glob.glob(os.path.join(res, "check-*.json")):
        checks[os.path.basename(path)[len("check-"):-len(".json")]] = json.load(open(path))

    def used(key, n, t):
        t = cores if t is None else t
        return min(n * t, cores)

    # CPU per run: this run's own (/usr/bin/time, the ranks included) and everyone else's
    # (the machine's busy ticks over the run minus ours), in cores over the run's elapsed time.
    hz = os.sysconf("SC_CLK_TCK")
    ours, others = {}, {}
    for path in glob.glob(os.path.join(res, "time-*")):
        key = os.path.basename(path)[len("time-"):].rsplit("-", 1)[0]
        lines = open(path).read().split("\n")
        lines = [line for line in lines if line.strip()]
        e, u, s_ = map(float, lines[-2].split())
        b0, b1 = map(float, lines[-1].split())
        ours.setdefault(key, []).append((u + s_) / e)
        others.setdefault(key, []).append(max(0.0, ((b1 - b0) / hz - (u + s_)) / e))
    # Ratios within each round (the same minutes of the machine).
    rounds = {}
    for path in glob.glob(os.path.join(res, "run-*.json")):
        key, rnd = os.path.basename(path)[len("run-"):-len(".json")].rsplit("-", 1)
        s = json.load(open(path))
        rounds.setdefault(rnd, {})[key] = s["done"] / s["wall_secs"]

    def paired(a, b):
        return sorted(r[a] / r[b] for r in rounds.values() if a in r and b in r)
    med = {k: statistics.median(v) for k, v in runs.items()}
    base = med.get("np1-t1")
    ort_pc = med["ort-tN"] / used("ort-tN", 1, None) if "ort-tN" in med else None
    w = []
    p = w.append
    p("## Classify: an ONNX classifier across the ranks")
    p("")
    p(f"Measured {meta['date']} by `{meta['command']}` ({meta['seconds']} s) at commit {meta['commit']}, "
      f"on {cores} cores ({meta['cpu']}), OpenCV {meta['opencv']}, {meta['ompi']}, onnxruntime "
      f"{meta['ort']} (PyPI wheel, CPU). Load average at start / end: {meta['load_start']} / "
      f"{meta['load_end']}. The machine is shared: every configuration ran once per round, "
      f"{meta['rounds']} interleaved rounds; medians are shown, and the ratios are within this run.")
    p("")
    p(f"Model: `tests/models/make_models.py --mobilenet`, a MobileNetV2-shaped network (224×224×3 in, "
      f"17 inverted-residual blocks, 1000 classes, {meta['model_mb']:.0f} MB, random weights: no package "
      "ships a pretrained ONNX ImageNet classifier). Its sidecar: shorter side to 256, centre 224×224 crop, "
      "RGB, ImageNet mean/std, NCHW. "
      f"Images: {meta['count']} JPEGs (quality 90) made by `bench/classify_ort.py images`, "
      f"{meta['sizes']}, {meta['mb']:.1f} MB in all. Batch size {meta['batch']} everywhere "
      "(`--batch-size`; the anchors pad a short batch as imgproc does).")
    p("")
    p("*imgproc* rows are `mpirun --oversubscribe -np N imgproc classify --model mobilenetv2.onnx "
      f"IMAGES/ -o results.jsonl --batch-size {meta['batch']} --threads T --json`; images/s is "
      "`done ÷ wall_secs` of its `--json` summary: the job from rank 0 loading and checking the model "
      "to the results file synced, mpirun's start-up excluded (median `startup_secs` "
      f"{meta['startup']}). The anchors are one python process (`bench/classify_ort.py run`): the same "
      "images decoded with cv2.imread and preprocessed as the sidecar says (the steps of "
      "src/classify/tensor.rs), timed from loading the model to the last score, python's imports "
      "excluded. *all cores* = onnxruntime's `intra_op_num_threads` or `cv2.setNumThreads` = "
      f"{cores}. *cores* = min(processes × threads, {cores}): the cores a configuration can keep "
      "busy; per core = images/s ÷ cores. The last column is a configuration's images/s per core "
      "over onnxruntime's (all cores) per core: ≥ 0.67 is within 1.5×. *set-up s* (median): for imgproc "
      "`wall_secs` minus the slowest rank's `compute_secs` (rank 0 loading and checking the model "
      "before the job starts, a worker's own load while rank 0 already classifies, and the last "
      "group's wait); for "
      "the anchors the model's load and check pass. *CPU busy*: the run's own CPU seconds (every rank, "
      "`/usr/bin/time`) over its elapsed seconds, in cores (start-up included); *others' CPU*: the "
      "machine's busy CPU during the run (/proc/stat) minus the run's own, in cores: what other users "
      "took from the 2 cores meanwhile (medians of the rounds).")
    p("")
    p("| configuration | images/s (median) | runs | cores | per core | vs 1 rank | per core vs onnxruntime's | set-up s | CPU busy | others' CPU |")
    p("|---|---|---|---|---|---|---|---|---|---|")
    for key, label, n, t in CONFIGS:
        if key not in runs:
            continue
        c = used(key, n, t)
        pc = med[key] / c
        spread = " ".join(f"{v:.1f}" for v in sorted(runs[key]))
        vs1 = f"{med[key] / base:.2f}×" if base and key.startswith("np") else "–"
        if key == "cvdnn-t1x2" and "cvdnn-t1" in med:
            vs1 = f"({med[key] / med['cvdnn-t1']:.2f}× 1 process)"
        vsort = f"{pc / ort_pc:.2f}" if ort_pc else "–"
        p(f"| {label} | {med[key]:.1f} | {spread} | {c} | {pc:.1f} | {vs1} | {vsort} | "
          f"{statistics.median(setup[key]):.2f} | {fmt_median(ours.get(key))} | {fmt_median(others.get(key))} |")
    p("")
    if checks:
        p("Same answers: imgproc's results of the last round against the anchors' scores for the same "
          "images (top-1 index equal; largest difference of the 5 reported scores):")
        p("")
        p("| imgproc run | against | same top-1 | max score difference |")
        p("|---|---|---|---|")
        for name, c in sorted(checks.items()):
            ours, theirs = name.split("-vs-")
            p(f"| {ours} | {theirs} | {c['same_top1']}/{c['images']} | {c['max_score_diff']:.2g} |")
        p("")
    if base and "np2-t1" in med:
        two = med["np2-t1"] / base
        p(f"- **Target 2 ranks ≥ 1.8× one rank** (`--threads 1` each): {two:.2f}× (medians), "
          f"{'met' if two >= 1.8 else 'not met'} here; within each round (sorted) "
          f"{' '.join(f'{r:.2f}×' for r in paired('np2-t1', 'np1-t1'))}, fastest 2-rank run over fastest 1-rank run "
          f"{max(runs['np2-t1']) / max(runs['np1-t1']):.2f}×.")
    if ort_pc and "np2-t1" in med:
        r = (med["np2-t1"] / used("np2-t1", 2, 1)) / ort_pc
        p(f"- **Target cluster images/s per core within 1.5× of onnxruntime's** (2 ranks × 1 thread against "
          f"onnxruntime on all {cores} cores): {r:.2f} of onnxruntime's per core "
          f"({'met' if r >= 1 / 1.5 else 'not met'}: within 1.5× means ≥ 0.67).")
    if all(k in med for k in ("np1-t1", "cvdnn-t1", "ort-t1", "ort-tN", "np2-t1")):
        p("")
        p("Where a gap comes from, within this run: imgproc on 1 rank × 1 thread does "
          f"{med['np1-t1'] / med['cvdnn-t1']:.2f}× the images/s of OpenCV DNN in one python process on 1 "
          "thread (the same engine: what imgproc's job adds or saves around it); onnxruntime on 1 thread "
          f"does {med['ort-t1'] / med['cvdnn-t1']:.2f}× OpenCV DNN on 1 thread (the engine's kernels); "
          f"onnxruntime on {cores} threads does {med['ort-tN'] / med['ort-t1']:.2f}× its 1 thread, and "
          f"imgproc's 2 ranks {med['np2-t1'] / med['np1-t1']:.2f}× its 1 rank. Counting only the slowest "
          "rank's forward passes (decode and preprocessing included), 2 ranks do "
          f"{statistics.median(compute['np1-t1']) / statistics.median(compute['np2-t1']):.2f}× one rank; the rest "
          f"of the gap is the set-up, {statistics.median(setup['np1-t1']):.2f} s at 1 rank and "
          f"{statistics.median(setup['np2-t1']):.2f} s at 2.")
        if "cvdnn-t1x2" in med:
            ceiling = med["cvdnn-t1x2"] / med["cvdnn-t1"]
            p("")
            p(f"Two one-thread OpenCV DNN processes at once, sharing nothing, do {ceiling:.2f}× one alone: "
              f"what this machine's 2 cores give two one-core jobs, the ceiling of 2 ranks here (within each "
              f"round, sorted: {' '.join(f'{r:.2f}×' for r in paired('cvdnn-t1x2', 'cvdnn-t1'))}); imgproc's "
              f"2 ranks reach {med['np2-t1'] / base / ceiling:.2f} of it.")
    # The reading of these numbers, kept beside the script (it names figures of the run it was
    # written for), as bench/stream.sh does.
    notes = os.path.join(os.path.dirname(os.path.abspath(__file__)), "classify-notes.md")
    if os.path.exists(notes):
        p("")
        p(open(notes).read().rstrip())
    p("")
    p(f"Reproduce: `{meta['command']}` (raw summaries in `{meta['work']}/results`; "
      "`--report-only` rewrites this section from them).")
    section = "\n".join(w) + "\n"
    splice(args.into, section, after="<!-- bench/batch.sh: end -->")


def fmt_median(values):
    return f"{statistics.median(values):.2f}" if values else "–"


def splice(path, section, after=None):
    """Replaces the block between the markers in `path`; without them, inserts it after the line
    `after` when present, else appends it."""
    text = open(path).read() if os.path.exists(path) else ""
    block = f"{BEGIN}\n{section.rstrip()}\n{END}\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        text = head + block + (("\n" + tail) if tail else "")
    elif after and after in text:
        head, tail = text.split(after, 1)
        text = head + after + "\n\n" + block + "\n" + tail.lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    with open(path, "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("images")
    a.add_argument("dir")
    a.add_argument("count", type=int)
    a = sub.add_parser("run")
    a.add_argument("engine", choices=["ort", "cvdnn"])
    a.add_argument("threads", type=int)
    a.add_argument("batch", type=int)
    a.add_argument("model")
    a.add_argument("dir")
    a.add_argument("--scores")
    a.add_argument("--copies", type=int, default=1)
    a = sub.add_parser("check")
    a.add_argument("results")
    a.add_argument("scores")
    a.add_argument("--require-equal", action="store_true")
    a = sub.add_parser("meta")
    a.add_argument("results")
    a.add_argument("values", nargs="+")
    a = sub.add_parser("report")
    a.add_argument("results")
    a.add_argument("--into", required=True)
    args = ap.parse_args()
    if args.cmd == "images":
        make_images(args.dir, args.count)
    elif args.cmd == "run":
        return run(args)
    elif args.cmd == "check":
        return check(args)
    elif args.cmd == "meta":
        meta(args)
    else:
        report(args)


if __name__ == "__main__":
    sys.exit(main())
