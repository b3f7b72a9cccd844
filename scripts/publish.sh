#!/usr/bin/env bash
# Publishes CacheRegistry as one self-contained executable (no .NET install needed on the target):
#   bash scripts/publish.sh [OUT_DIR] [RID]      (default dist/, linux-x64; linux-arm64 works too)
# SQLite's native library is inside it and unpacked under ~/.net at first start; with
# NATIVE_BESIDE=1 it is left beside the binary instead (the container image: its /tmp is noexec).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-dist}; rid=${2:-linux-x64}
self_extract=true; [ "${NATIVE_BESIDE:-0}" = 1 ] && self_extract=false
dotnet publish src/CacheRegistry.Server -c Release -r "$rid" --self-contained --nologo -v quiet \
  -p:PublishSingleFile=true -p:IncludeNativeLibrariesForSelfExtract=$self_extract -p:EnableCompressionInSingleFile=true -p:InvariantGlobalization=true \
  -p:DebugType=none -o "$out"
rm -f "$out"/*.staticwebassets.endpoints.json "$out"/*.xml
echo "$out/cacheregistry ($(du -h "$out/cacheregistry" | cut -f1))"
