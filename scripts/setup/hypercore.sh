#!/usr/bin/env bash
# Installs the reference JS hypercore (pinned in ../shared/hypercore) into a
# copy at build/hypercore-js, for scripts/e2e/hypercore-js.sh. Idempotent:
# npm ci runs only when the lock file changed. Run from the repository root.
set -euo pipefail
cd "$(dirname "$0")/../.."

SHARED=${HYPERCORE_SHARED:-../shared/hypercore}
DEST=build/hypercore-js

if [ ! -f "$SHARED/package-lock.json" ]; then
	echo "setup/hypercore: $SHARED/package-lock.json not found (shared/ must sit beside the repo)" >&2
	exit 1
fi

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	missing=""
	for p in nodejs npm; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
	if [ -n "$missing" ]; then
		echo "setup/hypercore: installing$missing"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
	fi
fi

mkdir -p "$DEST"
if [ -d "$DEST/node_modules/hypercore" ] && cmp -s "$SHARED/package-lock.json" "$DEST/package-lock.json"; then
	echo "setup/hypercore: $DEST is up to date"
	exit 0
fi
cp "$SHARED/package.json" "$SHARED/package-lock.json" "$DEST/"
chmod u+w "$DEST/package.json" "$DEST/package-lock.json"
(cd "$DEST" && npm ci --no-audit --no-fund --loglevel=error)
node -e "require('$PWD/$DEST/node_modules/hypercore/package.json').version === '11.37.1' || process.exit(1)"
echo "setup/hypercore: installed hypercore 11.37.1 in $DEST"
