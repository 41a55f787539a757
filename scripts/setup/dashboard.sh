#!/usr/bin/env bash
# Installs what scripts/e2e/devnet.sh needs for its browser and wallet tests:
# Debian's chromium (headless), node/npm, and the npm packages pinned in
# dashboard/test/package-lock.json (playwright-core drives the Debian
# chromium; @cosmjs/stargate is the stock wallet library) into
# build/dashboard-js. Idempotent: apt-get and npm ci run only when something
# is missing or the lock file changed. Run from anywhere.
set -euo pipefail
cd "$(dirname "$0")/../.."

missing=()
for p in chromium fonts-dejavu-core; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
# node and npm may come from elsewhere (nodesource ships npm inside nodejs).
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ "${#missing[@]}" -gt 0 ]; then
	echo "setup/dashboard: installing ${missing[*]}"
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

src=dashboard/test
dest=build/dashboard-js
mkdir -p "$dest"
if [ -d "$dest/node_modules/playwright-core" ] && [ -d "$dest/node_modules/@cosmjs/stargate" ] && cmp -s "$src/package-lock.json" "$dest/package-lock.json"; then
	echo "setup/dashboard: $dest is up to date"
	exit 0
fi
cp "$src/package.json" "$src/package-lock.json" "$dest/"
(cd "$dest" && npm ci --no-audit --no-fund --loglevel=error)
echo "setup/dashboard: installed playwright-core and @cosmjs/stargate in $dest"
