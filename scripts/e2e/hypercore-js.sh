#!/usr/bin/env bash
# Cross-checks the Go hypercore package with the real JS hypercore 11.37.1:
#  1. Go (build/datdot core) writes v11 and compat cores and exports a
#     proof for every block; ../shared/hypercore/verify-proofs.js, a JS
#     reader that knows only the key, must accept all of them.
#  2. JS (make-vectors.js) makes a fresh, independent vector set with
#     another seed and sizes; the Go vector tests must pass on it.
# Needs scripts/setup/hypercore.sh (build/hypercore-js) and make build.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
SHARED=${HYPERCORE_SHARED:-$ROOT/../shared/hypercore}
JS=$ROOT/build/hypercore-js
DATDOT=$ROOT/build/datdot
GO=${GO:-go}

[ -x "$DATDOT" ] || { echo "e2e/hypercore-js: $DATDOT missing (make build)" >&2; exit 1; }
[ -d "$JS/node_modules/hypercore" ] || { echo "e2e/hypercore-js: $JS missing (scripts/setup/hypercore.sh)" >&2; exit 1; }
export NODE_PATH=$JS/node_modules

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# 1. Go writes, JS verifies.
head -c 300001 /dev/urandom >"$TMP/a"        # 4 full blocks and a short one
head -c 65536 /dev/urandom >"$TMP/b"         # exactly one block
printf 'x' >"$TMP/c"                          # one byte
head -c 2500000 /dev/urandom >"$TMP/d"       # 39 blocks, odd tree shape
for kind in v11 compat; do
	dir=$TMP/core-$kind
	flag=""
	[ "$kind" = compat ] && flag=--compat
	"$DATDOT" core new --dir "$dir" $flag >/dev/null
	"$DATDOT" core append --dir "$dir" "$TMP/a" "$TMP/b" >/dev/null
	"$DATDOT" core append --dir "$dir" "$TMP/c" "$TMP/d" >"$TMP/info-$kind.json"
	node -e '
		const [file, kind] = process.argv.slice(1)
		const i = JSON.parse(require("fs").readFileSync(file))
		const [man, sig] = kind === "v11" ? [140, 136] : [0, 128]
		const ok = i.length === 46 && i.byte_length === 300001 + 65536 + 1 + 2500000 &&
			i.manifest.length === man && i.signature.length === sig && i.compat === (kind === "compat")
		if (!ok) { console.error("unexpected core info", i); process.exit(1) }
	' "$TMP/info-$kind.json" "$kind"
	"$DATDOT" core export --dir "$dir" --out "$TMP/proofs-$kind.json"
	echo "== JS verifies Go $kind core"
	node "$SHARED/verify-proofs.js" "$TMP/proofs-$kind.json"
done

# The check above can fail: a Go proof with one block byte changed must be
# refused by JS.
node -e '
	const c = require("compact-encoding")
	const m = require("hypercore/lib/messages")
	const fs = require("fs")
	const [inp, out] = process.argv.slice(1)
	const g = JSON.parse(fs.readFileSync(inp))
	const p = c.decode(m.wire.data, Buffer.from(g.proofs[3], "hex"))
	p.block.value[0] ^= 1
	g.proofs[3] = Buffer.from(c.encode(m.wire.data, p)).toString("hex")
	fs.writeFileSync(out, JSON.stringify(g))
' "$TMP/proofs-v11.json" "$TMP/tampered.json"
echo "== JS rejects a tampered Go proof"
if node "$SHARED/verify-proofs.js" "$TMP/tampered.json"; then
	echo "e2e/hypercore-js: JS accepted a proof with a changed block" >&2
	exit 1
fi

# 2. JS writes fresh vectors, Go checks them.
mkdir -p "$TMP/vectors"
node "$SHARED/make-vectors.js" "$TMP/vectors/seed-1234.json" --seed 1234 --big-blocks 333 --big-max-bytes 5000 --proof-every 7 >/dev/null
echo "== Go checks fresh JS vectors (seed 1234)"
HYPERCORE_VECTORS=$TMP/vectors "$GO" test -count=1 -run '^TestVector' ./hypercore/
echo "e2e/hypercore-js: ok"
