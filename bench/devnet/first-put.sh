#!/usr/bin/env bash
# first-put.sh measures README's promise "from a fresh clone to a working
# `aws s3 cp`": it clones the repository (the commit checked out here) into
# a temporary directory, runs `make build` there, starts `datdot devnet`
# (the devnet's defaults, free ports) and puts then gets one object with the
# AWS CLI using the printed settings. It prints the time of each phase.
# Nothing is asserted: the numbers depend on the machine, its load and on
# whether the Go module and build caches are warm (GOMODCACHE, GOCACHE; set
# GOCACHE=$(mktemp -d) for a cold build).
#
#   bench/devnet/first-put.sh [REPO]     (default: this checkout)
set -euo pipefail
src="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
for t in git make aws jq curl; do command -v "$t" >/dev/null || { echo "first-put: $t missing" >&2; exit 1; }; done
work="$(mktemp -d "${TMPDIR:-/tmp}/datdot-first-put.XXXXXX")"
pid=""
cleanup() {
	if [ -n "$pid" ]; then
		kill -INT -- "-$pid" 2>/dev/null || true
		for _ in $(seq 1 300); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL -- "-$pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT INT TERM
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 12000))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

t0="$(now)"
git clone -q "$src" "$work/datdot"
# The Hypercore reference vectors are expected beside the checkout.
[ -e "$src/../shared" ] && ln -s "$(cd "$src/.." && pwd)/shared" "$work/shared"
t1="$(now)"
make -C "$work/datdot" build >"$work/build.log" 2>&1 || { tail -n 20 "$work/build.log"; exit 1; }
echo "clone:  $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f s", b - a }')"
echo "build:  $(since "$t1")"
t2="$(now)"
home="$work/datdot/.devnet"
setsid "$work/datdot/build/datdot" devnet --home "$home" --rpc-port "$(free_port)" --p2p-port "$(free_port)" \
	--grpc-port "$(free_port)" --api-port "$(free_port)" --gateway-listen "127.0.0.1:$(free_port)" \
	--dashboard-listen "127.0.0.1:$(free_port)" >"$work/devnet.out" 2>&1 &
pid=$!
deadline=$((SECONDS + 600))
until [ -s "$home/devnet.env" ]; do
	kill -0 "$pid" 2>/dev/null || { tail -n 30 "$work/devnet.out"; exit 1; }
	[ "$SECONDS" -lt "$deadline" ] || { echo "first-put: no devnet.env after 600 s" >&2; exit 1; }
	sleep 0.2
done
echo "devnet up (devnet.env written): $(since "$t2")"
set -a; . "$home/devnet.env"; set +a
head -c 1000000 /dev/urandom >"$work/photo.bin"
t3="$(now)"
aws --endpoint-url "$S3_ENDPOINT" s3 cp "$work/photo.bin" "s3://$S3_BUCKET/photo.bin" --only-show-errors
echo "first aws s3 cp up (1 MB, places the volume's order): $(since "$t3")"
t4="$(now)"
aws --endpoint-url "$S3_ENDPOINT" s3 cp "s3://$S3_BUCKET/photo.bin" "$work/back.bin" --only-show-errors
cmp -s "$work/photo.bin" "$work/back.bin" || { echo "first-put: the object came back different" >&2; exit 1; }
echo "aws s3 cp down: $(since "$t4")"
echo "fresh clone to a working aws s3 cp (up and down): $(since "$t0")  (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
