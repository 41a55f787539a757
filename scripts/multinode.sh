#!/usr/bin/env bash
# multinode.sh starts a DatDot network on loopback: a 4-validator chain
# (each validator its own datdotchaind process and home, equal stake, all
# peered with each other), hoster daemons and the S3 gateway on the network
# backend, all on free ports.
#
#   scripts/multinode.sh [--home DIR] [--nodes N] [--hosters H]   start (background)
#   scripts/multinode.sh [--home DIR] --stop           stop everything
#   scripts/multinode.sh [--home DIR] --stop-node I    stop validator I (0-based)
#   scripts/multinode.sh [--home DIR] --start-node I   start validator I again
#
# A new network is made when DIR has none (DIR/node0..nodeN-1, default
# ./.multinode); otherwise the existing nodes, hosters and gateway are
# started again with their data. The script waits until every node has made
# a block, the hosters are registered and active and the gateway answers,
# then prints, machine-readable:
#   MULTINODE_HOME, CHAIN_ID, NODES, per node NODEi_RPC, NODEi_API,
#   NODEi_GRPC, NODEi_P2P, NODEi_HOME, NODEi_PID; HOSTERS, per hoster
#   HOSTERi_URL, HOSTERi_PID; S3_ENDPOINT, AWS_ACCESS_KEY_ID,
#   AWS_SECRET_ACCESS_KEY, GATEWAY_ACCOUNT, GATEWAY_PID.
# Storage: H hoster daemons (default 6, --hosters 0 for a bare chain), and
# `datdot gateway --backend network` with volumes of 2 data + 2 parity
# cores (MULTINODE_ERASURE_K/M), paid by the genesis account "gateway". The
# hosters and the gateway talk to validators 0..N-2 (round robin); the last
# validator serves no daemon, so it can be stopped and restarted without
# cutting anyone's chain connection (scripts/e2e/multinode.sh does that).
# The accounts validator0..N-1, alice, bob, gateway and hoster1..8 are
# funded; their keys are in node0's test keyring. Environment: MULTINODE_BIN
# (build/datdotchaind), MULTINODE_DATDOT (build/datdot),
# MULTINODE_BLOCK_TIME (300ms), MULTINODE_CHAIN_ID (datdot-multinode).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
home="${MULTINODE_HOME:-$repo_root/.multinode}"
nodes=4
hosters=6
action=start
target=""
while [ $# -gt 0 ]; do
	case "$1" in
	--home) home="$2"; shift 2 ;;
	--nodes) nodes="$2"; shift 2 ;;
	--hosters) hosters="$2"; shift 2 ;;
	--stop) action=stop; shift ;;
	--stop-node) action=stop-node; target="$2"; shift 2 ;;
	--start-node) action=start-node; target="$2"; shift 2 ;;
	-h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
	*) echo "multinode: unknown argument $1" >&2; exit 2 ;;
	esac
done
case "$home" in /*) ;; *) home="$PWD/$home" ;; esac

bin="${MULTINODE_BIN:-$repo_root/build/datdotchaind}"
datdot="${MULTINODE_DATDOT:-$repo_root/build/datdot}"
erasure_k="${MULTINODE_ERASURE_K:-2}"
erasure_m="${MULTINODE_ERASURE_M:-2}"
chain_id="${MULTINODE_CHAIN_ID:-datdot-multinode}"
block_time="${MULTINODE_BLOCK_TIME:-300ms}"
coins=1000000000000udot
stake=100000000000udot
[ -x "$bin" ] || { echo "multinode: $bin not found; run make build" >&2; exit 1; }
command -v jq >/dev/null || { echo "multinode: jq is required" >&2; exit 1; }

node_home() { echo "$home/node$1"; }
chaind() { local i="$1"; shift; "$bin" --home "$(node_home "$i")" "$@"; }

# free_port and set_toml, shared with localnet.sh and the e2e scripts.
. "$repo_root/scripts/e2e/lib/net.sh"

# ports.env of node I: RPC, P2P, GRPC, API (chosen once, kept across restarts).
ports() { . "$(node_home "$1")/ports.env"; }

height_of() { curl -sf "http://127.0.0.1:$1/status" | jq -r '.result.sync_info.latest_block_height' 2>/dev/null; }

start_node() {
	local i="$1" h
	h="$(node_home "$i")"
	if [ -f "$h/node.pid" ] && kill -0 "$(cat "$h/node.pid")" 2>/dev/null; then
		echo "multinode: node $i already runs (pid $(cat "$h/node.pid"))" >&2
		return 0
	fi
	"$bin" start --home "$h" >>"$h/node.log" 2>&1 &
	echo $! >"$h/node.pid"
}

stop_node() {
	local i="$1" h pid
	h="$(node_home "$i")"
	[ -f "$h/node.pid" ] || return 0
	pid="$(cat "$h/node.pid")"
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 1 300); do
		kill -0 "$pid" 2>/dev/null || { rm -f "$h/node.pid"; return 0; }
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
	rm -f "$h/node.pid"
}

wait_block() { # wait_block I: until node I reports a height >= 1
	local i="$1" deadline=$((SECONDS + 120)) h
	ports "$i"
	until h="$(height_of "$RPC")" && [ "${h:-0}" -ge 1 ]; do
		if ! kill -0 "$(cat "$(node_home "$i")/node.pid")" 2>/dev/null; then
			echo "multinode: node $i exited; last log lines:" >&2
			tail -n 30 "$(node_home "$i")/node.log" >&2
			return 1
		fi
		[ "$SECONDS" -lt "$deadline" ] || { echo "multinode: node $i made no block in 120s" >&2; tail -n 30 "$(node_home "$i")/node.log" >&2; return 1; }
		sleep 0.2
	done
}

# ---- storage: hoster daemons and the S3 gateway on the network backend ----

hoster_home() { echo "$home/hosters/hoster$1"; }
# client_node K: the validator daemon number K talks to (round robin over
# all but the last validator).
client_node() { local n=$((nodes > 1 ? nodes - 1 : 1)); echo $(($1 % n)); }
running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
stop_pidfile() { # stop_pidfile FILE: SIGTERM, then SIGKILL after 30 s
	local pid
	[ -f "$1" ] || return 0
	pid="$(cat "$1")"
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || { rm -f "$1"; return 0; }; sleep 0.1; done
	kill -9 "$pid" 2>/dev/null || true
	rm -f "$1"
}
until_ok() { # until_ok SECONDS WHAT LOG CMD...
	local limit="$1" what="$2" log="$3"; shift 3
	local deadline=$((SECONDS + limit))
	until "$@" >/dev/null 2>&1; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "multinode: $what: not true after ${limit}s; last lines of $log:" >&2
			tail -n 30 "$log" >&2
			return 1
		fi
		sleep 0.2
	done
}

init_hoster() { # init_hoster I (1-based): the hoster's home, once (its port is kept)
	local i="$1" h port n
	h="$(hoster_home "$i")"
	[ -f "$h/hoster.toml" ] && return 0
	mkdir -p "$h"
	n="$(client_node $((i - 1)))"
	ports "$n"
	port="$(free_port)"
	"$datdot" hoster init --home "$h" --listen "127.0.0.1:$port" --endpoint "http://127.0.0.1:$port" \
		--capacity 10737418240 --reserve 67108864 --region "region$i" --price $((90 + 10 * i)) --stake 5000000udot \
		--chain.grpc "127.0.0.1:$GRPC" --chain.rpc "http://127.0.0.1:$RPC" \
		--chain.keyring_dir "$(node_home 0)" --chain.keyring_backend test --chain.key "hoster$i" >/dev/null
	echo "http://127.0.0.1:$port" >"$h/url"
}

start_hoster() { # start_hoster I: register (idempotent), start, wait for /v1/health
	local i="$1" h
	h="$(hoster_home "$i")"
	running "$h/hoster.pid" && return 0
	"$datdot" hoster register --home "$h" >>"$h/hoster.log" 2>&1 || { echo "multinode: hoster $i: register failed" >&2; tail -n 20 "$h/hoster.log" >&2; return 1; }
	"$datdot" hoster start --home "$h" >>"$h/hoster.log" 2>&1 &
	echo $! >"$h/hoster.pid"
	until_ok 120 "hoster $i answers $(cat "$h/url")/v1/health" "$h/hoster.log" curl -sf "$(cat "$h/url")/v1/health"
}

active_hosters_at_least() { # N
	ports 0
	[ "$(curl -sf "http://127.0.0.1:$API/datdot/storage/v1/hosters?pagination.limit=1000" | jq '[.hosters[] | select(.status == "HOSTER_STATUS_ACTIVE")] | length')" -ge "$1" ]
}

start_gateway() {
	local g="$home/gateway" ak sk
	running "$g/gateway.pid" && return 0
	mkdir -p "$g"
	if [ ! -f "$g/keys" ]; then
		ak="DD$(head -c 9 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr a-f A-F)"
		sk="$(head -c 30 /dev/urandom | base64 | tr -d '/+=\n')"
		(umask 077; echo "$ak:$sk" >"$g/keys")
		free_port >"$g/port"
	fi
	ports "$(client_node 0)"
	"$datdot" gateway --listen "127.0.0.1:$(cat "$g/port")" --data "$g/data" --keys-file "$g/keys" \
		--backend network --erasure-k "$erasure_k" --erasure-m "$erasure_m" \
		--chain.grpc "127.0.0.1:$GRPC" --chain.rpc "http://127.0.0.1:$RPC" \
		--chain.keyring-dir "$(node_home 0)" --chain.keyring-backend test --chain.key gateway \
		--order.max-price 200 --order.epochs 1000000 --order.deposit 1000000000udot >>"$g/gateway.log" 2>&1 &
	echo $! >"$g/gateway.pid"
	until_ok 120 "the gateway answers" "$g/gateway.log" curl -s -o /dev/null "http://127.0.0.1:$(cat "$g/port")/"
}

start_storage() {
	[ "$hosters" -gt 0 ] || return 0
	[ -x "$datdot" ] || { echo "multinode: $datdot not found; run make build (or --hosters 0)" >&2; return 1; }
	local i p ok=0
	local -a starting=()
	for i in $(seq 1 "$hosters"); do init_hoster "$i" || return 1; done
	# Registration and start of every hoster at once (distinct accounts).
	for i in $(seq 1 "$hosters"); do start_hoster "$i" & starting+=($!); done
	for p in "${starting[@]}"; do wait "$p" || ok=1; done
	[ "$ok" = 0 ] || return 1
	if [ "$hosters" -lt $((erasure_k + erasure_m)) ]; then
		echo "multinode: $hosters hosters cannot hold volumes of $erasure_k+$erasure_m cores: no gateway" >&2
		return 0
	fi
	until_ok 120 "$((erasure_k + erasure_m)) active hosters on chain" "$(hoster_home 1)/hoster.log" active_hosters_at_least $((erasure_k + erasure_m)) || return 1
	start_gateway
}

stop_storage() {
	stop_pidfile "$home/gateway/gateway.pid"
	for d in "$home"/hosters/hoster*; do [ -d "$d" ] && stop_pidfile "$d/hoster.pid"; done
	return 0
}

print_endpoints() {
	echo "MULTINODE_HOME=$home"
	echo "CHAIN_ID=$chain_id"
	echo "NODES=$nodes"
	for i in $(seq 0 $((nodes - 1))); do
		ports "$i"
		echo "NODE${i}_HOME=$(node_home "$i")"
		echo "NODE${i}_RPC=http://127.0.0.1:$RPC"
		echo "NODE${i}_API=http://127.0.0.1:$API"
		echo "NODE${i}_GRPC=127.0.0.1:$GRPC"
		echo "NODE${i}_P2P=127.0.0.1:$P2P"
		echo "NODE${i}_PID=$(cat "$(node_home "$i")/node.pid" 2>/dev/null)"
	done
	local n=0 d
	for d in "$home"/hosters/hoster*; do
		[ -f "$d/url" ] || continue
		n=$((n + 1))
		echo "HOSTER${d##*/hoster}_URL=$(cat "$d/url")"
		echo "HOSTER${d##*/hoster}_PID=$(cat "$d/hoster.pid" 2>/dev/null)"
	done
	echo "HOSTERS=$n"
	if [ -f "$home/gateway/keys" ]; then
		echo "S3_ENDPOINT=http://127.0.0.1:$(cat "$home/gateway/port")"
		echo "AWS_ACCESS_KEY_ID=$(cut -d: -f1 "$home/gateway/keys")"
		echo "AWS_SECRET_ACCESS_KEY=$(cut -d: -f2 "$home/gateway/keys")"
		echo "AWS_DEFAULT_REGION=us-east-1"
		echo "GATEWAY_ACCOUNT=$(chaind 0 keys show gateway -a --keyring-backend test)"
		echo "GATEWAY_PID=$(cat "$home/gateway/gateway.pid" 2>/dev/null)"
	fi
}

case "$action" in
stop)
	stop_storage
	for d in "$home"/node*; do [ -d "$d" ] && stop_node "${d##*/node}"; done
	echo "multinode: stopped"
	exit 0 ;;
stop-node) stop_node "$target"; echo "multinode: node $target stopped"; exit 0 ;;
start-node)
	nodes="$(ls -d "$home"/node* | wc -l)"
	start_node "$target"; wait_block "$target"; print_endpoints; exit 0 ;;
esac

if [ ! -f "$(node_home 0)/config/genesis.json" ]; then
	rm -rf "$home"
	mkdir -p "$home"
	for i in $(seq 0 $((nodes - 1))); do
		h="$(node_home "$i")"
		chaind "$i" init "node$i" --chain-id "$chain_id" >/dev/null 2>&1
		chaind "$i" keys add "validator$i" --keyring-backend test --output json >"$h/key-validator$i.json" 2>&1
		printf 'RPC=%s\nP2P=%s\nGRPC=%s\nAPI=%s\n' "$(free_port)" "$(free_port)" "$(free_port)" "$(free_port)" >"$h/ports.env"
	done
	for name in alice bob gateway hoster1 hoster2 hoster3 hoster4 hoster5 hoster6 hoster7 hoster8; do
		chaind 0 keys add "$name" --keyring-backend test --output json >"$(node_home 0)/key-$name.json" 2>&1
		chaind 0 genesis add-genesis-account "$name" "$coins" --keyring-backend test >/dev/null
	done
	for i in $(seq 0 $((nodes - 1))); do
		addr="$(chaind "$i" keys show "validator$i" -a --keyring-backend test)"
		chaind 0 genesis add-genesis-account "$addr" "$coins" >/dev/null
	done
	genesis="$(node_home 0)/config/genesis.json"
	jq '.app_state.storage.params.epoch_blocks = "5" | .app_state.storage.params.unbonding_blocks = "20"' "$genesis" >"$genesis.tmp" && mv "$genesis.tmp" "$genesis"
	mkdir -p "$(node_home 0)/config/gentx"
	for i in $(seq 0 $((nodes - 1))); do
		h="$(node_home "$i")"
		[ "$i" = 0 ] || cp "$genesis" "$h/config/genesis.json"
		ports "$i"
		chaind "$i" genesis gentx "validator$i" "$stake" --chain-id "$chain_id" --keyring-backend test \
			--ip 127.0.0.1 --p2p-port "$P2P" --output-document "$(node_home 0)/config/gentx/gentx-$i.json" >/dev/null 2>&1
	done
	chaind 0 genesis collect-gentxs >/dev/null 2>&1
	chaind 0 genesis validate >/dev/null
	peers=""
	for i in $(seq 0 $((nodes - 1))); do
		ports "$i"
		id="$(chaind "$i" comet show-node-id)"
		peers="${peers:+$peers,}$id@127.0.0.1:$P2P"
	done
	for i in $(seq 0 $((nodes - 1))); do
		h="$(node_home "$i")"
		[ "$i" = 0 ] || cp "$genesis" "$h/config/genesis.json"
		ports "$i"
		cfg="$h/config/config.toml"
		set_toml "$cfg" rpc laddr "\"tcp://127.0.0.1:$RPC\""
		set_toml "$cfg" rpc cors_allowed_origins '["*"]'
		set_toml "$cfg" rpc pprof_laddr '""'
		set_toml "$cfg" p2p laddr "\"tcp://127.0.0.1:$P2P\""
		set_toml "$cfg" p2p persistent_peers "\"$peers\""
		set_toml "$cfg" p2p addr_book_strict false
		set_toml "$cfg" p2p allow_duplicate_ip true
		set_toml "$cfg" consensus timeout_commit "\"$block_time\""
		app="$h/config/app.toml"
		set_toml "$app" "" minimum-gas-prices '"0.001udot"'
		set_toml "$app" api enable true
		set_toml "$app" api enabled-unsafe-cors true
		set_toml "$app" api address "\"tcp://127.0.0.1:$API\""
		set_toml "$app" grpc enable true
		set_toml "$app" grpc address "\"127.0.0.1:$GRPC\""
		client="$h/config/client.toml"
		set_toml "$client" "" chain-id "\"$chain_id\""
		set_toml "$client" "" keyring-backend '"test"'
		set_toml "$client" "" node "\"tcp://127.0.0.1:$RPC\""
		set_toml "$client" "" output '"json"'
	done
else
	nodes="$(ls -d "$home"/node* | wc -l)"
fi

for i in $(seq 0 $((nodes - 1))); do start_node "$i"; done
stop_all() { stop_storage; for j in $(seq 0 $((nodes - 1))); do stop_node "$j"; done; }
for i in $(seq 0 $((nodes - 1))); do wait_block "$i" || { stop_all; exit 1; }; done
start_storage || { stop_all; exit 1; }
print_endpoints
