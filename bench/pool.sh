#!/usr/bin/env bash
# Mirror pools beside failover chains and distribution's proxy, on loopback (bench/pool.py).
#   bash bench/pool.sh                      32 and 256 MB layers, 1 and 16 clients, printed
#   bash bench/pool.sh --out F --mbps 4     the table into F; each mirror connection at 4 MB/s
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-packages.sh docker-registry skopeo curl
dotnet publish src/CacheRegistry.Server -c Release -o bench/.out/cacheregistry --nologo -v quiet >/dev/null
exec python3 bench/pool.py "$@"
