#!/usr/bin/env bash
# Runs the whole test suite on a fresh Debian machine: installs the real peers the tests start
# (distribution's registry, skopeo, containerd, dockerd, redis-server, s3rver, squid, microsocks, prometheus and promtool,
# chromium for the dashboard test, apache2-utils for htpasswd, Go and its Sprig/yaml libraries for the Helm chart's renderer, debootstrap for the image's base, python3-cryptography as a second signer of cosign signatures, docker-compose for the compose stack, and wrk, nginx and iproute2 for the benchmark harness's smoke run), then builds and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(docker-registry skopeo containerd docker.io redis-server squid microsocks wrk nginx-light iproute2 curl prometheus chromium apache2-utils
          golang-go golang-github-masterminds-sprig-dev golang-k8s-sigs-yaml-dev debootstrap docker-compose python3-cryptography)
bash scripts/install-packages.sh "${packages[@]}"

# The chart's checkers install their npm packages (kubernetes-models, ajv) once, before the tests run.
echo "" | bash tools/k8s-validate/k8s-validate.sh >/dev/null
bash tools/values-validate/values-validate.sh helm/cacheregistry >/dev/null

log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
dotnet test CacheRegistry.sln -c Release 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One plain closing line for CI: "N passed, N failed".
awk '/(Passed|Failed)!  -/ { for (i = 1; i <= NF; i++) { if ($i == "Failed:") f += $(i+1); if ($i == "Passed:") p += $(i+1) } }
     END { printf "%d passed, %d failed\n", p, f }' "$log"
exit "$status"
