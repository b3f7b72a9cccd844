#!/usr/bin/env bash
# The chaos soak (bench/soak.py): replicas on Redis and s3rver, faults in turn, clients checking
# every digest. Loopback only, no root.   bash bench/soak.sh [--minutes N] [--out -]
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
for p in docker-registry skopeo redis-server curl; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v s3rver >/dev/null || npm install -g --no-fund --no-audit s3rver@3.7.1 >/dev/null
dotnet publish src/CacheRegistry.Server -c Release -o bench/.out/cacheregistry --nologo -v quiet >/dev/null
export NODE_OPTIONS=--openssl-legacy-provider
exec python3 bench/soak.py "$@"
