#!/usr/bin/env python3
"""Mirror pools (Registry:Upstreams:<host>:Strategy=pool) against failover chains and distribution's proxy.

A real distribution registry holds the layers; three relays stand for the mirrors in front of it,
each limiting every connection to a few MB/s (as accelerators and per-connection-throttled CDNs
do). Every cache starts cold; each row is the wall time of cold pulls of one layer through it,
and the bytes the mirrors sent for it. Runs on loopback, no root needed.
"""
import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (images and registry config, shared with the main benchmark)



UP_PORT, CACHE_PORT, DIST_PORT, FAST_PORT = bench.free_port(), bench.free_port(), bench.free_port(), bench.free_port()
RELAY_PORTS = (bench.free_port(), bench.free_port(), bench.free_port())
SEGMENT = "8MiB"  # the shipped default; the smoke run's tiny layer needs smaller ones


class Relay:
    """A TCP relay that limits each connection's answers to `rate` bytes/s and counts what it sent."""

    def __init__(self, port, target, rate):
        self.port, self.target, self.rate, self.sent = port, target, rate, 0

    async def serve(self):
        server = await asyncio.start_server(self.handle, "127.0.0.1", self.port)
        async with server:
            await server.serve_forever()

    async def handle(self, reader, writer):
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.close()
            return
        # A client that hangs up resets its side: that ends this connection, nothing more.
        await asyncio.gather(self.pump(reader, up_w, None), self.pump(up_r, writer, self.rate), return_exceptions=True)
        for w in (writer, up_w):
            try:
                w.close()
            except OSError:
                pass

    async def pump(self, r, w, rate):
        try:
            await self.copy(r, w, rate)
        except (ConnectionError, OSError):
            w.close()

    async def copy(self, r, w, rate):
        start, sent = time.monotonic(), 0
        while True:
            data = await r.read(16384)
            if not data:
                w.close()
                return
            w.write(data)
            await w.drain()
            if rate:
                sent += len(data)
                self.sent += len(data)
                ahead = sent / rate - (time.monotonic() - start)
                if ahead > 0:
                    await asyncio.sleep(ahead)


def run_relays(relays):
    async def serve_all():
        await asyncio.gather(*(r.serve() for r in relays))

    threading.Thread(target=lambda: asyncio.run(serve_all()), daemon=True).start()


def wait(url, what):
    bench.wait_http(url, None, what)


def start_cache(binary, work, endpoints, pool, connections=3):
    data = tempfile.mkdtemp(prefix="cache-", dir=work)
    args = [binary, f"--urls=http://127.0.0.1:{CACHE_PORT}", f"--Registry:DataDir={data}"]
    args += [f"--Registry:Upstreams:docker.io:Endpoints:{i}=http://127.0.0.1:{p}" for i, p in enumerate(endpoints)]
    if pool:
        args += ["--Registry:Upstreams:docker.io:Strategy=pool", f"--Registry:Upstreams:docker.io:Pool:ConnectionsPerEndpoint={connections}"]
    args += ["--Registry:Upstreams:docker.io:Pool:SegmentSize=" + SEGMENT]
    p = subprocess.Popen(args, stdout=open(os.path.join(work, "cache.log"), "a"), stderr=subprocess.STDOUT)
    wait(f"http://127.0.0.1:{CACHE_PORT}/v2/", "cacheregistry")
    return p, data


def start_distribution(work, endpoint):
    storage = tempfile.mkdtemp(prefix="dist-", dir=work)
    cfg = os.path.join(storage, "config.yml")
    bench.registry_config(cfg, f"127.0.0.1:{DIST_PORT}", os.path.join(storage, "data"), proxy=f"http://127.0.0.1:{endpoint}")
    p = subprocess.Popen(["docker-registry", "serve", cfg], stdout=open(os.path.join(work, "distribution.log"), "a"), stderr=subprocess.STDOUT)
    wait(f"http://127.0.0.1:{DIST_PORT}/v2/", "distribution")
    return p


def peak_rss(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) // 1024 for l in f if l.startswith("VmHWM:"))


def cold_pulls(port, image, layer, clients):
    """`clients` curls of the layer at once; the wall time until the last one is done."""
    url = f"http://127.0.0.1:{port}/v2/library/{image['name']}/blobs/{layer}"
    subprocess.run(["curl", "-sf", "-o", "/dev/null", "-H", "Accept: " + bench.ACCEPT, f"http://127.0.0.1:{port}/v2/library/{image['name']}/manifests/1"], check=True)
    t0 = time.time()
    procs = [subprocess.Popen(["curl", "-sf", "-o", "/dev/null", url]) for _ in range(clients)]
    failures = sum(1 for p in procs if p.wait() != 0)
    return time.time() - t0, failures


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--binary", default=bench.BINARY)
    ap.add_argument("--layer-mb", type=int, nargs="+", default=[32, 256])
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 16])
    ap.add_argument("--mbps", type=float, default=4, help="each mirror connection's limit, MB/s")
    ap.add_argument("--out", help="write the markdown table here (default: print)")
    ap.add_argument("--smoke", action="store_true", help="a tiny run that checks the harness (4 MB layer, 1 and 2 clients)")
    a = ap.parse_args()
    global SEGMENT
    if a.smoke:
        a.layer_mb, a.clients, a.mbps, SEGMENT = [4], [1, 2], 20, "256KiB"
    work = tempfile.mkdtemp(prefix="crpool-")
    shutil.rmtree(bench.WORK, ignore_errors=True)  # the main benchmark's, made when it was imported
    bench.WORK = work
    rate = int(a.mbps * 1_000_000)
    procs = []
    try:
        up_cfg = os.path.join(work, "upstream.yml")
        bench.registry_config(up_cfg, f"127.0.0.1:{UP_PORT}", os.path.join(work, "upstream-storage"))
        procs.append(subprocess.Popen(["docker-registry", "serve", up_cfg], stdout=open(os.path.join(work, "upstream.log"), "w"), stderr=subprocess.STDOUT))
        wait(f"http://127.0.0.1:{UP_PORT}/v2/", "upstream")
        images = {}
        for mb in a.layer_mb:
            img = bench.build_image(f"pool{mb}", [mb << 20])
            subprocess.run(["skopeo", "copy", "--all", "--preserve-digests", "--quiet", "--dest-tls-verify=false",
                            f"oci:{img['layout']}:1", f"docker://127.0.0.1:{UP_PORT}/library/{img['name']}:1"], check=True)
            images[mb] = img
        slow = [Relay(p, UP_PORT, rate) for p in RELAY_PORTS]
        fast = Relay(FAST_PORT, UP_PORT, rate * 10)
        run_relays(slow + [fast])
        for r in slow + [fast]:
            wait(f"http://127.0.0.1:{r.port}/v2/", f"relay {r.port}")

        def measure(label, start, relays, mb, clients):
            image = images[mb]
            layer = image["layers"][0]
            p = start()
            port = DIST_PORT if label.startswith("distribution") else CACHE_PORT
            before = sum(r.sent for r in relays)
            wall, failures = cold_pulls(port, image, layer, clients)
            sent = sum(r.sent for r in relays) - before
            rss = peak_rss(p.pid)
            p.kill()
            p.wait()
            row = {"setup": label, "layer_mb": mb, "clients": clients, "seconds": round(wall, 2), "upstream_ratio": round(sent / (mb << 20), 3),
                   "rss_mb": rss, "failures": failures}
            print(json.dumps(row), flush=True)
            return row

        three = list(RELAY_PORTS)
        rows = []
        for mb in a.layer_mb:
            for clients in a.clients:
                rows.append(measure("failover chain of 3 throttled mirrors", lambda: start_cache(a.binary, work, three, False)[0], slow, mb, clients))
                rows.append(measure("pool of 3 throttled mirrors", lambda: start_cache(a.binary, work, three, True)[0], slow, mb, clients))
                rows.append(measure("distribution proxy, 1 throttled mirror", lambda: start_distribution(work, RELAY_PORTS[0]), slow, mb, clients))
            rows.append(measure("1 throttled mirror, 1 connection", lambda: start_cache(a.binary, work, three[:1], False)[0], slow, mb, 1))
            rows.append(measure("1 throttled mirror, pool of 4 connections", lambda: start_cache(a.binary, work, three[:1], True, 4)[0], slow, mb, 1))
            rows.append(measure("fast mirror alone", lambda: start_cache(a.binary, work, [fast.port], False)[0], [fast], mb, 1))
            rows.append(measure("pool of fast + 2 throttled mirrors", lambda: start_cache(a.binary, work, [fast.port] + three[:2], True)[0], [fast] + slow, mb, 1))
        table = render(rows, a.mbps)
        bench.report(table, a.out)
    finally:
        for p in procs:
            p.kill()
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(work, ignore_errors=True)


def render(rows, mbps):
    def find(setup, mb, clients):
        return next(r for r in rows if r["setup"] == setup and r["layer_mb"] == mb and r["clients"] == clients)

    out = [f"Each mirror connection limited to {mbps:g} MB/s (the fast mirror to {mbps * 10:g}); cold caches; layer pulled by N clients at once.", "",
           "| layer | clients | setup | seconds | upstream bytes ÷ layer | peak RSS | failures |", "|---|---|---|---|---|---|---|"]
    out += [f"| {r['layer_mb']} MB | {r['clients']} | {r['setup']} | {r['seconds']} | {r['upstream_ratio']} | {r['rss_mb']} MB | {r['failures']} |" for r in rows]
    out += ["", "| ratio | layer | clients | value | target |", "|---|---|---|---|---|"]
    for mb in sorted({r["layer_mb"] for r in rows}):
        for clients in sorted({r["clients"] for r in rows if r["setup"].startswith("pool of 3")}):
            chain, pool = find("failover chain of 3 throttled mirrors", mb, clients), find("pool of 3 throttled mirrors", mb, clients)
            out.append(f"| pool of 3 ÷ chain of 3, speed | {mb} MB | {clients} | {chain['seconds'] / pool['seconds']:.2f} × | ≥ 2.5 × |")
        one, four = find("1 throttled mirror, 1 connection", mb, 1), find("1 throttled mirror, pool of 4 connections", mb, 1)
        out.append(f"| 4 connections ÷ 1 to one mirror, speed | {mb} MB | 1 | {one['seconds'] / four['seconds']:.2f} × | ≥ 3 × |")
        alone, mixed = find("fast mirror alone", mb, 1), find("pool of fast + 2 throttled mirrors", mb, 1)
        out.append(f"| fast + 2 slow pooled, time over fast alone | {mb} MB | 1 | {mixed['seconds'] / alone['seconds']:.2f} | ≤ 1.05 |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
