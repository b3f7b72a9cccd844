#!/usr/bin/env bash
# Validates Helm values files against a chart's values.schema.json (JSON Schema 2020-12) with ajv,
# as helm install would:   values-validate.sh CHART_DIR [VALUES.yaml]...
# (with no values file, the chart's own values.yaml). Installs ajv and js-yaml once into a cache folder.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${VALUES_VALIDATE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/values-validate}
if [ ! -d "$cache/node_modules/ajv" ]; then
  mkdir -p "$cache" && (cd "$cache" && npm init -y >/dev/null && \
    npm install --no-fund --no-audit --silent ajv@8.17.1 js-yaml@4.1.0 >/dev/null)
fi
NODE_PATH="$cache/node_modules" exec node "$here/validate.js" "$@"
