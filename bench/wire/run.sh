#!/usr/bin/env bash
# Replication throughput over loopback TCP between DatDot (Go) and the real
# JS hypercore 11.37.1, for one core of SIZE MiB of random data in 64 KiB
# blocks (default 1024 = 1 GiB): Go→Go (`datdot core serve` → `datdot core
# fetch`, which also writes and fsyncs the copy), Go→JS (`datdot core
# serve` → scripts/wire/read-core.js), JS→JS (scripts/wire/serve-file.js →
# read-core.js) and JS→Go. Prints MiB/s per pair; the JS reader keeps
# blocks in its own storage too. Usage: bench/wire/run.sh [SIZE_MIB]
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
SIZE=${1:-1024}
if [ -z "${HYPERCORE_SHARED:-}" ] && [ ! -d "$ROOT/../shared/hypercore" ]; then
	common=$(git rev-parse --path-format=absolute --git-common-dir 2>/dev/null || true)
	[ -n "$common" ] && export HYPERCORE_SHARED=$(dirname "$common")/../shared/hypercore
fi
bash scripts/setup/hypercore.sh >/dev/null
[ -x build/datdot ] || { mkdir -p build && go build -o build/datdot ./cmd/datdot; }
DATDOT=$ROOT/build/datdot
export NODE_PATH=$ROOT/build/hypercore-js/node_modules
TMP=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/bench-wire.XXXXXX")
# The JS writers and readers keep their cores under os.tmpdir(): in TMP.
export TMPDIR=$TMP
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT
wait_line() {
	for _ in $(seq 3000); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
	echo "bench-wire: timed out waiting for '$2' in $1" >&2; cat "$1" >&2; return 1
}
now() { date +%s.%N; }
rate() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.1f MiB/s (%.2f s)", b / 1048576 / s, s }'; }
json() { node -e 'const o = JSON.parse(require("fs").readFileSync(0)); console.log(o[process.argv[1]])' "$1"; }

head -c $((SIZE * 1048576)) /dev/urandom >"$TMP/data"
BYTES=$((SIZE * 1048576))
echo "bench-wire: one core of $SIZE MiB in 64 KiB blocks, loopback TCP, $(nproc) CPUs"

"$DATDOT" core new --dir "$TMP/go-core" >/dev/null
"$DATDOT" core append --dir "$TMP/go-core" "$TMP/data" >"$TMP/go-core.json"
"$DATDOT" core serve "$TMP/go-core" >"$TMP/go-serve.log" 2>&1 &
PIDS+=("$!")
wait_line "$TMP/go-serve.log" '^serving '
KEY=$(awk '/^serving/{print $2}' "$TMP/go-serve.log")
ADDR=$(awk '/^serving/{print $4}' "$TMP/go-serve.log")

t0=$(now)
"$DATDOT" core fetch "$KEY" --peer "$ADDR" --out "$TMP/go-copy" >/dev/null
t1=$(now)
echo "Go → Go: $(rate $BYTES "$(awk -v a="$t1" -v b="$t0" 'BEGIN { print a - b }')") (fetch, verify, fsync'ed commit)"
rm -rf "$TMP/go-copy"

node scripts/wire/read-core.js "$KEY" "$ADDR" --timeout 3600 >"$TMP/go-js.json"
[ "$(json bytes <"$TMP/go-js.json")" = "$BYTES" ]
echo "Go → JS: $(rate $BYTES "$(json seconds <"$TMP/go-js.json")") (JS download and verify)"

node scripts/wire/serve-file.js "$TMP/data" >"$TMP/js-serve.log" 2>&1 &
PIDS+=("$!")
wait_line "$TMP/js-serve.log" '^serving '
JKEY=$(awk '/^serving/{print $2}' "$TMP/js-serve.log")
JPORT=$(awk '/^serving/{print $4}' "$TMP/js-serve.log")
node scripts/wire/read-core.js "$JKEY" "127.0.0.1:$JPORT" --timeout 3600 >"$TMP/js-js.json"
[ "$(json bytes <"$TMP/js-js.json")" = "$BYTES" ]
echo "JS → JS: $(rate $BYTES "$(json seconds <"$TMP/js-js.json")") (JS download and verify)"

t0=$(now)
"$DATDOT" core fetch "$JKEY" --peer "127.0.0.1:$JPORT" --out "$TMP/js-copy" >/dev/null
t1=$(now)
echo "JS → Go: $(rate $BYTES "$(awk -v a="$t1" -v b="$t0" 'BEGIN { print a - b }')") (fetch, verify, fsync'ed commit)"
