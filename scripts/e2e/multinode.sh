#!/usr/bin/env bash
# multinode.sh (e2e): the network of scripts/multinode.sh on loopback (free
# ports): 4 validators, 6 hoster daemons and the S3 gateway on the network
# backend (erasure 2+2). The AWS CLI puts objects, which become orders on
# chain held by the hosters. One validator is stopped: blocks go on, S3
# keeps serving (new PUTs, which extend or place orders on chain, and GETs
# of old and new objects), a bank transfer goes through. The validator is
# restarted and catches up: it sees the transfer and the gateway's orders as
# the others do. Every wait is on a condition with a generous timeout;
# every process is stopped at the end.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib/e2e.sh"
e2e_init multinode-e2e curl aws cmp
bin="$chaind_bin"
home="$work/net"
e2e_logs=("$home/node*/node.log" "$home/gateway/gateway.log" "$home/hosters/*/hoster.log")
stop_net() { # RC
	if [ "$1" -ne 0 ]; then
		for i in 0 1 2 3; do
			local v="NODE${i}_RPC"
			[ -n "${!v:-}" ] && echo "node$i: height $(curl -sf "${!v}/status" | jq -r .result.sync_info.latest_block_height 2>/dev/null), mempool $(curl -sf "${!v}/num_unconfirmed_txs" | jq -c '.result | {n_txs, total}' 2>/dev/null)" >&2
		done
	fi
	bash "$repo/scripts/multinode.sh" --home "$home" --stop >/dev/null 2>&1 || true
}
e2e_on_exit+=(stop_net)
status() { curl -sf "$1/status"; }
height() { status "$1" | jq -r '.result.sync_info.latest_block_height'; }
above() { local h; h="$(height "$1")" && [ "$h" -gt "$2" ]; }
caught_up() { local s; s="$(status "$1")" && [ "$(jq -r .result.sync_info.catching_up <<<"$s")" = false ] && [ "$(jq -r .result.sync_info.latest_block_height <<<"$s")" -ge "$2" ]; }

say "start 4 validators, 6 hosters and the gateway (network backend)"
MULTINODE_BLOCK_TIME=300ms bash "$repo/scripts/multinode.sh" --home "$home" >"$work/net.env"
set -a; . "$work/net.env"; set +a
[ "$NODES" = 4 ] || fail "NODES=$NODES"
[ "$HOSTERS" = 6 ] || fail "HOSTERS=$HOSTERS"
[ -n "${S3_ENDPOINT:-}" ] && [ -n "${AWS_SECRET_ACCESS_KEY:-}" ] || fail "no S3 endpoint or key printed"
chaind() { "$bin" --home "$NODE0_HOME" "$@"; }
export AWS_EC2_METADATA_DISABLED=true
s3() { aws --endpoint-url "$S3_ENDPOINT" "$@"; }
mkdir -p "$work/up" "$work/dl"
put() { head -c "$2" /dev/urandom >"$work/up/$1" && s3 s3 cp "$work/up/$1" "s3://net/$1" --only-show-errors; }
same() { s3 s3 cp "s3://net/$1" "$work/dl/$1" --only-show-errors && cmp -s "$work/up/$1" "$work/dl/$1"; }
all_read_back() { for f in "$work"/up/*; do same "$(basename "$f")" || fail "$(basename "$f") does not read back identical ($1)"; done; }

say "all 4 validators are bonded with equal power, each node sees the 3 others"
until_ok 120 "node0 sees 4 validators" sh -c "curl -sf '$NODE0_RPC/validators' | jq -e '.result.total == \"4\"'"
powers="$(curl -sf "$NODE0_RPC/validators" | jq -r '[.result.validators[].voting_power] | unique | length')"
[ "$powers" = 1 ] || fail "validators have unequal power"
for i in 0 1 2 3; do
	rpc_var="NODE${i}_RPC"
	until_ok 120 "node$i has 3 peers" sh -c "curl -sf '${!rpc_var}/net_info' | jq -e '(.result.n_peers | tonumber) >= 3'"
done

say "the AWS CLI puts objects; the gateway's volume is an order of 2-of-4 held by the hosters"
s3 s3 mb s3://net >/dev/null || fail "make bucket"
put one.bin 700000 || fail "PUT one.bin"
put two.bin 90000 || fail "PUT two.bin"
all_read_back "before the stop"
gw_orders() { curl -sf "$1/datdot/storage/v1/owners/$GATEWAY_ACCOUNT/orders" | jq -r '.orders[].id'; }
# The first order of a data volume: the gateway's metadata log
# (gateway/metalog) has orders of its own, named in metalog/gen-*/order.
data_order() {
	local meta=" $(cat "$home"/gateway/data/metalog/gen-*/order 2>/dev/null | tr '\n' ' ') "
	gw_orders "$NODE0_API" | while read -r id; do
		case "$meta" in *" $id "*) ;; *) echo "$id"; break ;; esac
	done
}
first="$(data_order)"
[ -n "$first" ] || fail "the gateway placed no order"
o="$(curl -sf "$NODE0_API/datdot/storage/v1/orders/$first")"
[ "$(jq -r .order.erasure_n <<<"$o")" = 4 ] && [ "$(jq '.assignments | length' <<<"$o")" = 4 ] || fail "order $first: $(jq -c '.order | {erasure_k, erasure_n}' <<<"$o"), $(jq '.assignments | length' <<<"$o") slots"
order_active() { [ "$(curl -sf "$NODE0_API/datdot/storage/v1/orders/$first" | jq -r .order.status)" = ORDER_STATUS_ACTIVE ]; }
until_ok 120 "order $first active (the hosters committed)" order_active

say "stop validator 3; blocks go on (3 of 4 is more than 2/3 of the power)"
bash "$repo/scripts/multinode.sh" --home "$home" --stop-node 3 >/dev/null
! curl -sf "$NODE3_RPC/status" >/dev/null 2>&1 || fail "node3 still answers"
h_stop="$(height "$NODE0_RPC")"
core_blocks() { curl -sf "$1/datdot/storage/v1/orders/$first" | jq '[.order.cores[].length | tonumber] | add'; }
len_at_stop="$(core_blocks "$NODE0_API")"
until_ok 120 "node0 makes blocks past $h_stop without node3" above "$NODE0_RPC" "$h_stop"
until_ok 120 "node1 follows" above "$NODE1_RPC" "$h_stop"

say "S3 keeps serving with validator 3 down: PUTs (the order grows on chain) and GETs"
put three.bin 400000 || fail "PUT three.bin with validator 3 down"
put four.bin 5000 || fail "PUT four.bin with validator 3 down"
all_read_back "with validator 3 down"
grown() { [ "$(core_blocks "$NODE0_API")" -gt "$len_at_stop" ]; }
until_ok 180 "the gateway extends order $first on chain while validator 3 is down" grown

say "a transfer while validator 3 is down"
bob="$(chaind keys show bob -a --keyring-backend test)"
before="$(chaind q bank balance "$bob" udot | jq -r .balance.amount)"
out="$(chaind tx bank send alice "$bob" 777udot --fees 1000udot -y)"
hash="$(jq -r .txhash <<<"$out")"
[ "$(jq -r .code <<<"$out")" = 0 ] || fail "send refused: $out"
until_ok 120 "the transfer $hash is in a block" chaind q tx "$hash"
h_tx="$(chaind q tx "$hash" | jq -r .height)"

say "restart validator 3; it catches up past the transfer and sees the gateway's orders"
bash "$repo/scripts/multinode.sh" --home "$home" --start-node 3 >/dev/null
target="$(height "$NODE0_RPC")"
until_ok 180 "node3 caught up to $target" caught_up "$NODE3_RPC" "$target"
after="$(curl -sf "$NODE3_API/cosmos/bank/v1beta1/balances/$bob/by_denom?denom=udot" | jq -r .balance.amount)"
[ "$after" = "$((before + 777))" ] || fail "node3 sees bob's balance $after, want $((before + 777)) (transfer at height $h_tx)"
h3="$(height "$NODE3_RPC")"
until_ok 120 "node3 keeps following" above "$NODE3_RPC" "$h3"
gw_orders "$NODE3_API" | grep -qx "$first" || fail "node3 does not list the gateway's order $first"
[ "$(core_blocks "$NODE3_API")" -gt "$len_at_stop" ] || fail "node3 does not see order $first grown while it was down"
all_read_back "after validator 3 is back"
echo "multinode e2e passed"
