#!/usr/bin/env bash
# localnet.sh starts a one-validator DatDot chain on loopback in a few seconds.
#
#   scripts/localnet.sh [--home DIR] [--background] [--keep]
#   scripts/localnet.sh [--home DIR] --stop
#
# Without --keep the home directory is wiped and the chain starts from a new
# genesis with funded test accounts (keyring-backend test, in the home):
#   validator alice bob hoster1 hoster2 hoster3 (and LOCALNET_EXTRA_ACCOUNTS
#   more, named user1..userN).
# With --background the node runs detached; the script waits for the first
# block, writes DIR/localnet.pid and exits. --stop stops that node and waits
# until it has exited.
#
# Everything listens on 127.0.0.1. Environment overrides (defaults):
#   LOCALNET_HOME (./.localnet)          LOCALNET_CHAIN_ID (datdot-local)
#   LOCALNET_RPC_PORT (26657)            LOCALNET_P2P_PORT (26656)
#   LOCALNET_GRPC_PORT (9090)            LOCALNET_API_PORT (1317)
#   LOCALNET_BLOCK_TIME (200ms)          LOCALNET_MIN_GAS_PRICES (0.001udot)
#   LOCALNET_EPOCH_BLOCKS (5)            storage payment epoch length in blocks
#   LOCALNET_UNBONDING_BLOCKS (20)       storage hoster unbonding period in blocks
#   LOCALNET_COMMIT_WINDOW (100000)      storage commit window in blocks (blocks are fast here)
#   LOCALNET_RETENTION_BLOCKS (1000000)  blocks an ended storage order is kept
#   LOCALNET_CHALLENGES_PER_BLOCK (4)    x/attest storage challenges per block (0: off)
#   LOCALNET_RESPONSE_BLOCKS (100)       x/attest blocks a hoster has to answer
#   LOCALNET_INDICES_PER_CHALLENGE (2)   x/attest blocks named per challenge
#   LOCALNET_EXTRA_ACCOUNTS (0)          LOCALNET_BIN (build/datdotchaind)
#   LOCALNET_ACCOUNT_COINS (1000000000000udot per account)
#   LOCALNET_SELF_STAKE (100000000000udot, the validator's bond)
#   LOCALNET_MAX_TX_BYTES (4194304)      mempool max_tx_bytes: a batched MsgSubmitProofs
#                                        carries ~66 KB per proof of a 64 KiB block
#   LOCALNET_GENESIS_JQ (none)           a jq filter applied to the genesis
#                                        last (e2e scripts tune module params)
#   LOCALNET_PPROF (none)                a loopback host:port for the node's Go profiler (CometBFT rpc.pprof_laddr)
#   LOCALNET_CACHE (build/localnet-cache) keys, accounts and gentx made by an
#                                        earlier run of the same binary and
#                                        settings are copied from here; off: never
#
# Last lines printed (machine-readable, KEY=VALUE):
#   LOCALNET_HOME, CHAIN_ID, RPC, GRPC, API, PID (background only).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

home="${LOCALNET_HOME:-$repo_root/.localnet}"
background=0
keep=0
stop=0
while [ $# -gt 0 ]; do
	case "$1" in
	--home) home="$2"; shift 2 ;;
	--home=*) home="${1#--home=}"; shift ;;
	--background) background=1; shift ;;
	--keep) keep=1; shift ;;
	--stop) stop=1; shift ;;
	-h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
	*) echo "localnet: unknown argument $1" >&2; exit 2 ;;
	esac
done

bin="${LOCALNET_BIN:-$repo_root/build/datdotchaind}"
chain_id="${LOCALNET_CHAIN_ID:-datdot-local}"
rpc_port="${LOCALNET_RPC_PORT:-26657}"
p2p_port="${LOCALNET_P2P_PORT:-26656}"
grpc_port="${LOCALNET_GRPC_PORT:-9090}"
api_port="${LOCALNET_API_PORT:-1317}"
block_time="${LOCALNET_BLOCK_TIME:-200ms}"
max_tx_bytes="${LOCALNET_MAX_TX_BYTES:-4194304}"
min_gas="${LOCALNET_MIN_GAS_PRICES:-0.001udot}"
epoch_blocks="${LOCALNET_EPOCH_BLOCKS:-5}"
unbonding_blocks="${LOCALNET_UNBONDING_BLOCKS:-20}"
commit_window="${LOCALNET_COMMIT_WINDOW:-100000}"
retention_blocks="${LOCALNET_RETENTION_BLOCKS:-1000000}"
extra_accounts="${LOCALNET_EXTRA_ACCOUNTS:-0}"
challenges_per_block="${LOCALNET_CHALLENGES_PER_BLOCK:-4}"
response_blocks="${LOCALNET_RESPONSE_BLOCKS:-100}"
indices_per_challenge="${LOCALNET_INDICES_PER_CHALLENGE:-2}"
coins="${LOCALNET_ACCOUNT_COINS:-1000000000000udot}"
self_stake="${LOCALNET_SELF_STAKE:-100000000000udot}"

command -v jq >/dev/null || { echo "localnet: jq is required (scripts/setup/chain.sh installs it)" >&2; exit 1; }

case "$home" in /*) ;; *) home="$PWD/$home" ;; esac
log="$home/node.log"
pidfile="$home/localnet.pid"

chaind() { "$bin" --home "$home" "$@"; }

# set_toml, shared with multinode.sh and the e2e scripts.
. "$repo_root/scripts/e2e/lib/net.sh"

if [ "$stop" = 1 ]; then
	[ -f "$pidfile" ] || { echo "localnet: no $pidfile; nothing to stop" >&2; exit 0; }
	pid="$(cat "$pidfile")"
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 1 300); do
		kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; echo "localnet: stopped $pid"; exit 0; }
		sleep 0.1
	done
	echo "localnet: node $pid did not stop within 30s" >&2
	exit 1
fi

# Stopping needs no binary: a test that built its own (LOCALNET_BIN) and
# stops with LOCALNET_HOME alone must not leave its node running.
[ -x "$bin" ] || { echo "localnet: $bin not found; run make build" >&2; exit 1; }

if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
	echo "localnet: a node from $home is still running (pid $(cat "$pidfile")); stop it first" >&2
	exit 1
fi

if [ "$keep" = 0 ] || [ ! -f "$home/config/genesis.json" ]; then
	rm -rf "$home"
	mkdir -p "$home"
	# The node's keys, the accounts and the validator's gentx take ~20
	# runs of the binary (40-50 s on a loaded machine); they depend only on
	# the binary and the settings below, so the first run keeps them in
	# LOCALNET_CACHE (default build/localnet-cache, "off" disables it) and
	# later runs copy them. Every chain still starts from block 0.
	cache="${LOCALNET_CACHE:-$repo_root/build/localnet-cache}"
	base_id="$( { stat -L -c '%s %Y %i' "$bin"; printf '%s\n' "$chain_id" "$extra_accounts" "$coins" "$self_stake"; cat "${BASH_SOURCE[0]}"; } | sha256sum | cut -c1-16)"
	base="$cache/$base_id"
	if [ "$cache" != off ] && [ -f "$base/config/genesis.json" ]; then
		cp -a "$base/." "$home/"
	else
		chaind init localnet --chain-id "$chain_id" >/dev/null 2>&1
		accounts=(validator alice bob hoster1 hoster2 hoster3)
		for i in $(seq 1 "$extra_accounts"); do accounts+=("user$i"); done
		for name in "${accounts[@]}"; do
			chaind keys add "$name" --keyring-backend test --output json >"$home/key-$name.json" 2>&1
			chaind genesis add-genesis-account "$name" "$coins" --keyring-backend test >/dev/null
		done
		chaind genesis gentx validator "$self_stake" --chain-id "$chain_id" --keyring-backend test >/dev/null 2>&1
		chaind genesis collect-gentxs >/dev/null 2>&1
		if [ "$cache" != off ] && mkdir -p "$cache" 2>/dev/null; then
			tmp="$(mktemp -d "$cache/.new.XXXXXX")"
			cp -a "$home/." "$tmp/"
			# Another run may have made the same base meanwhile: keep one.
			mv -T "$tmp" "$base" 2>/dev/null || rm -rf "$tmp"
		fi
	fi

	# Storage payments every few blocks so that escrow visibly moves, and a
	# short hoster unbonding period.
	genesis="$home/config/genesis.json"
	if jq -e '.app_state.storage.params' "$genesis" >/dev/null 2>&1; then
		jq --arg e "$epoch_blocks" --arg u "$unbonding_blocks" --arg c "$commit_window" --arg r "$retention_blocks" \
			'.app_state.storage.params.epoch_blocks = $e | .app_state.storage.params.unbonding_blocks = $u
			| .app_state.storage.params.commit_window = $c | .app_state.storage.params.retention_blocks = $r' \
			"$genesis" >"$genesis.tmp"
		mv "$genesis.tmp" "$genesis"
	fi
	# x/attest: how often hosters are challenged and how long they have.
	if jq -e '.app_state.attest.params' "$genesis" >/dev/null 2>&1; then
		jq --argjson c "$challenges_per_block" --arg r "$response_blocks" --argjson i "$indices_per_challenge" \
			'.app_state.attest.params.challenges_per_block = $c | .app_state.attest.params.response_blocks = $r | .app_state.attest.params.indices_per_challenge = $i' \
			"$genesis" >"$genesis.tmp"
		mv "$genesis.tmp" "$genesis"
	fi
	# Short governance periods make parameter proposals testable by hand.
	jq '.app_state.gov.params.voting_period = "20s" | .app_state.gov.params.expedited_voting_period = "10s"' \
		"$genesis" >"$genesis.tmp" && mv "$genesis.tmp" "$genesis"
	if [ -n "${LOCALNET_GENESIS_JQ:-}" ]; then
		jq "$LOCALNET_GENESIS_JQ" "$genesis" >"$genesis.tmp" && mv "$genesis.tmp" "$genesis"
	fi

	chaind genesis validate >/dev/null

	cfg="$home/config/config.toml"
	set_toml "$cfg" rpc laddr "\"tcp://127.0.0.1:$rpc_port\""
	set_toml "$cfg" p2p laddr "\"tcp://127.0.0.1:$p2p_port\""
	set_toml "$cfg" p2p addr_book_strict false
	set_toml "$cfg" rpc pprof_laddr "\"${LOCALNET_PPROF:-}\""
	set_toml "$cfg" consensus timeout_commit "\"$block_time\""
	# Proof traffic: one proof of a 64 KiB block is ~66 KB, so CometBFT's
	# default 1 MiB max_tx_bytes holds 15 proofs; 4 MiB holds ~60 (the
	# genesis block max_bytes, 21 MiB, holds five such txs).
	set_toml "$cfg" mempool max_tx_bytes "$max_tx_bytes"

	appcfg="$home/config/app.toml"
	set_toml "$appcfg" "" minimum-gas-prices "\"$min_gas\""
	set_toml "$appcfg" api enable true
	set_toml "$appcfg" api address "\"tcp://127.0.0.1:$api_port\""
	set_toml "$appcfg" grpc enable true
	set_toml "$appcfg" grpc address "\"127.0.0.1:$grpc_port\""

	clientcfg="$home/config/client.toml"
	set_toml "$clientcfg" "" chain-id "\"$chain_id\""
	set_toml "$clientcfg" "" keyring-backend "\"test\""
	set_toml "$clientcfg" "" node "\"tcp://127.0.0.1:$rpc_port\""
	set_toml "$clientcfg" "" output "\"json\""
fi

print_endpoints() {
	echo "LOCALNET_HOME=$home"
	echo "CHAIN_ID=$chain_id"
	echo "RPC=tcp://127.0.0.1:$rpc_port"
	echo "GRPC=127.0.0.1:$grpc_port"
	echo "API=http://127.0.0.1:$api_port"
}

if [ "$background" = 0 ]; then
	print_endpoints
	exec "$bin" start --home "$home"
fi

"$bin" start --home "$home" >"$log" 2>&1 &
pid=$!
echo "$pid" >"$pidfile"

# Wait for the first block to be committed: the node's RPC reports a
# block's height while that block still executes, and until block 1 is
# committed a query finds no state. The node makes block 2 only after
# that, so a height >= 2 means every query from here on sees the genesis.
deadline=$((SECONDS + 120))
until height="$(chaind status 2>/dev/null | jq -r '.sync_info.latest_block_height // "0"' 2>/dev/null)" && [ "${height:-0}" -ge 2 ]; do
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "localnet: node exited; last log lines:" >&2
		tail -n 30 "$log" >&2
		rm -f "$pidfile"
		exit 1
	fi
	if [ "$SECONDS" -ge "$deadline" ]; then
		echo "localnet: no block after 120s; last log lines:" >&2
		tail -n 30 "$log" >&2
		kill "$pid" 2>/dev/null || true
		rm -f "$pidfile"
		exit 1
	fi
	sleep 0.2
done
print_endpoints
echo "PID=$pid"
echo "LOG=$log"
