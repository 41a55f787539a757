#!/usr/bin/env bash
# Installs the S3 clients the gateway's end-to-end test drives (scripts/e2e/s3-clients.sh):
# Debian's awscli, rclone, s3cmd and restic, plus jq and curl. Idempotent: apt-get runs
# only when a package is missing.
set -euo pipefail
pkgs=(awscli rclone s3cmd restic jq curl)
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
echo "s3 setup: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
$sudo apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
