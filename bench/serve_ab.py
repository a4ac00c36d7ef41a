"""Two builds of `imgproc serve` side by side: 8 clients' one-image jobs (bench/serve.py's client)
and 15 one-at-a-time jobs per build and round, interleaved, each followed by `imgproc batch` of
the same build over as many images on the same ranks.

    python3 bench/serve_ab.py WORKDIR OLD_BINARY NEW_BINARY   (ROUNDS_AB=2 SECS=10 by default)

Talks to loopback only; every loop is bounded by SECS or a count.
"""
import os
import shutil
import statistics
import sys
import time

WORKDIR, BINS = sys.argv[1], sys.argv[2:]
here = os.path.dirname(os.path.abspath(__file__))
sys.argv = ["serve.py", BINS[0], WORKDIR, "3"]
# The client, the server start and stop, and `sh` are serve.py's; its main() is not run.
exec(compile(open(os.path.join(here, "serve.py")).read().replace("\nmain()\n", "\n"), "serve.py", "exec"))

SECS = float(os.environ.get("SECS", "10"))
os.makedirs(WORKDIR, exist_ok=True)
img = os.path.join(WORKDIR, "onemp.jpg")
if not os.path.exists(img):
    sh("convert", "-seed", "3", "-size", "1000x1000", "plasma:fractal", "-quality", "90", img)
for rnd in range(int(os.environ.get("ROUNDS_AB", "2"))):
    for k, binary in enumerate(BINS):
        BIN = binary
        data = os.path.join(WORKDIR, f"data{k}-{rnd}")
        shutil.rmtree(data, ignore_errors=True)
        proc, base = start_server(data)
        c = Client(base)
        lone = []
        for _ in range(15):
            t = time.perf_counter()
            job = c.submit([img])
            done = c.wait(job)
            c.download(job, done["items"][0]["output"])
            lone.append(time.perf_counter() - t)
        n, secs = load(base, img, SECS)
        stop(proc)
        shutil.rmtree(data, ignore_errors=True)
        sub, out = os.path.join(WORKDIR, f"in{k}-{rnd}"), os.path.join(WORKDIR, f"out{k}-{rnd}")
        shutil.rmtree(sub, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(sub)
        for i in range(n):
            os.link(img, os.path.join(sub, f"i{i:04d}.jpg"))
        t = time.perf_counter()
        sh("mpirun", "--oversubscribe", "-np", "3", binary, "batch", "--op", OP, sub, "-o", out)
        batch = time.perf_counter() - t
        shutil.rmtree(sub)
        shutil.rmtree(out)
        print(f"| {rnd} | {binary} | {n / secs:.1f} | {n / batch:.1f} | {batch / secs * 100:.0f}% "
              f"| {statistics.median(lone) * 1000:.0f} ms |", flush=True)
