#!/usr/bin/env bash
# Installs the S3 clients the gateway's end-to-end test drives (scripts/e2e/s3-clients.sh):
# Debian's awscli, rclone, s3cmd and restic, plus jq and curl, and the AWS SDK for
# JavaScript v3 from npm. Idempotent: apt-get runs only when a package is
# missing, npm ci only when the lock file changed.
set -euo pipefail
pkgs=(awscli rclone s3cmd restic jq curl)
missing=()
for p in "${pkgs[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	echo "s3 setup: installing ${missing[*]}"
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The AWS SDK for JavaScript v3 (pinned in tests/s3e2e/js/package-lock.json),
# installed into build/s3-js; npm ci runs only when the lock file changed.
cd "$(dirname "$0")/../.."
src=tests/s3e2e/js
dest=build/s3-js
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	echo "s3 setup: node and npm are needed for $src (Node.js >= 20)" >&2
	exit 1
fi
if [ -d "$dest/node_modules/@aws-sdk/client-s3" ] && cmp -s "$src/package-lock.json" "$dest/package-lock.json"; then
	exit 0
fi
mkdir -p "$dest"
cp "$src/package.json" "$src/package-lock.json" "$dest/"
(cd "$dest" && npm ci --no-audit --no-fund --loglevel=error)
echo "s3 setup: installed the AWS SDK for JavaScript in $dest"
