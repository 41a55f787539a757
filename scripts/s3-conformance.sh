#!/usr/bin/env bash
# Runs the ceph/s3-tests core selection (../shared/s3-tests) against the gateway.
#
# usage: scripts/s3-conformance.sh [S3TESTS_DIR] [extra pytest args...]
#        S3TESTS_DIR defaults to $S3TESTS_DIR.
#
# S3TESTS_DIR is an export of the public ceph/s3-tests repository, kept OUTSIDE
# this repository (its code is not ours and is never committed). The suite's
# config (../shared/s3-tests/s3tests.conf) fixes the endpoint to 127.0.0.1:9000
# and the suite's key pairs; this script starts build/datdot gateway there with
# all of them (and their user ids and display names) and a temporary data
# directory, runs the selection, prints the failures and pytest's
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
#   S3_CONFORMANCE_PORT run on this loopback port instead of the conf's 9000
#                       (a patched copy of the conf is used), e.g. when
#                       something else already listens on 9000
#   S3_CONFORMANCE_SERVER=versitygw  run the suite against versitygw (posix
#                       backend, the other users created through its admin API)
#                       instead of datdot, for a reference count; binary from
#                       $VERSITYGW or PATH
#   S3_CONFORMANCE_BACKEND=network  run datdot's network backend instead of
#                       --backend local: a one-validator chain
#                       (scripts/localnet.sh, free ports) and three
#                       `datdot hoster` processes are started first, the
#                       gateway writes volumes of 2 data + 1 parity cores to
#                       them with the cache off (every GET from the hosters)
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
server=${S3_CONFORMANCE_SERVER:-datdot}
backend=${S3_CONFORMANCE_BACKEND:-local}
case "$backend" in
local | network) ;;
*)
	echo "s3-conformance: S3_CONFORMANCE_BACKEND must be local or network" >&2
	exit 2
	;;
esac
datdot=${DATDOT:-$root/build/datdot}
case "$server" in
datdot)
	[ -x "$datdot" ] || {
		echo "s3-conformance: $datdot not built (run make build)" >&2
		exit 2
	}
	;;
versitygw)
	vgw=${VERSITYGW:-$(command -v versitygw || echo "$(go env GOPATH)/bin/versitygw")}
	[ -x "$vgw" ] || {
		echo "s3-conformance: versitygw not found (set VERSITYGW)" >&2
		exit 2
	}
	;;
*)
	echo "s3-conformance: S3_CONFORMANCE_SERVER must be datdot or versitygw" >&2
	exit 2
	;;
esac

tmp=$(mktemp -d /tmp/s3-conformance.XXXXXX)
if [ -n "${S3_CONFORMANCE_PORT:-}" ]; then
	# run.sh reads s3tests.conf beside itself: use a copy with the port changed.
	cp "$shared/run.sh" "$shared/markers.txt" "$shared/keywords.txt" "$tmp/"
	sed -E "s/^port = .*/port = $S3_CONFORMANCE_PORT/" "$conf" >"$tmp/s3tests.conf"
	shared=$tmp
	conf=$tmp/s3tests.conf
fi

# Endpoint and every access_key/secret_key pair from the suite's config.
host=$(awk -F' *= *' '$1=="host"{print $2; exit}' "$conf")
port=$(awk -F' *= *' '$1=="port"{print $2; exit}' "$conf")
# Each section's ACCESS:SECRET:USERID:DISPLAYNAME (the suite checks owner ids
# and display names in ACLs and listings).
keyargs=()
keys=()
while IFS=$'\t' read -r ak sk uid dn; do
	keyargs+=(--key "$ak:$sk:$uid:$dn")
	keys+=("$ak:$sk")
done < <(awk -F' *= *' '
	function flush() { if (ak != "" && sk != "") printf "%s\t%s\t%s\t%s\n", ak, sk, uid, dn; ak = sk = uid = dn = "" }
	/^\[/ { flush(); next }
	$1 == "access_key" { ak = $2 } $1 == "secret_key" { sk = $2 }
	$1 == "user_id" { uid = $2 } $1 == "display_name" { dn = $2 }
	END { flush() }' "$conf")
[ "${#keyargs[@]}" -ge 10 ] || {
	echo "s3-conformance: expected at least 5 key pairs in $conf, got $((${#keyargs[@]} / 2))" >&2
	exit 2
}

if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
	echo "s3-conformance: something already listens on $host:$port; stop it first or set S3_CONFORMANCE_PORT" >&2
	rm -rf "$tmp"
	exit 2
fi

log=${S3_CONFORMANCE_LOG:-/tmp/s3-conformance-last.log}
gwlog=${log%.log}-gateway.log
gwpid=""
hpids=()
cleanup() {
	if [ -n "$gwpid" ] && kill -0 "$gwpid" 2>/dev/null; then
		kill "$gwpid" 2>/dev/null || true
		wait "$gwpid" 2>/dev/null || true
	fi
	for p in "${hpids[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	[ -f "$tmp/chain/localnet.pid" ] && kill "$(cat "$tmp/chain/localnet.pid")" 2>/dev/null || true
	if [ "${KEEP_DATA:-0}" = 1 ]; then
		echo "s3-conformance: kept data dir $tmp"
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT

wait_port() { # wait_port HOST PORT
	for _ in $(seq 1 600); do
		if (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then return 0; fi
		if ! kill -0 "$gwpid" 2>/dev/null; then
			echo "s3-conformance: server exited at start:" >&2
			cat "$gwlog" >&2
			exit 1
		fi
		sleep 0.1
	done
	echo "s3-conformance: nothing listens on $1:$2 after 60 s" >&2
	exit 1
}
mkdir -p "$tmp/data"
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
backendargs=(--backend local)
if [ "$server" = datdot ] && [ "$backend" = network ]; then
	chaind_bin=${DATDOTCHAIND:-$root/build/datdotchaind}
	[ -x "$chaind_bin" ] || {
		echo "s3-conformance: $chaind_bin not built (run make build)" >&2
		exit 2
	}
	home=$tmp/chain
	export LOCALNET_HOME="$home" LOCALNET_BIN="$chaind_bin"
	export LOCALNET_RPC_PORT="$(free_port)" LOCALNET_P2P_PORT="$(free_port)"
	export LOCALNET_GRPC_PORT="$(free_port)" LOCALNET_API_PORT="$(free_port)"
	echo "s3-conformance: starting a chain and three hosters"
	bash "$root/scripts/localnet.sh" --background >"$tmp/localnet.out"
	grpc="127.0.0.1:$LOCALNET_GRPC_PORT" rpc="http://127.0.0.1:$LOCALNET_RPC_PORT"
	for i in 1 2 3; do
		hport=$(free_port)
		"$datdot" hoster init --home "$tmp/h$i" --listen "127.0.0.1:$hport" --endpoint "http://127.0.0.1:$hport" \
			--capacity 17179869184 --reserve 1048576 --region "r$i" --price 100 --stake 5000000udot \
			--chain.grpc "$grpc" --chain.rpc "$rpc" --chain.keyring_dir "$home" --chain.keyring_backend test --chain.key "hoster$i" >/dev/null
		"$datdot" hoster register --home "$tmp/h$i" >/dev/null
		"$datdot" hoster start --home "$tmp/h$i" >"$tmp/h$i.log" 2>&1 &
		hpids+=($!)
		for _ in $(seq 1 300); do
			curl -s -o /dev/null "http://127.0.0.1:$hport/v1/health" && break
			kill -0 "${hpids[-1]}" 2>/dev/null || {
				echo "s3-conformance: hoster $i exited:" >&2
				tail -20 "$tmp/h$i.log" >&2
				exit 1
			}
			sleep 0.2
		done
	done
	backendargs=(--backend network --erasure-k 2 --erasure-m 1 --cache-bytes 0 --chain.grpc "$grpc" --chain.rpc "$rpc"
		--chain.keyring-dir "$home" --chain.keyring-backend test --chain.key alice
		--order.max-price 1000 --order.epochs 100000 --order.deposit 1000000000udot)
fi
if [ "$server" = datdot ]; then
	"$datdot" gateway --listen "$host:$port" --data "$tmp/data" "${keyargs[@]}" "${backendargs[@]}" >"$gwlog" 2>&1 &
	gwpid=$!
	wait_port "$host" "$port"
else
	# versitygw: the first pair is its root account; the others are users
	# created through its admin API (role admin, so they may create buckets).
	adminport=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	mkdir -p "$tmp/iam" "$tmp/versions"
	"$vgw" --port "$host:$port" --admin-port "127.0.0.1:$adminport" --access "${keys[0]%%:*}" --secret "${keys[0]#*:}" \
		--iam-dir "$tmp/iam" --quiet posix --versioning-dir "$tmp/versions" "$tmp/data" >"$gwlog" 2>&1 &
	gwpid=$!
	wait_port "$host" "$port"
	wait_port 127.0.0.1 "$adminport"
	for kp in "${keys[@]:1}"; do
		"$vgw" admin --access "${keys[0]%%:*}" --secret "${keys[0]#*:}" --endpoint-url "http://127.0.0.1:$adminport" \
			create-user --access "${kp%%:*}" --secret "${kp#*:}" --role admin >>"$gwlog" 2>&1 || {
			echo "s3-conformance: versitygw admin create-user ${kp%%:*} failed" >&2
			exit 1
		}
	done
fi

echo "s3-conformance: $server (backend ${backendargs[1]}) pid $gwpid on $host:$port, suite $src"
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
