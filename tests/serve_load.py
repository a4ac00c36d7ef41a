"""A bounded load test of `imgproc serve` (tests/serve_load.sh starts it on 3 ranks): 200
connections over 60 s from two users — one-image and five-image jobs of three chains, /api/info
calls and event streams — plus slow clients that stall their headers or their body. Passes when
no accepted job is lost, no answer is a 5xx, every result equals `imgproc run --reference` and
every slow client was dropped. Loopback only; every loop and wait is bounded.

Usage: serve_load.py BASE IMGPROC WORKDIR TOKEN_A TOKEN_B
"""
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

BASE, BIN, WORK, TA, TB = sys.argv[1:6]
CONNECTIONS = int(os.environ.get("CONNECTIONS", "200"))
SECONDS = float(os.environ.get("SECONDS_", "60"))
CHAINS = ["gaussian:ksize=7", "median:ksize=5,invert", "gray,canny"]
random.seed(7)
lock = threading.Lock()
statuses, failures, accepted = [], [], []


def note(status):
    with lock:
        statuses.append(status)


def request(path, token, data=None, ctype=None, method=None, timeout=120):
    r = urllib.request.Request(BASE + path, data=data, method=method)
    r.add_header("Authorization", "Bearer " + token)
    if ctype:
        r.add_header("Content-Type", ctype)
    try:
        resp = urllib.request.urlopen(r, timeout=timeout)
        note(resp.status)
        return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        note(e.code)
        return e.code, e.read()


def form(files, chain):
    b = uuid.uuid4().hex
    parts = [f'--{b}\r\nContent-Disposition: form-data; name="chain"\r\n\r\n{chain}\r\n'.encode()]
    for p in files:
        parts.append(f'--{b}\r\nContent-Disposition: form-data; name="files"; filename="{os.path.basename(p)}"\r\n\r\n'.encode()
                     + open(p, "rb").read() + b"\r\n")
    parts.append(f"--{b}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={b}"


def inputs():
    paths = []
    for i in range(5):
        p = os.path.join(WORK, f"in{i}.png" if i % 2 == 0 else f"in{i}.jpg")
        subprocess.run(["convert", "-seed", str(i + 1), "-size", f"{300 + 20 * i}x{200 + 10 * i}", "plasma:fractal", p], check=True)
        paths.append(p)
    return paths


def same(got, want):
    if open(got, "rb").read() == open(want, "rb").read():
        return True
    r = subprocess.run(["compare", "-metric", "AE", got, want, "null:"], capture_output=True, text=True)
    return r.stderr.strip() == "0"


def client(n, files, refs):
    token = TA if n % 2 == 0 else TB
    kind = n % 5
    if kind == 4:  # an info call
        status, body = request("/api/info", token, open(files[n % len(files)], "rb").read())
        if status != 200 or json.loads(body)["width"] <= 0:
            with lock:
                failures.append(f"info {status}")
        return
    chain = CHAINS[n % len(CHAINS)]
    chosen = files if kind == 3 else [files[n % len(files)]]
    status, body = request("/api/jobs", token, *form(chosen, chain))
    if status == 429:
        return  # refused, not accepted: not lost
    if status != 202:
        with lock:
            failures.append(f"submit {status}: {body[:200]}")
        return
    job = json.loads(body)["id"]
    with lock:
        accepted.append((job, token, chain, [os.path.basename(p) for p in chosen]))
    if kind == 2:  # watch it through its event stream
        r = urllib.request.Request(f"{BASE}/api/jobs/{job}/events")
        r.add_header("Authorization", "Bearer " + token)
        with urllib.request.urlopen(r, timeout=300) as s:
            for line in s:
                if line.startswith(b"event: end"):
                    break


def slow_clients():
    """Two slowloris connections; both must be closed by the server."""
    host, port = BASE.split("//")[1].split(":")
    heads = socket.create_connection((host, int(port)))
    heads.sendall(b"GET /api/jobs HTTP/1.1\r\nHost: x\r\n")
    body = socket.create_connection((host, int(port)))
    body.sendall(b"POST /api/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                 b"Content-Length: 100000\r\n\r\n--b\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.png\"\r\n\r\n")
    for name, s in (("slow headers", heads), ("stalled body", body)):
        s.settimeout(60)
        try:
            while s.recv(4096):
                pass
        except socket.timeout:
            with lock:
                failures.append(f"{name}: still open after 60 s")


def main():
    files = inputs()
    refs = {}
    for chain in CHAINS:
        for p in files:
            out = os.path.join(WORK, f"ref-{CHAINS.index(chain)}-{os.path.basename(p)}")
            subprocess.run([BIN, "run", "--reference", "--op", chain, p, "-o", out], check=True, capture_output=True)
            refs[(chain, os.path.basename(p))] = out
    threads = [threading.Thread(target=slow_clients)]
    threads[0].start()
    start = time.time()
    for n in range(CONNECTIONS):
        at = start + n * SECONDS / CONNECTIONS
        time.sleep(max(0.0, at - time.time()))
        t = threading.Thread(target=client, args=(n, files, refs))
        t.start()
        threads.append(t)
    for t in threads:
        t.join(timeout=600)
    # Every accepted job ends succeeded, with exact results.
    deadline = time.time() + 600
    checked = 0
    for job, token, chain, names in accepted:
        while True:
            status, body = request(f"/api/jobs/{job}", token)
            j = json.loads(body)
            if j["status"] in ("succeeded", "failed", "canceled") or time.time() > deadline:
                break
            time.sleep(0.2)
        if j["status"] != "succeeded" or j["done"] != len(names):
            failures.append(f"job {job}: {j['status']}, {j['done']}/{len(names)}: {j.get('error')}")
            continue
        for item in j["items"]:
            got = os.path.join(WORK, f"got-{job}-{item['output']}")
            status, data = request(f"/api/jobs/{job}/results/{item['output']}", token)
            open(got, "wb").write(data)
            if not same(got, refs[(chain, item["name"])]):
                failures.append(f"job {job}: {item['name']} differs from the reference")
            checked += 1
    fives = [s for s in statuses if s >= 500]
    print(f"serve_load: {CONNECTIONS} connections in {time.time() - start:.0f} s, {len(accepted)} jobs accepted, "
          f"{checked} results checked exact, {len(fives)} 5xx, {statuses.count(429)} 429", file=sys.stderr)
    if fives:
        failures.append(f"{len(fives)} answers were 5xx")
    if failures:
        print("serve_load: FAILED\n  " + "\n  ".join(failures[:20]), file=sys.stderr)
        sys.exit(1)


main()
