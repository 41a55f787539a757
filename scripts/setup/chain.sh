#!/usr/bin/env bash
# Installs what the chain's scripts need (scripts/localnet.sh and
# scripts/e2e/chain-cli.sh): jq and curl from Debian. Idempotent: apt-get
# runs only when a package is missing.
set -euo pipefail
pkgs=(jq curl)
missing=()
for p in "${pkgs[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ "${#missing[@]}" -eq 0 ] && exit 0
echo "chain setup: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
$sudo apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
