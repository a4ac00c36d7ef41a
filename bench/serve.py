"""Benchmarks of `imgproc serve` against the CLI on the same ranks, in one run (bench/serve.sh):

- latency: a 1 MP JPEG, gaussian, submit -> result downloaded, one request at a time, against
  `mpirun -np R imgproc run` per request and `imgproc run --reference` per request (interleaved);
- throughput: 8 clients posting one-image jobs for a fixed time in three rounds, each followed by
  `imgproc batch` over as many images on the same ranks (with the CPU per image of the ranks,
  the client and the batch), and a 200-image job through the API against the CLI batch;
- fairness: user B's one-image job while user A's 2000-image batch runs;
- memory: rank 0's peak RSS while a 2 GB file is uploaded; idle CPU per rank.

Prints a Markdown report. Standard library only; talks to loopback only; every loop is bounded.
"""
import http.client
import io
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid

BIN, WORK, RANKS = sys.argv[1], sys.argv[2], int(sys.argv[3])
ROUNDS = int(os.environ.get("ROUNDS", "40"))
CLI_ROUNDS = int(os.environ.get("CLI_ROUNDS", "10"))
THROUGHPUT_SECS = float(os.environ.get("THROUGHPUT_SECS", "30"))
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
OP = "gaussian"


def sh(*args, **kw):
    return subprocess.run(list(args), check=True, env=ENV, capture_output=True, **kw)


def multipart(files, fields):
    boundary = uuid.uuid4().hex
    parts = []
    for k, v in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
    for path in files:
        with open(path, "rb") as f:
            data = f.read()
        name = os.path.basename(path)
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
                     f'Content-Type: application/octet-stream\r\n\r\n'.encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class Client:
    """One keep-alive connection, as a browser keeps one: a new TCP connection for each of a
    job's three requests cost this client more CPU than the server spent on the job's HTTP. Not
    for several threads at once (each client thread makes its own)."""

    def __init__(self, base, token=None):
        self.base, self.token = base, token
        host, port = base.rsplit("/", 1)[1].split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=600)
        self.forms = {}

    def open(self, path, data=None, ctype=None, method=None):
        headers = {}
        if ctype:
            headers["Content-Type"] = ctype
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        for attempt in (1, 2):
            try:
                self.conn.request(method or ("GET" if data is None else "POST"), path, body=data, headers=headers)
                r = self.conn.getresponse()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # The server closed the idle connection first: nothing was taken, send again.
                self.conn.close()
                if attempt == 2:
                    raise
        if r.status >= 400:
            body = r.read()
            raise RuntimeError(f"{path}: {r.status} {body[:200]!r}")
        return r

    def req(self, path, data=None, ctype=None, method=None):
        """The whole answer, read (the connection is free again)."""
        return io.BytesIO(self.open(path, data, ctype, method).read())

    def submit(self, files, chain=OP):
        # A one-file form is built once per client and sent again: the client shares the 2
        # cores with the ranks, and its own work is not what is measured (its CPU is reported).
        key = (tuple(files), chain)
        form = self.forms.get(key) or multipart(files, {"chain": chain})
        if len(files) == 1:
            self.forms[key] = form
        body, ctype = form
        return json.load(self.req("/api/jobs", body, ctype))["id"]

    def wait(self, job):
        """Reads the job's event stream until its end."""
        s = self.open(f"/api/jobs/{job}/events")
        while True:
            line = s.readline()
            if not line or line.startswith(b"event: end"):
                break
        s.read()
        return json.load(self.req(f"/api/jobs/{job}"))

    def download(self, job, name):
        return self.req(f"/api/jobs/{job}/results/{name}").read()


def load(base, img, secs, clients=8):
    """`clients` threads, each sending one-image jobs of `img` one after another for `secs`:
    how many jobs ended, and the seconds it took."""
    stop_at = time.time() + secs
    counts = []

    def client_loop():
        c, n = Client(base), 0
        while time.time() < stop_at:
            c.wait(c.submit([img]))
            n += 1
        counts.append(n)

    t = time.perf_counter()
    threads = [threading.Thread(target=client_loop) for _ in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return sum(counts), time.perf_counter() - t


def start_server(data, extra=()):
    port = 18000 + os.getpid() % 1000
    cmd = ["mpirun", "--oversubscribe", "-np", str(RANKS), BIN] if RANKS > 1 else [BIN]
    cmd += ["serve", "--listen", f"127.0.0.1:{port}", "--data", data, *extra]
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1)
            return proc, base
        except Exception:
            time.sleep(0.1)
    raise SystemExit("the server did not start")


def stop(proc):
    os.killpg(proc.pid, 15)
    proc.wait(timeout=60)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def server_pids(port_hint):
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()
            exe = os.readlink(f"/proc/{pid}/exe")
        except OSError:
            continue
        if exe.endswith("imgproc") and port_hint in cmd:
            env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
            rank = next((int(e.split(b"=")[1]) for e in env if e.startswith(b"OMPI_COMM_WORLD_RANK=")), 0)
            pids.append((rank, int(pid)))
    return sorted(pids)


def cpu(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb(pid, field="VmRSS"):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def main():
    img = os.path.join(WORK, "onemp.jpg")
    sh("convert", "-seed", "3", "-size", "1000x1000", "plasma:fractal", "-quality", "90", img)
    out = os.path.join(WORK, "cli-out.jpg")
    report = [f"Ranks: {RANKS} (mpirun --oversubscribe on this 2-core machine), 1 MP JPEG (1000×1000), op `{OP}`.", ""]

    proc, base = start_server(os.path.join(WORK, "data"))
    port = base.rsplit(":", 1)[1]
    c = Client(base)
    # Latency, interleaved with the two anchors.
    api, cli, ref = [], [], []
    for i in range(ROUNDS):
        t = time.perf_counter()
        job = c.submit([img])
        done = c.wait(job)
        c.download(job, done["items"][0]["output"])
        api.append(time.perf_counter() - t)
        if i % (ROUNDS // CLI_ROUNDS) == 0:
            t = time.perf_counter()
            sh("mpirun", "--oversubscribe", "-np", str(RANKS), BIN, "run", "--op", OP, img, "-o", out)
            cli.append(time.perf_counter() - t)
            t = time.perf_counter()
            sh(BIN, "run", "--reference", "--op", OP, img, "-o", out)
            ref.append(time.perf_counter() - t)
    report += ["### Per-job latency (submit → result downloaded)", "",
               "| path | runs | median | p99 |", "|---|---|---|---|",
               f"| API (`imgproc serve`, {RANKS} ranks) | {len(api)} | {statistics.median(api)*1000:.0f} ms | {pct(api, 99)*1000:.0f} ms |",
               f"| `mpirun -np {RANKS} imgproc run` per request | {len(cli)} | {statistics.median(cli)*1000:.0f} ms | {pct(cli, 99)*1000:.0f} ms |",
               f"| `imgproc run --reference` per request | {len(ref)} | {statistics.median(ref)*1000:.0f} ms | {pct(ref, 99)*1000:.0f} ms |",
               "", f"API median is {statistics.median(cli)/statistics.median(api):.1f}× faster than mpirun per request.", ""]

    # Idle CPU per rank over 10 s right after the last job (the workers' warm rest, 30 s after a
    # job), then over 10 s once the warm rest is over.
    pids = server_pids(port)

    def idle_cpu():
        before = {r: cpu(p) for r, p in pids}
        time.sleep(10)
        return ", ".join(f"rank {r} {(cpu(p) - before[r]) / 10 * 100:.1f}%" for r, p in sorted(pids))

    warm = idle_cpu()
    time.sleep(21)
    rested = idle_cpu()
    report += [f"Idle CPU over 10 s right after the last job (warm rest): {warm}; "
               f"over 10 s from 31 s after it: {rested}", ""]

    # Throughput: 8 clients, one-image jobs, for THROUGHPUT_SECS in all, in three rounds, each
    # followed by `imgproc batch` over as many images (interleaved: the machine is noisy). CPU
    # per image is counted for each rank, this client, and the batch (mpirun and its ranks).
    folder = os.path.join(WORK, "batch-in")
    os.makedirs(folder, exist_ok=True)
    rounds = []
    for rnd in range(3):
        ranks_before = {r: cpu(p) for r, p in pids}
        me_before = os.times()
        n, api_secs = load(base, img, THROUGHPUT_SECS / 3)
        me = os.times()
        ranks_cpu = sum(cpu(p) - ranks_before[r] for r, p in pids)
        client_cpu = me.user + me.system - me_before.user - me_before.system
        few = os.path.join(WORK, f"batch-few{rnd}")
        os.makedirs(few, exist_ok=True)
        for i in range(n):
            os.link(img, os.path.join(few, f"i{i:04d}.jpg"))
        kids = os.times()
        t = time.perf_counter()
        sh("mpirun", "--oversubscribe", "-np", str(RANKS), BIN, "batch", "--op", OP, few, "-o", os.path.join(WORK, f"bo1-{rnd}"))
        batch_secs = time.perf_counter() - t
        after = os.times()
        batch_cpu = after.children_user + after.children_system - kids.children_user - kids.children_system
        rounds.append((n, api_secs, batch_secs, ranks_cpu, client_cpu, batch_cpu))
    total = sum(r[0] for r in rounds)
    api_secs = sum(r[1] for r in rounds)
    batch_secs = sum(r[2] for r in rounds)
    api_rate, batch_rate = total / api_secs, total / batch_secs
    for i in range(max(total, 200)):
        dst = os.path.join(folder, f"i{i:04d}.jpg")
        if not os.path.exists(dst):
            os.link(img, dst)
    # A 200-image job through the API against the CLI batch of the same 200.
    two = sorted(os.path.join(folder, f) for f in os.listdir(folder))[:200]
    t = time.perf_counter()
    job = c.submit(two)
    c.wait(job)
    api200 = time.perf_counter() - t
    sub = os.path.join(WORK, "batch-200")
    os.makedirs(sub, exist_ok=True)
    for p in two:
        d = os.path.join(sub, os.path.basename(p))
        if not os.path.exists(d):
            os.link(p, d)
    t = time.perf_counter()
    sh("mpirun", "--oversubscribe", "-np", str(RANKS), BIN, "batch", "--op", OP, sub, "-o", os.path.join(WORK, "bo2"))
    cli200 = time.perf_counter() - t
    report += ["### Throughput", "",
               "| path | images | seconds | images/s |", "|---|---|---|---|",
               f"| API, 8 clients, one-image jobs (3 rounds) | {total} | {api_secs:.1f} | {api_rate:.1f} |",
               f"| `mpirun -np {RANKS} imgproc batch` over as many (after each round) | {total} | {batch_secs:.1f} | {batch_rate:.1f} |",
               f"| API, one 200-image job | 200 | {api200:.2f} | {200/api200:.1f} |",
               f"| `mpirun -np {RANKS} imgproc batch`, the same 200 | 200 | {cli200:.2f} | {200/cli200:.1f} |",
               "", f"One-image jobs reach {api_rate/batch_rate*100:.0f}% of the batch's images/s (rounds: "
               + ", ".join(f"{r[2]/r[1]*100:.0f}%" for r in rounds)
               + f"); the 200-image job takes {api200/cli200:.2f}× the CLI batch (start-up included in the CLI).", "",
               "CPU per image (ms, summed over the rounds): the server's ranks "
               f"{sum(r[3] for r in rounds)/total*1000:.1f}, this client {sum(r[4] for r in rounds)/total*1000:.1f}; "
               f"the batch (mpirun and its ranks) {sum(r[5] for r in rounds)/total*1000:.1f}.", ""]
    stop(proc)

    # Fairness: two users.
    users = os.path.join(WORK, "users.toml")
    ta = sh(BIN, "user", "add", "a", "--users", users).stdout.decode().strip()
    tb = sh(BIN, "user", "add", "b", "--users", users).stdout.decode().strip()
    proc, base = start_server(os.path.join(WORK, "data2"), ["--users", users])
    a, b = Client(base, ta), Client(base, tb)
    many = [os.path.join(folder, f"i{i % len(os.listdir(folder)):04d}.jpg") for i in range(len(os.listdir(folder)))]
    big = os.path.join(WORK, "batch-2000")
    os.makedirs(big, exist_ok=True)
    for i in range(2000):
        d = os.path.join(big, f"a{i:04d}.jpg")
        if not os.path.exists(d):
            os.link(img, d)
    job_a = a.submit(sorted(os.path.join(big, f) for f in os.listdir(big)))
    time.sleep(3)
    waits = []
    for _ in range(5):
        t = time.perf_counter()
        job_b = b.submit([img])
        b.wait(job_b)
        waits.append(time.perf_counter() - t)
        time.sleep(1)
    state_a = json.load(a.req(f"/api/jobs/{job_a}"))
    report += ["### Fairness", "",
               f"User A's 2000-image batch running ({state_a['done']} done when B's last job ended); user B's one-image job, 5 times: "
               f"median {statistics.median(waits)*1000:.0f} ms, worst {max(waits)*1000:.0f} ms (submit → finished).", ""]
    a.req(f"/api/jobs/{job_a}/cancel", b"", method="POST")
    stop(proc)

    # Memory: a 2 GB upload.
    proc, base = start_server(os.path.join(WORK, "data3"), ["--max-file-bytes", str(3 << 30), "--max-job-bytes", str(3 << 30), "--max-user-bytes", str(4 << 30)])
    port = base.rsplit(":", 1)[1]
    rank0 = dict(server_pids(port))[0]
    rss0 = rss_kb(rank0)
    peak = [rss0]
    done = threading.Event()

    def watch():
        while not done.is_set():
            peak.append(rss_kb(rank0))
            time.sleep(0.05)

    w = threading.Thread(target=watch)
    w.start()
    boundary = uuid.uuid4().hex
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="chain"\r\n\r\ninvert\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="big.mkv"\r\n\r\n').encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = 2 << 30

    def body():
        yield head
        yield b"\x1a\x45\xdf\xa3" + b"\0" * (1 << 20 - 4)
        chunk = b"\0" * (1 << 20)
        for _ in range(size // (1 << 20) - 1):
            yield chunk
        yield tail

    r = urllib.request.Request(base + "/api/jobs", data=body(), method="POST")
    r.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
    r.add_header("Content-Length", str(len(head) + size + len(tail)))
    t = time.perf_counter()
    try:
        status = urllib.request.urlopen(r, timeout=600).status
    except urllib.error.HTTPError as e:
        status = e.code
    up = time.perf_counter() - t
    done.set()
    w.join()
    report += ["### Memory", "",
               f"A 2 GiB upload (answered {status} after {up:.1f} s, {size/up/1e6:.0f} MB/s): rank 0's RSS {rss0/1024:.0f} MB before, "
               f"peak {max(peak)/1024:.0f} MB during (+{(max(peak)-rss0)/1024:.0f} MB).", ""]
    stop(proc)
    print("\n".join(report))


main()
