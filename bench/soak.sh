#!/usr/bin/env bash
# The chaos soak (bench/soak.py): replicas on Redis and s3rver, faults in turn, clients checking
# every digest. Loopback only, no root.   bash bench/soak.sh [--minutes N] [--out -]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-packages.sh docker-registry skopeo redis-server curl
dotnet publish src/CacheRegistry.Server -c Release -o bench/.out/cacheregistry --nologo -v quiet >/dev/null
export NODE_OPTIONS=--openssl-legacy-provider
exec python3 bench/soak.py "$@"
