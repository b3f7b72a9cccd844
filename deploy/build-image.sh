#!/usr/bin/env bash
# Builds the container image: publishes the single-file binary, then builds deploy/Dockerfile in a
# context holding only it.   bash deploy/build-image.sh [TAG [docker build options...]]
# Without a TAG: cacheregistry:<the chart's appVersion> (the tag the chart runs by default) and
# cacheregistry:latest (the tag docker-compose.yml runs).
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' helm/cacheregistry/Chart.yaml)
if (($#)); then tags=(-t "$1"); shift; else tags=(-t "cacheregistry:$version" -t cacheregistry:latest); fi
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
NATIVE_BESIDE=1 bash scripts/publish.sh "$context" linux-x64 >/dev/null

cp deploy/Dockerfile "$context/Dockerfile"
DOCKER_BUILDKIT=${DOCKER_BUILDKIT:-0} docker build "${tags[@]}" "$@" "$context"
