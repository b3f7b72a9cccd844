#!/usr/bin/env bash
# Push-through beside pushing straight to the registry, on loopback (bench/push.py).
#   bash bench/push.sh                        a 512 MB layer, three rounds each way, printed
#   bash bench/push.sh --out F --layer-mb 1024
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-packages.sh docker-registry skopeo curl nginx-light
dotnet publish src/CacheRegistry.Server -c Release -o bench/.out/cacheregistry --nologo -v quiet >/dev/null
exec python3 bench/push.py "$@"
