#!/usr/bin/env python3
"""Push-through (Registry:Upstreams:<host>:Push=true): pushes through the cache beside pushes straight to the registry.

A real distribution registry takes the pushes; CacheRegistry, as shipped (logging included), forwards
them, and nginx as a streaming reverse proxy (proxy_request_buffering off) stands beside it as the
cost of any proxy hop on this machine. skopeo pushes a fresh single-layer image each round (fresh
random bytes, so nothing is skipped as already there), in turn straight, through nginx and through
the cache. Runs on loopback.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (images and registry config, shared with the main benchmark)


def start_nginx(work, port, registry_port):
    conf = os.path.join(work, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""worker_processes 2; daemon off; pid {work}/nginx.pid; error_log {work}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{ access_log off; client_max_body_size 0; proxy_request_buffering off; proxy_buffering off;
  client_body_temp_path {work}/nb; proxy_temp_path {work}/np; fastcgi_temp_path {work}/nf; uwsgi_temp_path {work}/nu; scgi_temp_path {work}/ns;
  upstream registry {{ server 127.0.0.1:{registry_port}; keepalive 16; }}
  server {{ listen 127.0.0.1:{port};
    location / {{ proxy_pass http://registry; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $http_host; }} }} }}
""")
    os.chmod(work, 0o755)
    return subprocess.Popen(["nginx", "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def cpu_seconds(pid):
    """User and system CPU time of a process and its children's threads, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
    reg_port, cache_port, nginx_port = bench.free_port(), bench.free_port(), bench.free_port()
    procs = []
    try:
        cfg = os.path.join(work, "registry.yml")
        bench.registry_config(cfg, f"127.0.0.1:{reg_port}", os.path.join(work, "registry-storage"))
        procs.append(subprocess.Popen(["docker-registry", "serve", cfg], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        bench.wait_http(f"http://127.0.0.1:{reg_port}/v2/", None, "registry")
        procs.append(start_nginx(work, nginx_port, reg_port))
        bench.wait_http(f"http://127.0.0.1:{nginx_port}/v2/", None, "nginx")
        cache_log = open(os.path.join(work, "cacheregistry.log"), "w")
        cache = subprocess.Popen([a.binary, f"--urls=http://127.0.0.1:{cache_port}", f"--Registry:DataDir={os.path.join(work, 'cache')}",
                                  f"--Registry:Upstreams:team.local:Endpoints:0=http://127.0.0.1:{reg_port}", "--Registry:Upstreams:team.local:Push=true"],
                                 stdout=cache_log, stderr=subprocess.STDOUT)
        procs.append(cache)
        bench.wait_http(f"http://127.0.0.1:{cache_port}/v2/", None, "cacheregistry")
        direct, nginx, through, cache_cpu = [], [], [], []
        for r in range(a.rounds):
            for kind, times, dest in (("direct", direct, f"127.0.0.1:{reg_port}/direct{r}:1"),
                                      ("nginx", nginx, f"127.0.0.1:{nginx_port}/nginx{r}:1"),
                                      ("through", through, f"127.0.0.1:{cache_port}/team.local/through{r}:1")):
                img = bench.build_image(f"{kind}{r}", [a.layer_mb << 20])
                before = cpu_seconds(cache.pid)
                times.append(push(img["layout"], dest))
                if kind == "through":
                    cache_cpu.append(cpu_seconds(cache.pid) - before)
                shutil.rmtree(img["layout"])
        rss = bench.peak_rss(cache.pid)
        mb = a.layer_mb
        d, n, t = statistics.median(direct), statistics.median(nginx), statistics.median(through)
        cpu = statistics.median(cache_cpu) / (mb / 1024)
        table = ("| pushed | straight to distribution | through nginx | through CacheRegistry | CacheRegistry ÷ straight | CacheRegistry ÷ nginx | cache CPU per GB | cache peak RSS |\n"
                 "|---|---|---|---|---|---|---|---|\n"
                 f"| one {mb} MB layer, skopeo, median of {a.rounds} | {d:.2f} s ({mb / d:.0f} MB/s) | {n:.2f} s ({mb / n:.0f} MB/s) | {t:.2f} s ({mb / t:.0f} MB/s) | "
                 f"**{d / t:.2f}×** | **{n / t:.2f}×** | {cpu:.2f} s | {rss / (1 << 20):.0f} MiB |\n")
        bench.report(table, a.out)
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
