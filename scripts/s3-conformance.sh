#!/usr/bin/env bash
# Runs the ceph/s3-tests core selection (../shared/s3-tests) against the gateway.
#
# usage: scripts/s3-conformance.sh [S3TESTS_DIR] [extra pytest args...]
#        S3TESTS_DIR defaults to $S3TESTS_DIR.
#
# S3TESTS_DIR is an export of the public ceph/s3-tests repository, kept OUTSIDE
# this repository (its code is not ours and is never committed). The suite's
# config (../shared/s3-tests/s3tests.conf) fixes the endpoint to 127.0.0.1:9000
# and five key pairs; this script starts build/datdot gateway there with those
# keys and a temporary data directory, runs the selection, prints pytest's
# count, and stops the gateway.
#
# Not part of `make test`: CI cannot fetch the suite. A developer tool.
#
# Environment:
#   S3TESTS_DIR         the suite checkout (if not given as first argument)
#   S3TESTS_SHARED      directory holding run.sh and s3tests.conf
#                       (default: ../shared/s3-tests beside the repository)
#   DATDOT              the datdot binary (default: build/datdot)
#   S3_CONFORMANCE_LOG  where to keep pytest's full output (default:
#                       /tmp/s3-conformance-last.log; the gateway's log goes
#                       beside it as *-gateway.log)
#   MIN_PASS            exit non-zero if fewer tests pass (default: 0, report only)
#   KEEP_DATA=1         keep the temp data dir and gateway log
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
src=${1:-${S3TESTS_DIR:-}}
if [ -z "$src" ] || [ ! -f "$src/s3tests/functional/test_s3.py" ]; then
	echo "usage: $0 S3TESTS_DIR [pytest args...]  (an export of ceph/s3-tests; got '${src}')" >&2
	exit 2
fi
[ $# -gt 0 ] && shift
src=$(cd "$src" && pwd)
shared=${S3TESTS_SHARED:-$(cd "$root/.." && pwd)/shared/s3-tests}
conf=$shared/s3tests.conf
[ -f "$conf" ] && [ -f "$shared/run.sh" ] || {
	echo "s3-conformance: $shared has no run.sh/s3tests.conf (set S3TESTS_SHARED)" >&2
	exit 2
}
datdot=${DATDOT:-$root/build/datdot}
[ -x "$datdot" ] || {
	echo "s3-conformance: $datdot not built (run make build)" >&2
	exit 2
}

# Endpoint and every access_key/secret_key pair from the suite's config.
host=$(awk -F' *= *' '$1=="host"{print $2; exit}' "$conf")
port=$(awk -F' *= *' '$1=="port"{print $2; exit}' "$conf")
keyargs=()
while read -r ak sk; do
	keyargs+=(--key "$ak:$sk")
done < <(awk -F' *= *' '$1=="access_key"{ak=$2} $1=="secret_key"{print ak, $2}' "$conf")
[ "${#keyargs[@]}" -ge 10 ] || {
	echo "s3-conformance: expected 5 key pairs in $conf, got $((${#keyargs[@]} / 2))" >&2
	exit 2
}

if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
	echo "s3-conformance: something already listens on $host:$port; stop it first" >&2
	exit 2
fi

tmp=$(mktemp -d /tmp/s3-conformance.XXXXXX)
log=${S3_CONFORMANCE_LOG:-/tmp/s3-conformance-last.log}
gwlog=${log%.log}-gateway.log
gwpid=""
cleanup() {
	if [ -n "$gwpid" ] && kill -0 "$gwpid" 2>/dev/null; then
		kill "$gwpid" 2>/dev/null || true
		wait "$gwpid" 2>/dev/null || true
	fi
	if [ "${KEEP_DATA:-0}" = 1 ]; then
		echo "s3-conformance: kept data dir $tmp"
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT

"$datdot" gateway --listen "$host:$port" --data-dir "$tmp/data" "${keyargs[@]}" >"$gwlog" 2>&1 &
gwpid=$!
for _ in $(seq 1 100); do
	if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then break; fi
	if ! kill -0 "$gwpid" 2>/dev/null; then
		echo "s3-conformance: gateway exited at start:" >&2
		cat "$gwlog" >&2
		exit 1
	fi
	sleep 0.1
done

echo "s3-conformance: gateway pid $gwpid on $host:$port, suite $src"
set +e
bash "$shared/run.sh" "$src" "$@" >"$log" 2>&1
rc=$?
set -e

# Failures/errors, one per line, then pytest's count.
grep -E '^(FAILED|ERROR) ' "$log" | sed -E 's/ - .*//' | sort || true
summary=$(tail -n 1 "$log")
echo "$summary"
echo "s3-conformance: full log in $log, gateway log in $gwlog"
passed=$(grep -oE '[0-9]+ passed' <<<"$summary" | grep -oE '[0-9]+' || echo 0)
if [ "${MIN_PASS:-0}" -gt 0 ] && [ "$passed" -lt "$MIN_PASS" ]; then
	echo "s3-conformance: $passed passed < MIN_PASS=$MIN_PASS" >&2
	exit 1
fi
# pytest exits 1 when some test failed: that is the normal state here, not an error of this script.
[ "$rc" -le 1 ] || {
	echo "s3-conformance: pytest exited $rc" >&2
	tail -n 30 "$log" >&2
	exit 1
}
