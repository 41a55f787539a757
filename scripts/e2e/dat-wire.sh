#!/usr/bin/env bash
# The Hypercore replication protocol between DatDot (Go) and the real JS
# hypercore 11.37.1, both ways, over loopback TCP:
#  1. a JS writer (../shared/hypercore/serve.js) serves a core; `datdot core
#     fetch`, knowing only the key, downloads and verifies every block; the
#     tree hash matches what a JS reader gets from the same writer; the
#     same for a JS compat core (scripts/wire/serve-file.js --compat);
#  2. with the JS writer stopped, `datdot core serve` serves that copy and a
#     JS reader that knows only the key (scripts/wire/read-core.js) gets
#     every block back;
#  3. `datdot core serve` serves Go-written v11 and compat cores of random
#     data; the JS reader downloads every block; sha256 and tree hash match;
#  4. a JS reader asking a Go server for a core it does not hold gets
#     nothing (and the server stays up for the next reader).
# Installs what it needs (scripts/setup/hypercore.sh) and builds datdot.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
GO=${GO:-go}
. scripts/e2e/lib/hypercore.sh
hypercore_js "$ROOT"
[ -x build/datdot ] || { mkdir -p build && "$GO" build -o build/datdot ./cmd/datdot; }
DATDOT=$ROOT/build/datdot

TMP=$(mktemp -d)
# The JS writers and readers keep their cores under os.tmpdir(): in TMP.
export TMPDIR=$TMP
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT

# wait_line FILE PATTERN: polls until FILE has a line matching PATTERN.
wait_line() {
	for _ in $(seq 600); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "e2e/dat-wire: timed out waiting for '$2' in $1:" >&2
	cat "$1" >&2
	return 1
}

json() { node -e 'const o = JSON.parse(require("fs").readFileSync(0)); console.log(o[process.argv[1]])' "$1"; }

# 1. JS writer → Go fetch.
node "$HYPERCORE_SHARED/serve.js" 0 --seed 11 --blocks 777 >"$TMP/js-serve.log" 2>&1 &
JSPID=$!
PIDS+=("$JSPID")
wait_line "$TMP/js-serve.log" '^serving '
KEY=$(awk '/^serving/{print $2}' "$TMP/js-serve.log")
JSPORT=$(awk '/^serving/{print $4}' "$TMP/js-serve.log")
echo "== Go fetches the JS writer's core $KEY"
"$DATDOT" core fetch "$KEY" --peer "127.0.0.1:$JSPORT" --out "$TMP/fetched" | tee "$TMP/fetch.out"
grep -q "^downloaded and verified 777 blocks" "$TMP/fetch.out"
"$DATDOT" core info --dir "$TMP/fetched" >"$TMP/fetched.json"
[ "$(json length <"$TMP/fetched.json")" = 777 ]
[ "$(json key <"$TMP/fetched.json")" = "$KEY" ]
node scripts/wire/read-core.js "$KEY" "127.0.0.1:$JSPORT" >"$TMP/js-js.json"
[ "$(json tree_hash <"$TMP/js-js.json")" = "$(json tree_hash <"$TMP/fetched.json")" ] ||
	{ echo "e2e/dat-wire: Go copy's tree hash differs from the JS reader's" >&2; exit 1; }
# A second fetch into the same directory has nothing left to download.
"$DATDOT" core fetch "$KEY" --peer "127.0.0.1:$JSPORT" --out "$TMP/fetched" | grep -q "^downloaded and verified 0 blocks"
kill "$JSPID"; wait "$JSPID" 2>/dev/null || true

# 1b. A JS compat core (key = public key) → Go fetch.
head -c 700000 /dev/urandom >"$TMP/compat-data"
node scripts/wire/serve-file.js "$TMP/compat-data" 0 --compat >"$TMP/js-compat.log" 2>&1 &
CPID=$!
PIDS+=("$CPID")
wait_line "$TMP/js-compat.log" '^serving '
CKEY=$(awk '/^serving/{print $2}' "$TMP/js-compat.log")
CPORT=$(awk '/^serving/{print $4}' "$TMP/js-compat.log")
echo "== Go fetches a JS compat core $CKEY"
"$DATDOT" core fetch "$CKEY" --peer "127.0.0.1:$CPORT" --out "$TMP/fetched-compat" | grep "^downloaded and verified 11 blocks"
"$DATDOT" core info --dir "$TMP/fetched-compat" >"$TMP/fetched-compat.json"
[ "$(json compat <"$TMP/fetched-compat.json")" = true ]
[ "$(json byte_length <"$TMP/fetched-compat.json")" = 700000 ]
node scripts/wire/read-core.js "$CKEY" "127.0.0.1:$CPORT" >"$TMP/js-compat.json"
[ "$(json tree_hash <"$TMP/js-compat.json")" = "$(json tree_hash <"$TMP/fetched-compat.json")" ]
kill "$CPID"; wait "$CPID" 2>/dev/null || true

# 2. The writer is gone; the Go copy serves a JS reader.
"$DATDOT" core serve "$TMP/fetched" >"$TMP/go-serve1.log" 2>"$TMP/go-serve1.err" &
PIDS+=("$!")
wait_line "$TMP/go-serve1.log" '^serving '
ADDR=$(awk '/^serving/{print $4}' "$TMP/go-serve1.log")
echo "== JS reads the Go copy (JS writer stopped)"
node scripts/wire/read-core.js "$KEY" "$ADDR" >"$TMP/js-go1.json"
cat "$TMP/js-go1.json"
[ "$(json length <"$TMP/js-go1.json")" = 777 ]
[ "$(json downloaded <"$TMP/js-go1.json")" = 777 ]
[ "$(json sha256 <"$TMP/js-go1.json")" = "$(json sha256 <"$TMP/js-js.json")" ]
[ "$(json tree_hash <"$TMP/js-go1.json")" = "$(json tree_hash <"$TMP/fetched.json")" ]

# 3. Go-written cores (v11 and compat) served to JS.
head -c 2500000 /dev/urandom >"$TMP/data"
want=$(sha256sum "$TMP/data" | cut -d' ' -f1)
dirs=()
for kind in v11 compat; do
	flag=""
	[ "$kind" = compat ] && flag=--compat
	"$DATDOT" core new --dir "$TMP/core-$kind" $flag >/dev/null
	"$DATDOT" core append --dir "$TMP/core-$kind" "$TMP/data" >"$TMP/info-$kind.json"
	dirs+=("$TMP/core-$kind")
done
"$DATDOT" core serve "${dirs[@]}" >"$TMP/go-serve2.log" 2>"$TMP/go-serve2.err" &
PIDS+=("$!")
wait_line "$TMP/go-serve2.log" '^serving '
for _ in $(seq 600); do [ "$(grep -c '^serving' "$TMP/go-serve2.log")" = 2 ] && break; sleep 0.1; done
[ "$(grep -c '^serving' "$TMP/go-serve2.log")" = 2 ]
ADDR=$(awk '/^serving/{print $4; exit}' "$TMP/go-serve2.log")
for kind in v11 compat; do
	key=$(json key <"$TMP/info-$kind.json")
	echo "== JS reads the Go $kind core $key"
	node scripts/wire/read-core.js "$key" "$ADDR" >"$TMP/js-$kind.json"
	cat "$TMP/js-$kind.json"
	[ "$(json sha256 <"$TMP/js-$kind.json")" = "$want" ]
	[ "$(json length <"$TMP/js-$kind.json")" = "$(json length <"$TMP/info-$kind.json")" ]
	[ "$(json downloaded <"$TMP/js-$kind.json")" = "$(json length <"$TMP/info-$kind.json")" ]
	[ "$(json tree_hash <"$TMP/js-$kind.json")" = "$(json tree_hash <"$TMP/info-$kind.json")" ]
done

# 4. A core the server does not hold: the reader gets nothing.
echo "== JS asks the Go server for a core it does not hold"
if node scripts/wire/read-core.js "$(printf 'ab%.0s' $(seq 32))" "$ADDR" --timeout 5 >/dev/null 2>&1; then
	echo "e2e/dat-wire: a reader got a core the server does not hold" >&2
	exit 1
fi
key=$(json key <"$TMP/info-v11.json")
node scripts/wire/read-core.js "$key" "$ADDR" | grep -q "\"sha256\":\"$want\""
echo "e2e/dat-wire: ok"
