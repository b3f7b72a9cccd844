#!/usr/bin/env python3
"""The chaos soak: replicas on Redis and s3rver with a size limit, clients pulling all along, while
the upstream, Redis and S3 each refuse, hang and partition in turn behind relays, and a replica is
killed and started again. Everything on loopback; no root needed.

Reports requests, wrong bytes (must be 0), 404s for content that exists (must be 0), failures
outside upstream outages (must be 0, but for reads cut mid-body, which clients retry), each store
outage's detection and recovery per replica, RSS and descriptors over time, and upstream bytes
against the bytes the replicas filled from it.

    bash bench/soak.sh                      10 minutes, writes its table into docs/benchmarks.md
    bash bench/soak.sh --minutes 240        hours, on request
    bash bench/soak.sh --minutes 2 --out -  a short run, table printed only
"""
import argparse
import hashlib
import http.client
import json
import os
import random
import re
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (image building)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "bench", ".out", "cacheregistry", "cacheregistry")
ACCEPT = bench.ACCEPT
WORK = tempfile.mkdtemp(prefix="crsoak-")
os.rmdir(bench.WORK)  # the one bench made at import
bench.WORK = WORK
PROCS = []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- the relay (fault injection)

class Relay:
    """A TCP relay in front of one dependency. pass: forwards. refuse: nothing listens (connection
    refused) and open connections are reset. hang: connections are taken and never answered, and
    open ones go silent. partition: like hang, and connections open when it began stay silent
    after it ends (a middlebox that dropped their state)."""

    def __init__(self, target_port):
        self.target = target_port
        self.port = free_port()
        self.mode = "pass"
        self.bytes_down = 0  # target -> clients
        self._lock = threading.Lock()
        self._conns = []  # (client, server, frozen)
        self._listener = None
        self._listen()
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def _listen(self):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(512)
        self._listener = s

    def set(self, mode):
        with self._lock:
            before, self.mode = self.mode, mode
            if mode in ("hang", "partition"):
                for c in self._conns:
                    c[2][0] = True  # open connections go silent
            if mode == "refuse":
                for client, server, _ in self._conns:
                    for s in (client, server):
                        try:
                            if s is not None:
                                s.close()
                        except OSError:
                            pass
                self._conns.clear()
                if self._listener:
                    self._listener.close()
                    self._listener = None
            if mode == "pass":
                if before == "refuse":
                    self._listen()
                if before == "hang":
                    for c in self._conns:
                        c[2][0] = False  # a hang that ends: they go on
                    # Connections taken during the hang reach the server now, as after a network recovers.
                    waiting = [c for c in self._conns if c[1] is None]
                    self._conns = [c for c in self._conns if c[1] is not None]
                    for client, _, _ in waiting:
                        threading.Thread(target=self._connect, args=(client,), daemon=True).start()
                # after a partition, the connections that were open stay silent

    def _accept_loop(self):
        while True:
            listener = self._listener
            if listener is None:
                time.sleep(0.05)
                continue
            try:
                listener.settimeout(0.2)
                client, _ = listener.accept()
            except (socket.timeout, OSError):
                continue
            with self._lock:
                mode = self.mode
            if mode in ("hang", "partition"):
                with self._lock:
                    self._conns.append((client, None, [True]))
                continue
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client):
        try:
            server = socket.create_connection(("127.0.0.1", self.target), timeout=5)
        except OSError:
            client.close()
            return
        frozen = [False]
        with self._lock:
            self._conns.append((client, server, frozen))
        self._pump(client, server, frozen)

    def _pump(self, client, server, frozen):
        try:
            while True:
                r, _, _ = select.select([client, server], [], [], 0.5)
                if frozen[0]:
                    continue
                for s in r:
                    data = s.recv(65536)
                    if not data:
                        raise OSError("closed")
                    (server if s is client else client).sendall(data)
                    if s is server:
                        self.bytes_down += len(data)
        except (OSError, ValueError):
            pass
        finally:
            for s in (client, server):
                try:
                    s.close()
                except OSError:
                    pass
            with self._lock:
                self._conns = [c for c in self._conns if c[0] is not client]


# ---------------------------------------------------------------- servers

def start(cmd, logname):
    out = open(os.path.join(WORK, logname), "a")
    p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    PROCS.append(p)
    return p


def wait_http(url, what, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            status, _ = get(url)
            if status in (200, 401):
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not come up at {url}")


def get(url, timeout=10):
    m = re.match(r"http://([^/:]+):(\d+)(/.*)", url)
    c = http.client.HTTPConnection(m.group(1), int(m.group(2)), timeout=timeout)
    try:
        c.request("GET", m.group(3))
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


class Replica:
    def __init__(self, i, args):
        self.name = f"r{i}"
        self.port = free_port()
        self.data = tempfile.mkdtemp(prefix=self.name + "-", dir=WORK)
        self.args = [BINARY, f"--urls=http://127.0.0.1:{self.port}", f"--Registry:DataDir={self.data}",
                     f"--Registry:Cluster:AdvertiseUrl=http://127.0.0.1:{self.port}", *args]
        self.proc = None
        self.samples = []  # (t, rss bytes, fds)

    def start(self):
        self.proc = start(self.args, self.name + ".log")
        wait_http(f"http://127.0.0.1:{self.port}/healthz", self.name)

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def sample(self, t):
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                rss = next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmRSS:"))
            fds = len(os.listdir(f"/proc/{self.proc.pid}/fd"))
            self.samples.append((t, rss, fds))
        except (OSError, StopIteration):
            pass

    @property
    def log(self):
        with open(os.path.join(WORK, self.name + ".log"), errors="replace") as f:
            return f.read()


# ---------------------------------------------------------------- clients

class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = 0
        self.wrong_bytes = 0
        self.not_found = []
        self.failures_in_outage = 0
        self.failures_outside = []
        self.cut_mid_body = 0

    def add(self, **kw):
        with self.lock:
            for k, v in kw.items():
                if isinstance(getattr(self, k), list):
                    getattr(self, k).append(v)
                else:
                    setattr(self, k, getattr(self, k) + v)


def error_message(body):
    """The OCI error's message, which names what failed and why."""
    try:
        return "(" + json.loads(body)["errors"][0]["message"][:200] + ")"
    except (ValueError, KeyError, IndexError, TypeError):
        return ""


def client_loop(stop, replicas, images, tally, upstream_out):
    while not stop.is_set():
        image = random.choice(images)
        replica = random.choice(replicas)
        if replica.proc is None or replica.proc.poll() is not None:
            time.sleep(0.05)
            continue
        base = f"127.0.0.1:{replica.port}"
        for path, digest in [(f"/v2/library/{image['name']}/manifests/1", image["manifest_digest"])] + \
                            [(f"/v2/library/{image['name']}/blobs/{d}", d) for d in image["blobs"]]:
            outage = upstream_out[0]
            c = http.client.HTTPConnection(base, timeout=60)
            try:
                c.request("GET", path, headers={"Accept": ACCEPT})
                r = c.getresponse()
                tally.add(requests=1)
                if r.status != 200:
                    body = r.read()
                    if r.status == 404:
                        tally.add(not_found=f"{replica.name} {path}")
                    elif outage or upstream_out[0]:
                        tally.add(failures_in_outage=1)
                    else:
                        tally.add(failures_outside=(time.time(), f"{replica.name} {r.status} {path} {error_message(body)}"))
                    break
                h, n = hashlib.sha256(), 0
                while True:
                    chunk = r.read(65536)
                    if not chunk:
                        break
                    h.update(chunk)
                    n += len(chunk)
                length = r.getheader("Content-Length")
                if length is not None and n < int(length):
                    tally.add(cut_mid_body=1)
                    break
                if "sha256:" + h.hexdigest() != digest:
                    tally.add(wrong_bytes=1)
            except (OSError, http.client.HTTPException):
                tally.add(requests=1)
                if replica.proc.poll() is not None or outage or upstream_out[0]:
                    tally.add(failures_in_outage=1)
                else:
                    tally.add(cut_mid_body=1)
                break
            finally:
                c.close()


# ---------------------------------------------------------------- store outages as the replicas see them

def watch_stores(stop, replicas, events):
    """Every 0.5 s, each replica's /readyz?strict: when it names a store down, and when it is whole again."""
    down = {}
    while not stop.is_set():
        for rep in replicas:
            if rep.proc is None or rep.proc.poll() is not None:
                continue
            try:
                status, body = get(f"http://127.0.0.1:{rep.port}/readyz?strict", timeout=5)
            except OSError:
                continue
            text = body.decode(errors="replace")
            for store in ("redis", "s3"):
                now_down = status == 503 and store in text
                key = (rep.name, store)
                if now_down and key not in down:
                    down[key] = time.time()
                    events.append((time.time(), rep.name, store, "down"))
                elif not now_down and key in down:
                    del down[key]
                    events.append((time.time(), rep.name, store, "up"))
        time.sleep(0.5)


# ---------------------------------------------------------------- the run

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--replicas", type=int, default=2)
    ap.add_argument("--clients", type=int, default=6)
    ap.add_argument("--images", type=int, default=12)
    ap.add_argument("--outage", type=float, default=12, help="seconds each fault lasts")
    ap.add_argument("--calm", type=float, default=12, help="seconds between faults")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "benchmarks.md"), help="'-' prints the table only")
    ap.add_argument("--faults", default="", help="only these faults, e.g. redis:partition,s3:partition (default: all in turn)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (the replicas' logs) and print its path")
    a = ap.parse_args()

    images = [bench.build_image(f"soak{i}", [random.randint(256, 3072) << 10, random.randint(64, 1024) << 10]) for i in range(a.images)]
    image_bytes = sum(i["bytes"] for i in images)

    up_port, redis_port, s3_port = free_port(), free_port(), free_port()
    cfg = os.path.join(WORK, "upstream.yml")
    bench.registry_config(cfg, f"127.0.0.1:{up_port}", os.path.join(WORK, "upstream-storage"))
    start(["docker-registry", "serve", cfg], "upstream.log")
    wait_http(f"http://127.0.0.1:{up_port}/v2/", "upstream registry")
    for img in images:
        subprocess.run(["skopeo", "copy", "--all", "--preserve-digests", "--quiet", "--dest-tls-verify=false", f"oci:{img['layout']}:1",
                        f"docker://127.0.0.1:{up_port}/library/{img['name']}:1"], check=True)
    start(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], "redis.log")
    s3dir = os.path.join(WORK, "s3")
    os.makedirs(s3dir)
    start(["s3rver", "-d", s3dir, "-a", "127.0.0.1", "-p", str(s3_port), "--configure-bucket", "soak", "--silent"], "s3rver.log")
    wait_http(f"http://127.0.0.1:{s3_port}/soak", "s3rver")

    relays = {"upstream": Relay(up_port), "redis": Relay(redis_port), "s3": Relay(s3_port)}
    limit = image_bytes // 3  # evictions all along
    args = [f"--Registry:Upstreams:docker.io:Endpoints:0=http://127.0.0.1:{relays['upstream'].port}",
            "--Registry:Metadata:Kind=Redis", f"--Registry:Metadata:Configuration=127.0.0.1:{relays['redis'].port}",
            "--Registry:Storage:Kind=S3", f"--Registry:Storage:S3:ServiceUrl=http://127.0.0.1:{relays['s3'].port}",
            "--Registry:Storage:S3:Bucket=soak", "--Registry:Storage:S3:AccessKey=S3RVER", "--Registry:Storage:S3:SecretKey=S3RVER",
            "--Registry:Storage:S3:RequestTimeout=10s", f"--Registry:Cache:MaxSize={limit}", "--Registry:Cache:MaintenanceInterval=5s",
            "--Registry:Cluster:Secret=soak-cluster-secret-0123456789", "--Registry:Timeouts:FirstByte=10s", "--Registry:Timeouts:Idle=10s"]
    replicas = [Replica(i, args) for i in range(a.replicas)]
    for r in replicas:
        r.start()

    stop = threading.Event()
    tally, events, upstream_out = Tally(), [], [False]
    threads = [threading.Thread(target=client_loop, args=(stop, replicas, images, tally, upstream_out), daemon=True) for _ in range(a.clients)]
    threads.append(threading.Thread(target=watch_stores, args=(stop, replicas, events), daemon=True))
    for t in threads:
        t.start()

    started = time.time()
    end = started + a.minutes * 60
    faults = [(dep, mode) for mode in ("refuse", "hang", "partition") for dep in ("upstream", "redis", "s3")] + [("replica", "kill")]
    if a.faults:
        faults = [tuple(f.split(":")) for f in a.faults.split(",")]
    outages = []
    next_sample = 0
    i = 0
    while time.time() < end:
        calm_until = time.time() + a.calm
        while time.time() < min(calm_until, end):
            if time.time() >= next_sample:
                for r in replicas:
                    r.sample(time.time() - started)
                next_sample = time.time() + 5
            time.sleep(0.2)
        if time.time() >= end:
            break
        dep, mode = faults[i % len(faults)]
        i += 1
        t0 = time.time()
        print(f"[{t0 - started:6.0f} s] {dep} {mode}", file=sys.stderr, flush=True)
        if dep == "replica":
            victim = replicas[i % len(replicas)]
            victim.kill()
            time.sleep(min(a.outage, max(0, end - time.time())))
            victim.start()
        else:
            if dep == "upstream":
                upstream_out[0] = True
            relays[dep].set(mode)
            time.sleep(min(a.outage, max(0, end - time.time())))
            relays[dep].set("pass")
            # Upstream failures are allowed until clients' requests that began in the outage are over.
            if dep == "upstream":
                threading.Timer(15, lambda: upstream_out.__setitem__(0, False)).start()
        outages.append((dep, mode, t0, time.time()))
    # Let every store come back before the final checks (bounded).
    heal_deadline = time.time() + 90
    while time.time() < heal_deadline:
        try:
            if all(get(f"http://127.0.0.1:{r.port}/readyz?strict", timeout=5)[0] == 200 for r in replicas):
                break
        except OSError:
            pass
        time.sleep(1)
    stop.set()
    for t in threads:
        t.join(timeout=90)
    for r in replicas:
        r.sample(time.time() - started)

    # Every image through every replica after healing: whole and right.
    final_failures = []
    for r in replicas:
        for img in images:
            for path, digest in [(f"/v2/library/{img['name']}/manifests/1", img["manifest_digest"])] + \
                                [(f"/v2/library/{img['name']}/blobs/{d}", d) for d in img["blobs"]]:
                c = http.client.HTTPConnection(f"127.0.0.1:{r.port}", timeout=60)
                c.request("GET", path, headers={"Accept": ACCEPT})
                resp = c.getresponse()
                body = resp.read()
                c.close()
                if resp.status != 200 or "sha256:" + hashlib.sha256(body).hexdigest() != digest:
                    final_failures.append(f"{r.name} {resp.status} {path}")

    # Detection and recovery of each store outage per replica.
    rows = []
    for dep, mode, t0, t1 in outages:
        if dep not in ("redis", "s3"):
            continue
        for r in replicas:
            down = next((t for t, rep, store, what in events if rep == r.name and store == dep and what == "down" and t0 - 1 <= t <= t1 + 30), None)
            up = next((t for t, rep, store, what in events if rep == r.name and store == dep and what == "up" and t >= (down or t1) and t >= t1 - 1), None)
            rows.append((dep, mode, r.name, None if down is None else down - t0, None if up is None else up - t1))

    filled = 0
    upstream_endpoint = f"127.0.0.1:{relays['upstream'].port}"
    for r in replicas:
        for m in re.finditer(r"(?:committed|not stored[^:]*): (\d+) bytes from " + re.escape(upstream_endpoint), r.log):
            filled += int(m.group(1))
    evicted = sum(int(m.group(1)) for r in replicas for m in re.finditer(r"size limit: evicted (\d+) blobs", r.log))

    for p in PROCS:
        if p.poll() is None:
            p.kill()

    report = render(a, images, image_bytes, limit, tally, final_failures, rows, replicas, relays["upstream"].bytes_down, filled, evicted, outages)
    print(report)
    if a.out != "-":
        write_section(a.out, report)
    slow = [r for r in rows if too_slow(r[3], r[4])]
    bad = tally.wrong_bytes + len(tally.not_found) + len(tally.failures_outside) + len(final_failures) + len(slow)
    if a.keep or bad:
        print(f"logs kept in {WORK}", file=sys.stderr)
    else:
        shutil.rmtree(WORK, ignore_errors=True)
    sys.exit(1 if bad else 0)


# README, "When things fail": a store is used again within 30 s of its answering again.
RECOVERY_BOUND = 30


def too_slow(down, up):
    """Marked down, and not used again within the bound after the outage ended."""
    return down is not None and (up is None or up > RECOVERY_BOUND)


def fmt(v):
    return "—" if v is None else f"{v:.1f} s"


def render(a, images, image_bytes, limit, t, final_failures, rows, replicas, upstream_bytes, filled, evicted, outages):
    mb = lambda b: f"{b / (1 << 20):.0f} MB"
    lines = [
        "## Chaos soak", "",
        f"`bash bench/soak.sh --minutes {a.minutes:g}` on {time.strftime('%Y-%m-%d')}: {a.replicas} replicas on Redis and s3rver, "
        f"{a.images} images ({mb(image_bytes)}) under a {mb(limit)} size limit checked every 5 s, {a.clients} clients pulling "
        f"through random replicas and checking every digest; the upstream, Redis and S3 refused, hung and partitioned in turn "
        f"({a.outage:g} s each, {a.calm:g} s apart) behind relays, and a replica killed and started again once a round "
        f"({len(outages)} faults in all).", "",
        "| | |", "|---|---|",
        f"| requests | {t.requests} |",
        f"| wrong bytes (must be 0) | {t.wrong_bytes} |",
        f"| 404 for content that exists (must be 0) | {len(t.not_found)} |",
        f"| failures outside upstream outages (must be 0) | {len(t.failures_outside)} |",
        f"| store outages not recovered within {RECOVERY_BOUND} s (must be 0) | {sum(1 for r in rows if too_slow(r[3], r[4]))} |",
        f"| failures during upstream outages / reads cut mid-body (clients retry) | {t.failures_in_outage} / {t.cut_mid_body} |",
        f"| every image through every replica after healing | {'all whole and right' if not final_failures else f'{len(final_failures)} failed'} |",
        f"| upstream bytes ÷ bytes filled from it | {upstream_bytes / max(filled, 1):.3f} ({mb(upstream_bytes)} ÷ {mb(filled)}; {evicted} blobs evicted and refilled on demand) |",
    ]
    for r in replicas:
        if r.samples:
            rss = [s[1] for s in r.samples]
            fds = [s[2] for s in r.samples]
            lines.append(f"| {r.name}: RSS first / max / last, descriptors first / max / last | {mb(rss[0])} / {mb(max(rss))} / {mb(rss[-1])}, {fds[0]} / {max(fds)} / {fds[-1]} |")
    lines += ["", "| store outage | replica | marked down after | used again after it ended |", "|---|---|---|---|"]
    lines += [f"| {dep} {mode} | {rep} | {fmt(d)} | {fmt(u)}{' (over the bound)' if too_slow(d, u) else ''} |" for dep, mode, rep, d, u in rows]
    def after_fault(at):
        ended = [(at - t1, f"{dep} {mode}") for dep, mode, t0, t1 in outages if t1 <= at]
        return f"{min(ended)[0]:.0f} s after the {min(ended)[1]} ended" if ended else "before any fault"
    outside = [f"{what} ({after_fault(at)})" for at, what in t.failures_outside]
    if t.not_found or outside or final_failures:
        lines += ["", "First failures: " + "; ".join((t.not_found + outside + final_failures)[:8])]
    return "\n".join(lines) + "\n"


def write_section(path, report):
    text = open(path).read() if os.path.exists(path) else ""
    start = text.find("## Chaos soak")
    if start >= 0:
        nxt = text.find("\n## ", start + 1)
        text = text[:start] + report + (text[nxt + 1:] if nxt >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + report
    with open(path, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
