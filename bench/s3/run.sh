#!/usr/bin/env bash
# Side-by-side S3 benchmark: build/datdot gateway and versitygw v1.8.0 (posix
# backend, a plain local-disk S3 server), each on its own loopback port with a
# temporary data directory on the same file system, driven one after the other
# by the harness in this directory (aws-sdk-go-v2, concurrency 8, 64 KiB / 1 MiB
# / 16 MiB objects, PUT then GET). Prints one table per server.
#
# usage: bench/s3/run.sh [harness flags...]      e.g. bench/s3/run.sh -count 500
# env:   DATDOT     datdot binary (default build/datdot; run make build first)
#        VERSITYGW  versitygw binary (default: on PATH or in $(go env GOPATH)/bin).
#                   Install it outside this module, never into our go.mod:
#                   (cd /tmp && GOBIN=$HOME/go/bin go install github.com/versity/versitygw/cmd/versitygw@v1.8.0)
#        ONLY       "datdot" or "versitygw" to run just one side
#        DATDOT_ARGS extra gateway flags (the gateway runs --backend local;
#                   bench/s3/network.sh benchmarks the network backend with
#                   a chain and hosters)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
datdot=${DATDOT:-$root/build/datdot}
vgw=${VERSITYGW:-$(command -v versitygw || echo "$(go env GOPATH)/bin/versitygw")}
only=${ONLY:-datdot versitygw}
AK=BENCHACCESSKEY00001
SK=bench-secret-key-000000000000000000000001

[[ " $only " != *" datdot "* ]] || [ -x "$datdot" ] || { echo "bench: $datdot not built (make build)" >&2; exit 2; }
[[ " $only " != *" versitygw "* ]] || [ -x "$vgw" ] || { echo "bench: versitygw not found at $vgw (see the header of $0)" >&2; exit 2; }

tmp=$(mktemp -d /tmp/s3-bench.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { # wait_up PORT PID LOG
	for _ in $(seq 1 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		kill -0 "$2" 2>/dev/null || { echo "bench: server exited at start:" >&2; cat "$3" >&2; return 1; }
		sleep 0.1
	done
	echo "bench: server on port $1 did not come up" >&2
	return 1
}

go build -o "$tmp/s3bench" "$root/bench/s3"

if [[ " $only " == *" datdot "* ]]; then
	port=$(free_port)
	mkdir -p "$tmp/datdot"
	"$datdot" gateway --backend local --listen "127.0.0.1:$port" --data "$tmp/datdot" --key "$AK:$SK" ${DATDOT_ARGS:-} >"$tmp/datdot.log" 2>&1 &
	pids+=($!)
	wait_up "$port" "$!" "$tmp/datdot.log"
	"$tmp/s3bench" -endpoint "http://127.0.0.1:$port" -access-key "$AK" -secret-key "$SK" -label "datdot gateway ${DATDOT_ARGS:-}" "$@" ||
		{ echo "bench: datdot run failed; gateway log tail:" >&2; tail -20 "$tmp/datdot.log" >&2; exit 1; }
	kill "${pids[-1]}" && wait "${pids[-1]}" 2>/dev/null || true
	rm -rf "$tmp/datdot"
fi

if [[ " $only " == *" versitygw "* ]]; then
	port=$(free_port)
	mkdir -p "$tmp/versitygw"
	"$vgw" --port "127.0.0.1:$port" --access "$AK" --secret "$SK" --quiet posix "$tmp/versitygw" >"$tmp/versitygw.log" 2>&1 &
	pids+=($!)
	wait_up "$port" "$!" "$tmp/versitygw.log"
	"$tmp/s3bench" -endpoint "http://127.0.0.1:$port" -access-key "$AK" -secret-key "$SK" -label "versitygw v1.8.0 (posix)" "$@" ||
		{ echo "bench: versitygw run failed; log tail:" >&2; tail -20 "$tmp/versitygw.log" >&2; exit 1; }
fi
