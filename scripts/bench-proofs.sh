#!/usr/bin/env bash
# bench-proofs.sh measures proofs committed per second end to end on a fresh
# local chain: bench/chain -msg proofs registers hosters, places orders of a
# real core with 64 KiB blocks, commits every slot, then answers every
# challenge as soon as it is seen with batched MsgSubmitProofs (pipelined:
# earlier answers need not be committed) for BENCH_DURATION and counts the
# proofs of the challenges that passed. Not part of `make test`.
#   BENCH_ORDERS (100) orders of 3 replicas, BENCH_DURATION (30s),
#   BENCH_CHALLENGES_PER_BLOCK (64) challenges of BENCH_INDICES (4) indices
#   per block, BENCH_ANSWERS_PER_TX (12: ~3.2 MB txs under the localnet's
#   4 MiB mempool max_tx_bytes), BENCH_BLOCK_TIME (200ms), BENCH_NODE_LOG
#   (a file to keep the node's log in).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/datdot-bench-proofs.XXXXXX")"
cleanup() {
	[ -f "$work/chain/localnet.pid" ] && kill "$(cat "$work/chain/localnet.pid")" 2>/dev/null || true
	sleep 0.5
	# BENCH_NODE_LOG=file keeps the node's log (block sizes and timings)
	if [ -n "${BENCH_NODE_LOG:-}" ] && [ -f "$work/chain/node.log" ]; then cp "$work/chain/node.log" "$BENCH_NODE_LOG"; fi
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
export LOCALNET_CHALLENGES_PER_BLOCK="${BENCH_CHALLENGES_PER_BLOCK:-64}"
export LOCALNET_RESPONSE_BLOCKS=50 LOCALNET_INDICES_PER_CHALLENGE="${BENCH_INDICES:-4}"
export LOCALNET_BLOCK_TIME="${BENCH_BLOCK_TIME:-200ms}"
bash "$repo/scripts/localnet.sh" --background >/dev/null
go build -o "$work/chainbench" "$repo/bench/chain"
"$work/chainbench" -grpc "127.0.0.1:$LOCALNET_GRPC_PORT" -home "$LOCALNET_HOME" -msg proofs \
	-accounts "${BENCH_ORDERS:-100}" -duration "${BENCH_DURATION:-30s}" -answers-per-tx "${BENCH_ANSWERS_PER_TX:-12}"
