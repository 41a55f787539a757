#!/usr/bin/env bash
# multinode.sh (e2e): a 4-validator chain on loopback (scripts/multinode.sh,
# free ports) keeps making blocks with one validator stopped, and the
# stopped validator catches up after it restarts. A bank transfer sent, and
# a storage order placed, pushed to three hoster daemons and committed by
# them while it is down are in its state after it caught up. Every wait is on a
# condition with a generous timeout; all nodes are stopped at the end.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin="$repo/build/datdotchaind"
[ -x "$bin" ] || { echo "multinode e2e: $bin missing; run make build" >&2; exit 1; }
command -v jq >/dev/null || { echo "multinode e2e: jq missing" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/datdot-multinode.XXXXXX")"
home="$work/net"
step=""
hoster_pids=""
cleanup() {
	local rc=$?
	for p in $hoster_pids; do kill "$p" 2>/dev/null || true; done
	for p in $hoster_pids; do for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done; done
	bash "$repo/scripts/multinode.sh" --home "$home" --stop >/dev/null 2>&1 || true
	if [ "$rc" -ne 0 ]; then
		echo "multinode e2e: FAILED at step: $step" >&2
		for f in "$home"/node*/node.log; do [ -f "$f" ] && { echo "--- last lines of $f" >&2; tail -n 15 "$f" >&2; }; done
	fi
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT INT TERM
fail() { echo "multinode e2e: $*" >&2; exit 1; }
taken=" "
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 12000))
		case "$taken" in *" $p "*) continue ;; esac
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			taken="$taken$p "
			echo "$p"
			return
		fi
	done
}
say() { step="$*"; echo "== [${SECONDS}s] $*"; }
wait_for() {
	local limit="$1" what="$2"; shift 2
	local deadline=$((SECONDS + limit))
	until "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$deadline" ] || fail "$what: not true after ${limit}s"
		sleep 0.2
	done
}
status() { curl -sf "$1/status"; }
height() { status "$1" | jq -r '.result.sync_info.latest_block_height'; }
above() { local h; h="$(height "$1")" && [ "$h" -gt "$2" ]; }
caught_up() { local s; s="$(status "$1")" && [ "$(jq -r .result.sync_info.catching_up <<<"$s")" = false ] && [ "$(jq -r .result.sync_info.latest_block_height <<<"$s")" -ge "$2" ]; }

say "start 4 validators"
MULTINODE_BLOCK_TIME=300ms bash "$repo/scripts/multinode.sh" --home "$home" >"$work/net.env"
set -a; . "$work/net.env"; set +a
[ "$NODES" = 4 ] || fail "NODES=$NODES"
chaind() { "$bin" --home "$NODE0_HOME" "$@"; }

say "all 4 validators are bonded with equal power, each node sees the 3 others"
wait_for 120 "node0 sees 4 validators" sh -c "curl -sf '$NODE0_RPC/validators' | jq -e '.result.total == \"4\"'"
powers="$(curl -sf "$NODE0_RPC/validators" | jq -r '[.result.validators[].voting_power] | unique | length')"
[ "$powers" = 1 ] || fail "validators have unequal power"
for i in 0 1 2 3; do
	rpc_var="NODE${i}_RPC"
	wait_for 120 "node$i has 3 peers" sh -c "curl -sf '${!rpc_var}/net_info' | jq -e '(.result.n_peers | tonumber) >= 3'"
done

say "stop validator 3; blocks go on (3 of 4 is more than 2/3 of the power)"
bash "$repo/scripts/multinode.sh" --home "$home" --stop-node 3 >/dev/null
! curl -sf "$NODE3_RPC/status" >/dev/null 2>&1 || fail "node3 still answers"
h_stop="$(height "$NODE0_RPC")"
wait_for 120 "node0 makes blocks past $((h_stop + 3)) without node3" above "$NODE0_RPC" "$((h_stop + 3))"
wait_for 60 "node1 follows" above "$NODE1_RPC" "$((h_stop + 3))"

say "a transfer while validator 3 is down"
bob="$(chaind keys show bob -a --keyring-backend test)"
before="$(chaind q bank balance "$bob" udot | jq -r .balance.amount)"
out="$(chaind tx bank send alice "$bob" 777udot --fees 1000udot -y)"
hash="$(jq -r .txhash <<<"$out")"
[ "$(jq -r .code <<<"$out")" = 0 ] || fail "send refused: $out"
wait_for 60 "the transfer is in a block" chaind q tx "$hash"
h_tx="$(chaind q tx "$hash" | jq -r .height)"

say "storage goes on too: 3 hoster daemons (each following another validator) commit to an order placed now"
datdot="$repo/build/datdot"
for i in 1 2 3; do
	node=$((i - 1))
	grpc_var="NODE${node}_GRPC" rpc_var="NODE${node}_RPC"
	port="$(free_port)"
	"$datdot" hoster init --home "$work/h$i" --listen "127.0.0.1:$port" --endpoint "http://127.0.0.1:$port" \
		--capacity 1073741824 --reserve 1048576 --region "r$i" --price 100 --stake 5000000udot \
		--chain.grpc "${!grpc_var}" --chain.rpc "${!rpc_var}" --chain.keyring_dir "$NODE0_HOME" --chain.keyring_backend test --chain.key "hoster$i" >/dev/null
	"$datdot" hoster register --home "$work/h$i" >/dev/null
	"$datdot" hoster start --home "$work/h$i" >"$work/h$i.log" 2>&1 &
	hoster_pids="${hoster_pids:-} $!"
	wait_for 60 "hoster $i answers" curl -sf "http://127.0.0.1:$port/v1/health"
done
head -c 300000 /dev/urandom >"$work/data.bin"
"$datdot" core new --dir "$work/core" >/dev/null
"$datdot" core append --dir "$work/core" "$work/data.bin" >/dev/null
"$datdot" core info --dir "$work/core" >"$work/core.json"
out="$(chaind tx storage place-order "$work/core.json" --replicas 3 --max-price 1000 --duration 100 --deposit 300000udot --from alice --gas 800000 --fees 2000udot -y)"
[ "$(jq -r .code <<<"$out")" = 0 ] || fail "place-order refused: $out"
hash="$(jq -r .txhash <<<"$out")"
wait_for 60 "the order is in a block" chaind q tx "$hash"
order="$(chaind q storage orders-by-owner "$(chaind keys show alice -a --keyring-backend test)" | jq -r '.orders[-1].id')"
"$datdot" core push --dir "$work/core" --order "$order" --chain.grpc "$NODE1_GRPC" --chain.rpc "$NODE1_RPC" >/dev/null
order_active() { [ "$(chaind q storage order "$order" | jq -r .order.status)" = ORDER_STATUS_ACTIVE ]; }
wait_for 120 "order $order active with validator 3 down" order_active

say "restart validator 3; it catches up past the transfer and sees it"
bash "$repo/scripts/multinode.sh" --home "$home" --start-node 3 >/dev/null
target="$(height "$NODE0_RPC")"
wait_for 180 "node3 caught up to $target" caught_up "$NODE3_RPC" "$target"
after="$(curl -sf "$NODE3_API/cosmos/bank/v1beta1/balances/$bob/by_denom?denom=udot" | jq -r .balance.amount)"
[ "$after" = "$((before + 777))" ] || fail "node3 sees bob's balance $after, want $((before + 777)) (transfer at height $h_tx)"
h3="$(height "$NODE3_RPC")"
wait_for 60 "node3 keeps following" above "$NODE3_RPC" "$h3"
[ "$(curl -sf "$NODE3_API/datdot/storage/v1/orders/$order" | jq -r .order.status)" = ORDER_STATUS_ACTIVE ] || fail "node3 does not see order $order active"
echo "multinode e2e passed"
