#!/usr/bin/env bash
# Installs the Debian packages named that are missing (apt-get, with sudo when not root), and
# s3rver from npm when it is missing. Used by scripts/test.sh and the benchmarks; prints to stderr.
#   bash scripts/install-packages.sh PACKAGE...
set -euo pipefail
missing=()
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}" >&2
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if ! command -v s3rver >/dev/null; then
  echo "installing: s3rver (npm)" >&2
  npm install -g --no-fund --no-audit s3rver@3.7.1 >/dev/null
fi
