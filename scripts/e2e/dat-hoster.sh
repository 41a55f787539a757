#!/usr/bin/env bash
# dat-hoster.sh: hosters that speak dat (the Hypercore replication protocol)
# on a real local chain, against the real JS hypercore 11.37.1.
#
#   one chain (scripts/localnet.sh, free ports) and three `datdot hoster`
#   processes started with --replication.listen, which `hoster register`
#   announces in their on-chain records; then:
#   1. a JS writer (../shared/hypercore/serve.js) serves a core; the
#      requester learns its signed head with `datdot core fetch` and `core
#      info` (then deletes its copy) and places a replicated-core order for
#      it with `--peers` = the JS writer's address and 2 replicas; nobody
#      pushes: both assigned hosters download the core from the JS writer
#      over the wire, verify it, commit, and the order turns active;
#   2. the JS writer is stopped; both hosters still pass new storage
#      challenges (answered from what they fetched);
#   3. a JS reader that knows only the key asks the chain who holds the
#      core (`q storage core-holders`), connects to a Go hoster's
#      replication address and downloads and verifies every block (same
#      sha256 and tree hash as from the writer); `datdot core fetch KEY`
#      without --peer does the same through the chain;
#   4. a bad peer (garbage instead of a handshake) is disconnected by a
#      hoster with a logged reason, and the hoster goes on serving;
#   5. a hoster restarted with another --replication.listen updates its
#      on-chain record (MsgUpdateHoster) by itself.
#
# Every wait polls for a condition with a generous timeout; nothing depends
# on timing or block counts. All processes are stopped on exit.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib/e2e.sh"
e2e_init dat-hoster-e2e curl node
cd "$repo"
. "$(dirname "${BASH_SOURCE[0]}")/lib/hypercore.sh"
hypercore_js "$repo"

# The JS writer and reader keep their cores under os.tmpdir(): in work.
export TMPDIR=$work
jspid=""
stop_js() { stop_pid "$jspid" TERM; }
e2e_on_exit+=(stop_js)
e2e_logs+=("$work/js-serve.log")

export LOCALNET_EPOCH_BLOCKS=5 LOCALNET_UNBONDING_BLOCKS=10
export LOCALNET_GENESIS_JQ='.app_state.attest.params.response_blocks = "50"'
e2e_chain
order_json() { chaind q storage order "$1" -o json; }

# Three hosters with a replication listener, registered with its address.
hoster_flags=(--log_level debug)
e2e_hoster_init_hook() { # I
	local wport
	wport="$(free_port)"
	echo "127.0.0.1:$wport" >"$work/wport$1"
	hoster_init_flags=(--replication.listen "127.0.0.1:$wport")
}
e2e_hoster_registered_hook() { # I
	mv "$work/wport$1" "$work/h$1/wport"
	[ "$(chaind q storage hoster "$(addr "hoster$1")" -o json | jq -r '.hoster.replication_address')" = "$(cat "$work/h$1/wport")" ] ||
		fail "hoster $1's record does not carry its replication address"
}
e2e_hosters 3
for i in 1 2 3; do
	until_ok 60 "hoster $i's replication listener" grep -q "replication listening" "$work/h$i/log"
done

say "a JS writer serves a core; the requester reads its signed head and drops its copy"
node "$HYPERCORE_SHARED/serve.js" 0 --seed 23 --blocks 1500 >"$work/js-serve.log" 2>&1 &
jspid=$!
until_ok 60 "the JS writer serves" grep -q '^serving ' "$work/js-serve.log"
key=$(awk '/^serving/{print $2}' "$work/js-serve.log")
jsaddr="127.0.0.1:$(awk '/^serving/{print $4}' "$work/js-serve.log")"
"$datdot_bin" core fetch "$key" --peer "$jsaddr" --out "$work/head" >/dev/null
"$datdot_bin" core info --dir "$work/head" >"$work/core.json"
rm -rf "$work/head"
length="$(jq -r '.length' "$work/core.json")"
[ "$length" = 1500 ] || fail "the JS core has length $length"
node scripts/wire/read-core.js "$key" "$jsaddr" >"$work/js-js.json"
[ "$(jq -r '.tree_hash' "$work/js-js.json")" = "$(jq -r '.tree_hash' "$work/core.json")" ] || fail "JS and Go disagree on the tree hash"

say "a replicated-core order (--peers = the JS writer): the hosters fetch over the wire and commit"
# A bad peer address is refused by the chain.
out="$(chaind tx storage place-order "$work/core.json" --replicas 2 --max-price 1000 --duration 200 --deposit 100000000udot \
	--peers "not-an-address" --from alice "${txflags[@]}" 2>&1 || true)"
bad_hash="$(jq -r '.txhash // empty' <<<"$out" 2>/dev/null || true)"
if [ -n "$bad_hash" ] && [ "$(jq -r '.code' <<<"$out")" = 0 ]; then
	until_ok 120 "tx $bad_hash included" chaind q tx "$bad_hash" -o json
	[ "$(chaind q tx "$bad_hash" -o json | jq -r '.code')" != 0 ] || fail "an order with a bad peer address was accepted"
fi
tx_ok alice storage place-order "$work/core.json" --replicas 2 --max-price 1000 --duration 200 --deposit 100000000udot --peers "$jsaddr" >/dev/null
order_id="$(chaind q storage orders-by-owner "$(addr alice)" -o json | jq -r '.orders[-1].id')"
[ "$(order_json "$order_id" | jq -r '.order.peers[0]')" = "$jsaddr" ] || fail "the order does not name its peer"
mapfile -t assigned < <(order_json "$order_id" | jq -r '.assignments[].assignment.hoster')
[ "${#assigned[@]}" = 2 ] || fail "want 2 assignments"
idx_of() { for i in 1 2 3; do [ "$(addr "hoster$i")" = "$1" ] && { echo "$i"; return; }; done; fail "unknown hoster $1"; }
a1="$(idx_of "${assigned[0]}")"; a2="$(idx_of "${assigned[1]}")"
echo "   order $order_id: hosters $a1 and $a2 assigned"
order_active() { [ "$(order_json "$order_id" | jq -r '.order.status')" = ORDER_STATUS_ACTIVE ]; }
until_ok 180 "order $order_id active (both hosters fetched and committed)" order_active
# Nobody pushed: at least the first hoster got it from the JS writer over
# the wire (the second may have read it from the first).
grep -q "fetched over the replication protocol.*peer=$jsaddr" "$work/h$a1/log" "$work/h$a2/log" ||
	fail "no hoster fetched from the JS writer over the wire"
for i in "$a1" "$a2"; do
	info="$(curl -sf "http://$(cat "$work/h$i/port")/v1/cores/$key")"
	[ "$(jq -r '.length' <<<"$info")" = "$length" ] || fail "hoster $i holds $(jq -r '.length' <<<"$info") blocks"
	[ "$(jq -r '.tree_hash' <<<"$info")" = "$(jq -r '.tree_hash' "$work/core.json")" ] || fail "hoster $i has another tree"
done

say "the JS writer stops; both hosters pass new storage challenges"
stop_pid "$jspid" TERM
jspid=""
record() { chaind q attest record "$1" -o json; }
passes_of() { record "$1" | jq -r '.record.passes // 0'; }
faults_of() { record "$1" | jq -r '.record.faults // 0'; }
more_passes() { [ "$(passes_of "$1")" -gt "$2" ]; }
for h in "${assigned[@]}"; do
	p0="$(passes_of "$h")"
	until_ok 240 "hoster $h passes a challenge after the writer stopped" more_passes "$h" "$p0"
	[ "$(faults_of "$h")" = 0 ] || fail "hoster $h has faults"
done

say "a JS reader that knows only the key finds a hoster through the chain and reads every block"
chaind q storage core-holders "$key" -o json >"$work/holders.json"
[ "$(jq '[.holders[] | select(.committed_length == "'"$length"'" and .replication_address != "")] | length' "$work/holders.json")" = 2 ] ||
	fail "core-holders: $(cat "$work/holders.json")"
[ "$(jq -r '.peers[0]' "$work/holders.json")" = "$jsaddr" ] || fail "core-holders does not list the order's peer"
for waddr in $(jq -r '.holders[].replication_address' "$work/holders.json"); do
	node scripts/wire/read-core.js "$key" "$waddr" >"$work/js-go.json"
	cat "$work/js-go.json"
	[ "$(jq -r '.length' "$work/js-go.json")" = "$length" ] || fail "JS reader got length $(jq -r '.length' "$work/js-go.json") from $waddr"
	[ "$(jq -r '.downloaded' "$work/js-go.json")" = "$length" ] || fail "JS reader downloaded $(jq -r '.downloaded' "$work/js-go.json") blocks from $waddr"
	[ "$(jq -r '.sha256' "$work/js-go.json")" = "$(jq -r '.sha256' "$work/js-js.json")" ] || fail "data from $waddr differs from the writer's"
	[ "$(jq -r '.tree_hash' "$work/js-go.json")" = "$(jq -r '.tree_hash' "$work/core.json")" ] || fail "tree from $waddr differs"
done
"$datdot_bin" core fetch "$key" --out "$work/via-chain" "${chain_flags[@]}" >"$work/fetch-chain.out" 2>"$work/fetch-chain.err" ||
	fail "core fetch through the chain: $(cat "$work/fetch-chain.err")"
grep -q "^downloaded and verified $length blocks" "$work/fetch-chain.out" || fail "core fetch through the chain: $(cat "$work/fetch-chain.out")"

say "a bad peer is disconnected with a logged reason; the hoster goes on serving"
wa="$(cat "$work/h$a1/wport")"
exec 3<>"/dev/tcp/127.0.0.1/${wa#*:}"
head -c 300 /dev/urandom | tr '\0' x >&3 || true
exec 3>&-
until_ok 60 "hoster $a1 logs why it dropped the bad peer" grep -q "replication handshake failed, disconnecting.*reason=" "$work/h$a1/log"
kill -0 "${hpid[h$a1]}" || fail "hoster $a1 died"
node scripts/wire/read-core.js "$key" "$wa" | jq -e --arg s "$(jq -r '.sha256' "$work/js-js.json")" '.sha256 == $s' >/dev/null ||
	fail "hoster $a1 stopped serving after the bad peer"

say "a hoster restarted on another replication address updates its on-chain record"
free=$((6 - a1 - a2))
stop_hoster "$free" TERM
newport="$(free_port)"
start_hoster "$free" --replication.listen "127.0.0.1:$newport"
record_addr_is() { [ "$(chaind q storage hoster "$(addr "hoster$free")" -o json | jq -r '.hoster.replication_address')" = "$1" ]; }
until_ok 120 "hoster $free's record carries 127.0.0.1:$newport" record_addr_is "127.0.0.1:$newport"

echo "dat-hoster-e2e: ok"
