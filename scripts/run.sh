#!/usr/bin/env bash
# run.sh starts the whole DatDot system on this machine with embedded defaults:
# a one-validator chain (scripts/localnet.sh) and the S3 gateway, all on
# 127.0.0.1. It stays in the foreground; Ctrl-C stops everything.
#
# State lives in ./.devnet (DATDOT_RUN_HOME overrides) and starts fresh each
# run. The gateway listens on DATDOT_GATEWAY_LISTEN (127.0.0.1:9000).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
home="${DATDOT_RUN_HOME:-$repo_root/.devnet}"
listen="${DATDOT_GATEWAY_LISTEN:-127.0.0.1:9000}"

for bin in datdotchaind datdot; do
	[ -x "$repo_root/build/$bin" ] || { echo "run: build/$bin missing; run make build" >&2; exit 1; }
done
rm -rf "$home"
mkdir -p "$home"

chain_pid=""
gateway_pid=""
cleanup() {
	[ -n "$gateway_pid" ] && kill "$gateway_pid" 2>/dev/null || true
	[ -n "$chain_pid" ] && kill "$chain_pid" 2>/dev/null || true
	wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

echo "== starting the chain"
LOCALNET_HOME="$home/chain" "$repo_root/scripts/localnet.sh" --background | tee "$home/chain.env"
chain_pid="$(cat "$home/chain/localnet.pid")"

echo "== starting the S3 gateway on $listen"
"$repo_root/build/datdot" gateway --listen "$listen" --data "$home/gateway" &
gateway_pid=$!

cat <<TXT

DatDot is running (Ctrl-C stops it):
  chain:    $(grep '^RPC=' "$home/chain.env" | cut -d= -f2-)  (home $home/chain, keyring-backend test)
  S3:       http://$listen  access key DATDOTDEVACCESSKEY  secret datdot-dev-secret-key-change-me
  try:      AWS_ACCESS_KEY_ID=DATDOTDEVACCESSKEY AWS_SECRET_ACCESS_KEY=datdot-dev-secret-key-change-me \\
              aws --endpoint-url http://$listen s3 mb s3://media
TXT
# The chain runs detached (localnet.sh --background), so poll both.
while kill -0 "$gateway_pid" 2>/dev/null && kill -0 "$chain_pid" 2>/dev/null; do
	sleep 1
done
echo "run: a process exited (logs: $home/chain/node.log); stopping" >&2
exit 1
