#!/usr/bin/env bash
# Benchmarks CacheRegistry beside distribution's registry (proxy mode) and nginx, in one run on
# this machine, over a 200 Mbit/s link to the upstream. Needs root (network namespaces, tc).
#   bash bench/run.sh                 full run (512 MB image, 16 clients), writes docs/benchmarks.md
#   bash bench/run.sh --smoke --out F tiny run that checks the harness itself
#   bash bench/run.sh --s3-only       only the S3 back end: cold pull by three replicas, time until stored, hits and ranges from S3
#   bash bench/run.sh --cluster-only  only the three replicas' cold pull, printed (per-client first bytes too)
# BENCH_KEEP=1 keeps the work directory (every server's log) in /tmp/crbench-*.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-packages.sh docker-registry skopeo wrk nginx-light iproute2 curl redis-server
dotnet publish src/CacheRegistry.Server -c Release -o bench/.out/cacheregistry --nologo -v quiet >/dev/null
exec python3 bench/bench.py "$@"
