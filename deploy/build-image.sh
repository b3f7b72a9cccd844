#!/usr/bin/env bash
# Builds the container image: publishes the single-file binary, then builds deploy/Dockerfile in a
# context holding only it.   bash deploy/build-image.sh TAG [docker build options...]
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:?usage: build-image.sh TAG [docker build options...]}; shift
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
NATIVE_BESIDE=1 bash scripts/publish.sh "$context" linux-x64 >/dev/null

cp deploy/Dockerfile "$context/Dockerfile"
DOCKER_BUILDKIT=${DOCKER_BUILDKIT:-0} docker build -t "$tag" "$@" "$context"
