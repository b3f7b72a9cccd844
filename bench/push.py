#!/usr/bin/env python3
"""Push-through (Registry:Upstreams:<host>:Push=true): pushes through the cache beside pushes straight to the registry.

A real distribution registry takes the pushes; CacheRegistry, as shipped (logging included), forwards
them. skopeo pushes a fresh single-layer image each round (fresh random bytes, so nothing is
skipped as already there), alternately straight and through the cache. Runs on loopback.
"""
import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (images and registry config, shared with the main benchmark)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(url, what, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url], capture_output=True, text=True)
        if r.stdout.strip() in ("200", "401"):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not come up at {url}")


def push(layout, destination):
    started = time.monotonic()
    subprocess.run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", f"oci:{layout}:1", f"docker://{destination}"], check=True)
    return time.monotonic() - started


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--binary", default=bench.BINARY)
    ap.add_argument("--layer-mb", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", help="write the markdown table here (default: print)")
    ap.add_argument("--smoke", action="store_true", help="a tiny run that checks the harness (8 MB layer, one round)")
    a = ap.parse_args()
    if a.smoke:
        a.layer_mb, a.rounds = 8, 1
    work = tempfile.mkdtemp(prefix="crpush-")
    shutil.rmtree(bench.WORK, ignore_errors=True)  # the main benchmark's, made when it was imported
    bench.WORK = work
    reg_port, cache_port = free_port(), free_port()
    procs = []
    try:
        cfg = os.path.join(work, "registry.yml")
        bench.registry_config(cfg, f"127.0.0.1:{reg_port}", os.path.join(work, "registry-storage"))
        procs.append(subprocess.Popen(["docker-registry", "serve", cfg], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait(f"http://127.0.0.1:{reg_port}/v2/", "registry")
        cache_log = open(os.path.join(work, "cacheregistry.log"), "w")
        cache = subprocess.Popen([a.binary, f"--urls=http://127.0.0.1:{cache_port}", f"--Registry:DataDir={os.path.join(work, 'cache')}",
                                  f"--Registry:Upstreams:team.local:Endpoints:0=http://127.0.0.1:{reg_port}", "--Registry:Upstreams:team.local:Push=true"],
                                 stdout=cache_log, stderr=subprocess.STDOUT)
        procs.append(cache)
        wait(f"http://127.0.0.1:{cache_port}/v2/", "cacheregistry")
        direct, through = [], []
        for r in range(a.rounds):
            for kind, times, dest in (("direct", direct, f"127.0.0.1:{reg_port}/direct{r}:1"),
                                      ("through", through, f"127.0.0.1:{cache_port}/team.local/through{r}:1")):
                img = bench.build_image(f"{kind}{r}", [a.layer_mb << 20])
                times.append(push(img["layout"], dest))
                shutil.rmtree(img["layout"])
        rss = bench.peak_rss(cache.pid)
        mb = a.layer_mb
        d, t = statistics.median(direct), statistics.median(through)
        table = ("| pushed | straight to distribution | through CacheRegistry | ratio (through ÷ straight, throughput) | cache peak RSS |\n"
                 "|---|---|---|---|---|\n"
                 f"| one {mb} MB layer, skopeo, median of {a.rounds} | {d:.2f} s ({mb / d:.0f} MB/s) | {t:.2f} s ({mb / t:.0f} MB/s) | "
                 f"**{d / t:.2f}×** | {rss / (1 << 20):.0f} MiB |\n")
        if a.out:
            with open(a.out, "w") as f:
                f.write(table)
        print(table)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
