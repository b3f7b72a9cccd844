#!/usr/bin/env python3
"""CacheRegistry beside distribution's registry (proxy mode) and nginx, in one run, on one machine.

The upstream registry runs in its own network namespace; the caches, nginx and every client run in
a second one; a veth pair shaped with tbf at 200 Mbit/s in both directions joins them (the
cross-border link). Both namespaces, and the addresses inside them, are made here and removed at
the end. Results are ratios from the same run; see docs/benchmarks.md.
"""
import argparse
import atexit
import datetime
import hashlib
import json
import os
import platform
import re
import resource
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TAG = f"{os.getpid() % 10000}"
NS_UP, NS_CA = f"crb-up-{TAG}", f"crb-ca-{TAG}"
VETH_UP, VETH_CA = f"crbu{TAG}", f"crbc{TAG}"
UP_IP, CA_IP = "10.253.7.1", "10.253.7.2"  # exist only inside the two namespaces below
UPSTREAM = f"http://{UP_IP}:5000"
PORTS = {"distribution": 5101, "cacheregistry": 5102, "nginx": 5103}
REPLICA_PORTS = (5111, 5112, 5113)
REDIS_PORT, S3_PORT = 5190, 5191
ACCEPT = ",".join([
    "application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json", "application/vnd.docker.distribution.manifest.v2+json"])

WORK = tempfile.mkdtemp(prefix="crbench-")
BINARY = os.path.join(ROOT, "bench", ".out", "cacheregistry", "cacheregistry")
CACHE_ARGS = []  # --cache-arg: settings for every CacheRegistry started
PROCS = []
PEAK_RSS = {"distribution": 0, "cacheregistry": 0}

# Holds N keep-alive connections to a server, each idle after one request, until stdin closes.
IDLE_HOLDER = r"""
import resource, socket, sys
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
n, port = int(sys.argv[1]), int(sys.argv[2])
socks = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /v2/ HTTP/1.1\r\nHost: bench\r\n\r\n")
    socks.append(s)
failed = sum(1 for s in socks if not s.recv(4096).startswith(b"HTTP/1.1 200"))
print(f"ready {failed}", flush=True)
sys.stdin.read()
"""


def sh(*args, ns=None, check=True, capture=True):
    cmd = (["ip", "netns", "exec", ns] if ns else []) + [str(a) for a in args]
    r = subprocess.run(cmd, capture_output=capture, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r.stdout


def log(msg):
    print(msg, flush=True)


# ---------------------------------------------------------------- network

def make_link(rate):
    sh("ip", "netns", "add", NS_UP)
    sh("ip", "netns", "add", NS_CA)
    sh("ip", "link", "add", VETH_UP, "type", "veth", "peer", "name", VETH_CA)
    sh("ip", "link", "set", VETH_UP, "netns", NS_UP)
    sh("ip", "link", "set", VETH_CA, "netns", NS_CA)
    sh("ip", "-n", NS_UP, "addr", "add", f"{UP_IP}/30", "dev", VETH_UP)
    sh("ip", "-n", NS_CA, "addr", "add", f"{CA_IP}/30", "dev", VETH_CA)
    for ns, dev in ((NS_UP, VETH_UP), (NS_CA, VETH_CA)):
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", ns, "link", "set", dev, "up")
        sh("tc", "-n", ns, "qdisc", "add", "dev", dev, "root", "tbf", "rate", rate, "burst", "256kb", "latency", "50ms")


def upstream_tx_bytes():
    return int(sh("cat", f"/sys/class/net/{VETH_UP}/statistics/tx_bytes", ns=NS_UP).strip())


def cleanup():
    for p in PROCS:
        if p.poll() is None:
            p.kill()
            p.wait()
    for ns in (NS_UP, NS_CA):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    if not os.environ.get("BENCH_KEEP"):
        shutil.rmtree(WORK, ignore_errors=True)


# ---------------------------------------------------------------- images

def write_blob(layout, data_or_size):
    """Writes a blob into the layout; random bytes of the given size are streamed, not held."""
    blobs = os.path.join(layout, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)
    tmp = os.path.join(blobs, "tmp")
    h = hashlib.sha256()
    with open(tmp, "wb") as f:
        if isinstance(data_or_size, bytes):
            f.write(data_or_size)
            h.update(data_or_size)
            size = len(data_or_size)
        else:
            size, left = data_or_size, data_or_size
            while left:
                chunk = os.urandom(min(left, 4 << 20))
                f.write(chunk)
                h.update(chunk)
                left -= len(chunk)
    digest = "sha256:" + h.hexdigest()
    os.rename(tmp, os.path.join(blobs, h.hexdigest()))
    return digest, size


def build_image(name, layer_sizes):
    layout = os.path.join(WORK, "layout-" + name)
    os.makedirs(layout)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    layers = [write_blob(layout, s) for s in layer_sizes]
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [d for d, _ in layers]},
                         "config": {"Labels": {"bench": name + str(time.time())}}}).encode()
    config_digest, config_size = write_blob(layout, config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": s} for d, s in layers]}).encode()
    manifest_digest, manifest_size = write_blob(layout, manifest)
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest,
                                                      "size": manifest_size, "annotations": {"org.opencontainers.image.ref.name": "1"}}]}, f)
    return {"name": name, "layout": layout, "manifest": manifest, "manifest_digest": manifest_digest,
            "blobs": [config_digest] + [d for d, _ in layers], "layers": [d for d, _ in layers],
            "bytes": config_size + manifest_size + sum(s for _, s in layers)}


# ---------------------------------------------------------------- servers

def start(cmd, ns, logname, env=None):
    out = open(os.path.join(WORK, logname), "w")
    p = subprocess.Popen(["ip", "netns", "exec", ns] + cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    PROCS.append(p)
    return p


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def report(table, out):
    """Prints a markdown table and, when out is given, writes it there."""
    print(table)
    if out:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        with open(out, "w") as f:
            f.write(table)


def wait_http(url, ns, what, timeout=60):
    """Until url answers 200 or 401, asked from inside network namespace ns (None: from here)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = subprocess.run((["ip", "netns", "exec", ns] if ns else []) + ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url], capture_output=True, text=True)
        if r.stdout.strip() in ("200", "401"):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not come up at {url}")


def registry_config(path, addr, storage, proxy=None):
    with open(path, "w") as f:
        f.write(f"version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n"
                f"http:\n  addr: {addr}\n" + (f"proxy:\n  remoteurl: {proxy}\n" if proxy else ""))


def start_upstream():
    cfg = os.path.join(WORK, "upstream.yml")
    registry_config(cfg, "0.0.0.0:5000", os.path.join(WORK, "upstream-storage"))
    start(["docker-registry", "serve", cfg], NS_UP, "upstream.log")
    wait_http("http://127.0.0.1:5000/v2/", NS_UP, "upstream registry")


def start_cache(kind):
    """A fresh (cold) instance of one cache; returns its process."""
    storage = tempfile.mkdtemp(prefix=kind + "-", dir=WORK)
    port = PORTS[kind]
    if kind == "distribution":
        cfg = os.path.join(storage, "config.yml")
        registry_config(cfg, f"127.0.0.1:{port}", os.path.join(storage, "data"), proxy=UPSTREAM)
        p = start(["docker-registry", "serve", cfg], NS_CA, "distribution.log")
    else:
        binary = BINARY
        # As shipped, logging included (stdout to a file, as distribution's access log); --cache-arg adds settings.
        p = start([binary, f"--urls=http://127.0.0.1:{port}", f"--Registry:DataDir={storage}",
                   f"--Registry:Upstreams:docker.io:Endpoints:0={UPSTREAM}", *CACHE_ARGS], NS_CA, "cacheregistry.log")
    wait_http(f"http://127.0.0.1:{port}/v2/", NS_CA, kind)
    return p


def start_backends():
    """redis-server and s3rver, shared by the replicas, in the caches' namespace."""
    start(["redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], NS_CA, "redis.log")
    s3dir = os.path.join(WORK, "s3")
    os.makedirs(s3dir)
    start(["s3rver", "-d", s3dir, "-a", "127.0.0.1", "-p", str(S3_PORT), "--configure-bucket", "bench", "--silent"], NS_CA, "s3rver.log",
          env=dict(os.environ, NODE_OPTIONS="--openssl-legacy-provider"))
    wait_http(f"http://127.0.0.1:{S3_PORT}/bench", NS_CA, "s3rver")
    deadline = time.time() + 30
    while sh("redis-cli", "-p", REDIS_PORT, "ping", ns=NS_CA, check=False).strip() != "PONG":
        if time.time() > deadline:
            raise RuntimeError("redis-server did not come up")
        time.sleep(0.2)


def start_replicas(prefix):
    """Three CacheRegistry replicas on the shared Redis and S3, streaming each other's fills."""
    procs = []
    for port in REPLICA_PORTS:
        storage = tempfile.mkdtemp(prefix="replica-", dir=WORK)
        procs.append(start([BINARY, f"--urls=http://127.0.0.1:{port}", f"--Registry:DataDir={storage}",
                            f"--Registry:Upstreams:docker.io:Endpoints:0={UPSTREAM}", *CACHE_ARGS,
                            "--Registry:Storage:Kind=S3", f"--Registry:Storage:S3:ServiceUrl=http://127.0.0.1:{S3_PORT}",
                            "--Registry:Storage:S3:Bucket=bench", f"--Registry:Storage:S3:Prefix={prefix}",
                            "--Registry:Storage:S3:AccessKey=S3RVER", "--Registry:Storage:S3:SecretKey=S3RVER",
                            "--Registry:Metadata:Kind=Redis", f"--Registry:Metadata:Configuration=127.0.0.1:{REDIS_PORT}",
                            f"--Registry:Metadata:KeyPrefix={prefix}", f"--Registry:Cluster:AdvertiseUrl=http://127.0.0.1:{port}",
                            "--Registry:Cluster:Secret=bench-cluster-secret-0123456789"], NS_CA, f"replica-{port}.log"))
    for port in REPLICA_PORTS:
        wait_http(f"http://127.0.0.1:{port}/v2/", NS_CA, f"replica on {port}")
    return procs


def stop(kind, p):
    PEAK_RSS[kind] = max(PEAK_RSS[kind], peak_rss(p.pid))
    p.kill()
    p.wait()


def peak_rss(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def start_nginx(images):
    root = os.path.join(WORK, "nginx-root")
    os.makedirs(root)
    with open(os.path.join(root, "manifest.json"), "wb") as f:
        f.write(images["bench64"]["manifest"])
    shutil.copy(os.path.join(images["bench64"]["layout"], "blobs", "sha256", images["bench64"]["layers"][0][7:]), os.path.join(root, "blob64"))
    conf = os.path.join(WORK, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""worker_processes 2; daemon off; pid {WORK}/nginx.pid; error_log {WORK}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{ access_log off; sendfile on; tcp_nopush on; keepalive_requests 100000;
  types {{ application/vnd.oci.image.manifest.v1+json json; }} default_type application/octet-stream;
  client_body_temp_path {WORK}/nb; proxy_temp_path {WORK}/np; fastcgi_temp_path {WORK}/nf; uwsgi_temp_path {WORK}/nu; scgi_temp_path {WORK}/ns;
  server {{ listen 127.0.0.1:{PORTS['nginx']}; root {root}; }} }}
""")
    # nginx's workers run as an unprivileged user: the files it serves must be readable to it.
    for path in (WORK, root, os.path.join(root, "manifest.json"), os.path.join(root, "blob64")):
        os.chmod(path, 0o755)
    start(["nginx", "-c", conf], NS_CA, "nginx.log")
    wait_http(f"http://127.0.0.1:{PORTS['nginx']}/manifest.json", NS_CA, "nginx")


# ---------------------------------------------------------------- clients

def pull(base, image, results, i):
    """One client: the manifest by tag, then every blob, with curl, bytes to /dev/null."""
    t0 = time.time()
    urls = [f"{base}/v2/library/{image['name']}/blobs/{d}" for d in image["blobs"]]
    r = subprocess.run(["ip", "netns", "exec", NS_CA, "curl", "-sf", "-o", "/dev/null", "-H", f"Accept: {ACCEPT}",
                        f"{base}/v2/library/{image['name']}/manifests/1"] +
                       sum([["-o", "/dev/null", u] for u in urls], []), capture_output=True, text=True)
    results[i] = (time.time() - t0, r.returncode)


def run_clients(target, bases, image, results):
    """One thread per client, all started together; returns the wall time until the last one ends."""
    threads = [threading.Thread(target=target, args=(base, image, results, i)) for i, base in enumerate(bases)]
    t0 = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.time() - t0


def cold_pull(kind, image, clients):
    p = start_cache(kind)
    before = upstream_tx_bytes()
    results = [None] * clients
    wall = run_clients(pull, [f"http://127.0.0.1:{PORTS[kind]}"] * clients, image, results)
    ratio = (upstream_tx_bytes() - before) / image["bytes"]
    failures = sum(1 for _, rc in results if rc != 0)
    stop(kind, p)
    return {"wall": wall, "ratio": ratio, "failures": failures}


def timed_pull(base, image, results, i, start):
    """One client, like pull(), also keeping each layer's time to first byte. Its curl process is
    started first and waits for its URLs on stdin until every client's is ready (the barrier
    `start`): the clients stand for separate nodes, so the cost of starting sixteen processes on
    the caches' two cores is not counted in anyone's first byte."""
    urls = [f"{base}/v2/library/{image['name']}/manifests/1"] + [f"{base}/v2/library/{image['name']}/blobs/{d}" for d in image["layers"]]
    config = "".join(f'url = "{u}"\noutput = "/dev/null"\n' for u in urls)
    curl = subprocess.Popen(["ip", "netns", "exec", NS_CA, "curl", "-sf", "-w", "%{time_starttransfer}\\n", "-H", f"Accept: {ACCEPT}", "-K", "-"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    start.wait()
    t0 = time.time()
    out, _ = curl.communicate(config)
    firsts = [float(x) for x in out.split()[1:]]
    results[i] = (time.time() - t0, curl.returncode, firsts)


def cluster_cold_pull(image, clients, prefix, stored=None):
    """Clients spread over three cold replicas sharing Redis and S3: one upstream download, everyone
    fed at once. With stored, the replicas run on until stored() has seen every layer in the bucket."""
    procs = start_replicas(prefix)
    # Warm processes (JIT, connections) on two other images, as a cluster that has served before:
    # each pulled by a client on every replica at once, so the replicas have streamed each other's
    # fills, and the runtime has compiled those paths' hot methods again with full optimisation.
    for warm in (IMAGES["bench64"], IMAGES["warmup"]):
        run_clients(pull, [f"http://127.0.0.1:{port}" for port in REPLICA_PORTS] * 2, warm, [None] * 6)
    before = upstream_tx_bytes()
    results = [None] * clients
    start = threading.Barrier(clients)
    run_clients(lambda base, img, res, i: timed_pull(base, img, res, i, start), [f"http://127.0.0.1:{REPLICA_PORTS[i % 3]}" for i in range(clients)], image, results)
    wall = max(r[0] for r in results)
    ratio = (upstream_tx_bytes() - before) / image["bytes"]
    stored_after = stored() if stored else None
    replica_rss = max(peak_rss(p.pid) for p in procs)
    for p in procs:
        p.kill()
        p.wait()
    firsts = [t for r in results for t in r[2]]
    return {"wall": wall, "ratio": ratio, "failures": sum(1 for r in results if r[1] != 0), "worst_ttfb": max(firsts, default=float("nan")),
            "median_ttfb": sorted(firsts)[len(firsts) // 2] if firsts else float("nan"), "peak_rss": replica_rss, "stored_after": stored_after,
            "ttfbs": [[round(t * 1000) for t in r[2]] for r in results]}


def s3_loads(images, clients, duration):
    """The S3 back end on its own: three replicas' cold pull, how long after it the layers are in the
    bucket, then hits read from S3 (whole 64 MB blob, and 1 MB ranges at its end) on one replica."""
    image = images["bench"]

    def stored():
        done = time.time()
        for layer in image["layers"]:
            url = f"http://127.0.0.1:{S3_PORT}/bench/s3/blobs/sha256/{layer[7:9]}/{layer[7:]}"
            while sh("curl", "-s", "-o", "/dev/null", "-I", "-w", "%{http_code}", url, ns=NS_CA, check=False) != "200":
                if time.time() - done > 300:
                    raise RuntimeError(f"{layer} not in the bucket 300 s after the pull")
                time.sleep(0.1)
        return time.time() - done
    cl = cluster_cold_pull(image, clients, "s3/", stored)
    procs = start_replicas("s3/")
    base = f"http://127.0.0.1:{REPLICA_PORTS[0]}"
    pull(base, images["bench64"], [None], 0)
    _, blob = warm_urls(base, images)
    size = 64 << 20 if images["bench64"]["bytes"] > (8 << 20) else 1 << 20
    rows = {"cluster": cl, "stored_after": cl["stored_after"],
            "blob": wrk(blob, 2, 4, duration),
            "range": wrk(blob, 2, 4, duration, header=f"Range: bytes={size - (1 << 20)}-{size - 1}"),
            "rss": rss(procs[0].pid)}
    for p in procs:
        p.kill()
        p.wait()
    return rows


def idle_connections_load(port, count, duration):
    """The warm manifest load while `count` other connections sit idle; the cache's memory after."""
    holder = subprocess.Popen(["ip", "netns", "exec", NS_CA, "python3", "-c", IDLE_HOLDER, str(count), str(port)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        ready = holder.stdout.readline().split()
        if not ready or ready[0] != "ready":
            raise RuntimeError("the idle-connection holder did not connect")
        load = wrk(f"http://127.0.0.1:{port}/v2/library/bench64/manifests/1", 2, 8, duration, ACCEPT)
        load["idle_failed"] = int(ready[1])
        return load
    finally:
        holder.stdin.close()
        holder.wait()


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmRSS:"))


def dir_bytes(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files if os.path.exists(os.path.join(d, f)))


def big_layer_pull(image, clients):
    """A cold single-layer image pulled by several clients at once, sampling the cache's RSS and spool size."""
    storage = tempfile.mkdtemp(prefix="big-", dir=WORK)
    port = PORTS["cacheregistry"]
    p = start([BINARY, f"--urls=http://127.0.0.1:{port}", f"--Registry:DataDir={storage}", f"--Registry:Upstreams:docker.io:Endpoints:0={UPSTREAM}",
               *CACHE_ARGS], NS_CA, "cacheregistry-big.log")
    wait_http(f"http://127.0.0.1:{port}/v2/", NS_CA, "cacheregistry")
    peak = {"rss": 0, "spool": 0}
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak["rss"] = max(peak["rss"], rss(p.pid))
            peak["spool"] = max(peak["spool"], dir_bytes(os.path.join(storage, "spool")))
            time.sleep(0.25)
    sampler = threading.Thread(target=sample)
    sampler.start()
    before = upstream_tx_bytes()
    results = [None] * clients
    wall = run_clients(pull, [f"http://127.0.0.1:{port}"] * clients, image, results)
    done.set()
    sampler.join()
    ratio = (upstream_tx_bytes() - before) / image["bytes"]
    p.kill()
    p.wait()
    return {"wall": wall, "ratio": ratio, "failures": sum(1 for _, rc in results if rc != 0), "peak_rss": peak["rss"], "peak_spool": peak["spool"]}


def set_rate(rate):
    for ns, dev in ((NS_UP, VETH_UP), (NS_CA, VETH_CA)):
        sh("tc", "-n", ns, "qdisc", "change", "dev", dev, "root", "tbf", "rate", rate, "burst", "1mb" if rate.endswith("gbit") else "256kb", "latency", "50ms")


def ttfb(url):
    out = sh("curl", "-s", "-o", "/dev/null", "-w", "%{time_starttransfer}", url, ns=NS_CA)
    return float(out)


def wrk(url, threads, connections, duration, accept=None, header=None):
    args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency"] + (["-H", f"Accept: {accept}"] if accept else []) \
        + (["-H", header] if header else []) + [url]
    # An unmeasured warm-up first, the same for every server (JIT tiering, connection pools, page cache).
    sh(*args[:3], f"-d{min(2, duration)}s", *args[4:], ns=NS_CA)
    out = sh(*args, ns=NS_CA)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    transfer = re.search(r"Transfer/sec:\s+([\d.]+)([KMG]?B)", out)
    bps = float(transfer.group(1)) * {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}[transfer.group(2)]

    def pct(p):
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        return float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)] if m else float("nan")
    return {"rps": rps, "bps": bps, "p50": pct(50), "p99": pct(99), "errors": "Non-2xx" in out or "Socket errors" in out}


# ---------------------------------------------------------------- the run

IMAGES = {}


def warm_urls(base, images):
    """The warm loads' two URLs on a cache: the manifest by tag and the 64 MB blob."""
    return f"{base}/v2/library/bench64/manifests/1", f"{base}/v2/library/bench64/blobs/{images['bench64']['layers'][0]}"


def paired_with_nginx(base, images, duration, rounds):
    """CacheRegistry's warm manifest and blob loads, each right beside nginx serving the same bytes as
    static files, alternating for a few rounds: this shared machine's speed drifts over minutes, so
    a ratio is taken between neighbours, and the median round is kept."""
    manifest, blob = warm_urls(base, images)
    loads = {"manifest": (manifest, ACCEPT, f"http://127.0.0.1:{PORTS['nginx']}/manifest.json", 8, "rps"),
             "blob": (blob, None, f"http://127.0.0.1:{PORTS['nginx']}/blob64", 4, "bps")}
    rows = {}
    for name, (ours, accept, nginx, conns, key) in loads.items():
        pairs = [(wrk(ours, 2, conns, duration, accept), wrk(nginx, 2, conns, duration)) for _ in range(rounds)]
        pairs.sort(key=lambda p: p[0][key] / p[1][key])
        rows[f"{name}_cacheregistry"], rows[f"{name}_nginx"] = pairs[len(pairs) // 2]
        rows[f"{name}_ratios"] = [p[0][key] / p[1][key] for p in pairs]
    return rows


def warm_loads(images, duration, rounds):
    """The warm manifest and blob loads alone, to compare builds of the hit path."""
    p = start_cache("cacheregistry")
    base = f"http://127.0.0.1:{PORTS['cacheregistry']}"
    pull(base, images["bench64"], [None], 0)
    rows = paired_with_nginx(base, images, duration, rounds)
    p.kill()
    p.wait()
    return rows


def main():
    global BINARY, CACHE_ARGS
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--smoke", action="store_true", help="a tiny run that checks the harness (a few MB, 2 clients, 1 s loads)")
    ap.add_argument("--image-mb", type=int, default=512)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3, help="warm loads: CacheRegistry and nginx alternate this many times; the median ratio is reported")
    ap.add_argument("--rate", default="200mbit")
    ap.add_argument("--big-mb", type=int, default=4096, help="the single layer pulled cold by 8 clients for the memory measure")
    ap.add_argument("--idle", type=int, default=10000, help="idle client connections held during the warm manifest load")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "benchmarks.md"))
    ap.add_argument("--binary", default=BINARY, help="the cacheregistry executable (bench/run.sh publishes one)")
    ap.add_argument("--cache-arg", action="append", default=[], help="a setting for every CacheRegistry started (repeatable), e.g. --cache-arg=--Logging:HitSampling=1")
    ap.add_argument("--cluster-only", action="store_true", help="only the three replicas' cold pull, printed, docs/benchmarks.md untouched")
    ap.add_argument("--s3-only", action="store_true", help="only the S3 back end's loads (cold pull by three replicas, time until stored, hits and ranges read from S3), printed")
    ap.add_argument("--warm-only", action="store_true", help="only the warm manifest and blob loads, CacheRegistry and nginx, printed, docs/benchmarks.md untouched")
    a = ap.parse_args()
    BINARY = a.binary
    CACHE_ARGS = a.cache_arg
    if a.smoke:
        a.image_mb, a.clients, a.duration, a.big_mb, a.idle, a.rounds = 2, 2, 1, 8, 100, 1
    blob64 = (64 << 20) if not a.smoke else (1 << 20)
    atexit.register(cleanup)
    # 10,000 idle connections need as many descriptors in the holder and in the cache: the soft limit goes up to the hard one.
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard != resource.RLIM_INFINITY and hard < a.idle + 1000:
        raise SystemExit(f"{a.idle} idle connections need a descriptor limit above {a.idle + 1000} (ulimit -Hn is {hard}); pass --idle N")

    log(f"building images: {a.image_mb} MB in two layers, and a {blob64 >> 20} MB blob")
    images = IMAGES
    images.update({"bench": build_image("bench", [(a.image_mb << 20) // 2] * 2), "bench64": build_image("bench64", [blob64]),
                   "warmup": build_image("warmup", [blob64])})
    if not (a.cluster_only or a.warm_only or a.s3_only):
        images["big"] = build_image("big", [a.big_mb << 20])
    make_link(a.rate)
    start_upstream()
    for img in images.values():
        sh("skopeo", "copy", "--all", "--preserve-digests", "--quiet", "--dest-tls-verify=false",
           f"oci:{img['layout']}:1", f"docker://127.0.0.1:5000/library/{img['name']}:1", ns=NS_UP)
    start_nginx(images)
    image = images["bench"]
    rows = {}

    log("upstream's own time to first byte (direct, over the link)")
    rows["ttfb_upstream"] = ttfb(f"{UPSTREAM}/v2/library/bench/blobs/{image['layers'][0]}")
    if a.warm_only:
        print(json.dumps(warm_loads(images, a.duration, a.rounds), indent=1))
        return
    if a.s3_only:
        start_backends()
        print(json.dumps(s3_loads(images, a.clients, a.duration), indent=1))
        return
    if a.cluster_only:
        start_backends()
        cl = cluster_cold_pull(image, a.clients, "cluster/")
        print(json.dumps({"ttfb_upstream": rows["ttfb_upstream"], **cl}, indent=1))
        return
    for kind in ("distribution", "cacheregistry"):
        p = start_cache(kind)
        # A cold cache, not a cold process: both servers first serve another image (JIT, connections).
        pull(f"http://127.0.0.1:{PORTS[kind]}", images["bench64"], [None], 0)
        log(f"{kind}: cold time to first byte of a {a.image_mb // 2} MB layer")
        rows[f"ttfb_{kind}"] = ttfb(f"http://127.0.0.1:{PORTS[kind]}/v2/library/bench/blobs/{image['layers'][0]}")
        stop(kind, p)
        for clients in (1, a.clients):
            log(f"{kind}: cold pull, {clients} client(s)")
            rows[f"cold{clients}_{kind}"] = cold_pull(kind, image, clients)

    for kind in ("distribution", "cacheregistry"):
        p = start_cache(kind)
        base = f"http://127.0.0.1:{PORTS[kind]}"
        for img in (images["bench"], images["bench64"]):  # warm both images (not the big one: it has its own measure)
            results = [None]
            pull(base, img, results, 0)
        log(f"{kind}: warm manifest by tag, warm 64 MB blob")
        if kind == "cacheregistry":
            rows.update(paired_with_nginx(base, images, a.duration, a.rounds))
        else:
            manifest, blob = warm_urls(base, images)
            rows[f"manifest_{kind}"] = wrk(manifest, 2, 8, a.duration, ACCEPT)
            rows[f"blob_{kind}"] = wrk(blob, 2, 4, a.duration)
        PEAK_RSS[kind] = max(PEAK_RSS[kind], peak_rss(p.pid))
        if kind == "cacheregistry":
            # Measured apart: the idle connections' memory is reported on its own row, not as the run's peak.
            log(f"{kind}: warm manifest by tag with {a.idle} idle connections open")
            rows["idle"] = idle_connections_load(PORTS[kind], a.idle, a.duration)
            rows["idle"]["rss"] = rss(p.pid)
        p.kill()
        p.wait()

    log(f"cacheregistry: 3 replicas on Redis and S3, cold pull by {a.clients} clients spread over them")
    start_backends()
    rows["cluster"] = cluster_cold_pull(image, a.clients, "cluster/")
    log(f"cacheregistry: a {a.big_mb} MB layer pulled cold by 8 clients (link raised to 2 Gbit/s for this one)")
    set_rate("2gbit")
    rows["big"] = big_layer_pull(images["big"], 8)
    set_rate(a.rate)

    report(render(rows, a, blob64), a.out)
    failures = sum(rows[k]["failures"] for k in rows if k.startswith("cold") or k in ("cluster", "big"))
    if failures:
        raise SystemExit(f"{failures} cold pulls failed; see the logs in {WORK}")


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
    mem = next((int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0) / (1 << 20)
    return f"{os.cpu_count()} × {cpu}, {mem:.0f} GiB, Linux {platform.release()}"


def render(r, a, blob64):
    def gbps(b):
        return f"{b / (1 << 30):.2f} GB/s"
    dist, ours = "distribution", "cacheregistry"
    c1, cn = r[f"cold1_{ours}"], r[f"cold{a.clients}_{ours}"]
    d1, dn = r[f"cold1_{dist}"], r[f"cold{a.clients}_{dist}"]
    m, md, mn = r[f"manifest_{ours}"], r[f"manifest_{dist}"], r["manifest_nginx"]
    b, bd, bn = r[f"blob_{ours}"], r[f"blob_{dist}"], r["blob_nginx"]
    cl, idle, big = r["cluster"], r["idle"], r["big"]
    ttfb_extra = (r[f"ttfb_{ours}"] - r["ttfb_upstream"]) * 1000
    lines = [
        "# Benchmarks: CacheRegistry beside distribution's registry",
        "",
        f"Run on {datetime.date.today().isoformat()} with `bash bench/run.sh{' --smoke' if a.smoke else ''}` on {machine()}.",
        f"Upstream: distribution {sh('docker-registry', '--version').split()[-1]} in its own network namespace behind a veth pair shaped with",
        f"`tc tbf rate {a.rate}` in both directions. Caches, nginx, curl and wrk share the other namespace and the same 2 cores.",
        f"Image: {a.image_mb} MB in two layers (random bytes); warm tests use a {blob64 >> 20} MB blob and its manifest.",
        "CacheRegistry runs as shipped, its default logging included (every miss and error, one in a hundred hit lines), stdout sent to a file"
        + (f", with {' '.join(CACHE_ARGS)}" if CACHE_ARGS else "") + "; distribution keeps its access log, sent to a file.",
        "",
        "| measure | distribution (proxy) | CacheRegistry | reference | CacheRegistry vs target |",
        "|---|---|---|---|---|",
        f"| cold pull, 1 client: wall time | {d1['wall']:.1f} s | {c1['wall']:.1f} s | | |",
        f"| cold pull, 1 client: upstream bytes ÷ image bytes | {d1['ratio']:.2f} | {c1['ratio']:.2f} | | target 1.00 |",
        f"| cold pull, {a.clients} clients: wall time | {dn['wall']:.1f} s | {cn['wall']:.1f} s | | {cn['wall'] / c1['wall']:.2f} × one client's (target ≤ 1.15) |",
        f"| cold pull, {a.clients} clients: upstream bytes ÷ image bytes | {dn['ratio']:.2f} | {cn['ratio']:.2f} | | target 1.00 |",
        f"| cold time to first byte ({a.image_mb // 2} MB layer) | {r[f'ttfb_{dist}'] * 1000:.0f} ms | {r[f'ttfb_{ours}'] * 1000:.0f} ms | upstream direct {r['ttfb_upstream'] * 1000:.0f} ms | {ttfb_extra:+.0f} ms (target ≤ +50 ms) |",
        f"| warm manifest by tag: requests/s | {md['rps']:,.0f} | {m['rps']:,.0f} | nginx {mn['rps']:,.0f} | {m['rps'] / md['rps']:.1f} × distribution (≥ 10), {m['rps'] / mn['rps']:.0%} of nginx (≥ 80 %) |",
        f"| warm manifest by tag: p50 / p99 | {md['p50']:.2f} / {md['p99']:.2f} ms | {m['p50']:.2f} / {m['p99']:.2f} ms | nginx {mn['p50']:.2f} / {mn['p99']:.2f} ms | p99 target ≤ 2 ms |",
        f"| warm {blob64 >> 20} MB blob, 4 connections | {gbps(bd['bps'])} | {gbps(b['bps'])} | nginx {gbps(bn['bps'])} | {b['bps'] / bd['bps']:.2f} × distribution (≥ 1), {b['bps'] / bn['bps']:.0%} of nginx (≥ 80 %) |",
        f"| peak RSS over the pulls and warm loads above | {PEAK_RSS[dist] / (1 << 20):.0f} MB | {PEAK_RSS[ours] / (1 << 20):.0f} MB | | target ≤ 200 MB |",
        "",
        "Scale-out and memory (CacheRegistry only: distribution's proxy has no shared-fill or replica mode):",
        "",
        "| measure | CacheRegistry | reference | vs target |",
        "|---|---|---|---|",
        f"| 3 replicas (Redis + s3rver, `Registry:Cluster`), cold pull, {a.clients} clients spread over them: wall time | {cl['wall']:.1f} s | one replica, one client {c1['wall']:.1f} s | {cl['wall'] / c1['wall']:.2f} × (target ≤ 1.15) |",
        f"| same: upstream bytes ÷ image bytes, peak RSS of a replica | {cl['ratio']:.2f}, {cl['peak_rss'] / (1 << 20):.0f} MB | | target 1.00 |",
        f"| same: worst client's time to first byte of a layer | {cl['worst_ttfb'] * 1000:.0f} ms (median {cl['median_ttfb'] * 1000:.0f} ms) | upstream direct {r['ttfb_upstream'] * 1000:.0f} ms | {(cl['worst_ttfb'] - r['ttfb_upstream']) * 1000:+.0f} ms (target ≤ +100 ms) |",
        f"| warm manifest by tag with {a.idle:,} idle connections open: requests/s, p99 | {idle['rps']:,.0f}, {idle['p99']:.2f} ms | without them {m['rps']:,.0f}, {m['p99']:.2f} ms | errors: {'yes' if idle['errors'] or idle['idle_failed'] else 'none'} |",
        f"| same: RSS with them open | {idle['rss'] / (1 << 20):.0f} MB | | target ≤ 300 MB |",
        f"| {a.big_mb} MB layer, cold, 8 clients at once: peak RSS | {big['peak_rss'] / (1 << 20):.0f} MB | | target < 200 MB |",
        f"| same: peak spool on disk, upstream bytes ÷ image bytes, wall time | {big['peak_spool'] / (1 << 20):.0f} MB ({big['peak_spool'] / (a.big_mb << 20):.2f} × the layer), {big['ratio']:.2f}, {big['wall']:.1f} s | | spool ≤ 1 × the layer |",
        "",
        f"Warm loads: CacheRegistry and nginx alternate {a.rounds} times, {a.duration} s each, and the rows above show the median round.",
        "CacheRegistry ÷ nginx in each round: manifests " + ", ".join(f"{x:.0%}" for x in r["manifest_ratios"])
        + "; 64 MB blob " + ", ".join(f"{x:.0%}" for x in r["blob_ratios"]) + ".",
        "",
        "Three replicas' pull: the replicas first serve two other images, each pulled through all three at once (a cluster that has",
        "served before, not a first-time JIT); each client's curl is started before the clock and waits for its URLs at a barrier",
        "(the clients stand for separate nodes). Every client's first byte of each layer, in ms: "
        + ", ".join("/".join(str(t) for t in layers) for layers in cl["ttfbs"]) + ".",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
