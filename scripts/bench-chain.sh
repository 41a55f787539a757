#!/usr/bin/env bash
# bench-chain.sh measures end-to-end committed tx/s on a fresh local chain:
# bank sends and storage place-order transactions, signed and broadcast over
# gRPC by bench/chain from several accounts. Not part of `make test`.
#   BENCH_ACCOUNTS (20) sending accounts, BENCH_TXS (100) txs per account.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/datdot-bench-chain.XXXXXX")"
cleanup() {
	[ -f "$work/chain/localnet.pid" ] && kill "$(cat "$work/chain/localnet.pid")" 2>/dev/null || true
	sleep 0.5
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

port() { # a free loopback port
	local p
	while :; do
		p=$((20000 + RANDOM % 40000))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
}
export LOCALNET_HOME="$work/chain" LOCALNET_RPC_PORT="$(port)" LOCALNET_P2P_PORT="$(port)"
export LOCALNET_GRPC_PORT="$(port)" LOCALNET_API_PORT="$(port)"
bash "$repo/scripts/localnet.sh" --background >/dev/null
go build -o "$work/chainbench" "$repo/bench/chain"
for kind in bank place-order; do
	"$work/chainbench" -grpc "127.0.0.1:$LOCALNET_GRPC_PORT" -home "$LOCALNET_HOME" -msg "$kind" \
		-accounts "${BENCH_ACCOUNTS:-20}" -txs "${BENCH_TXS:-100}" 2>/dev/null
done
