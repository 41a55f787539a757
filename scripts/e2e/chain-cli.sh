#!/usr/bin/env bash
# chain-cli.sh: the DatDot chain acceptance flow, with the command-line tools
# alone (build/datdotchaind and build/datdot), on a local one-validator chain:
#
#   three hosters register in three regions; a core is made with
#   `datdot core new/append/info`; an order for it with 3 replicas is placed
#   and assigned to three distinct hosters; each commits; the order turns
#   active; escrow accrues to the hosters epoch after epoch and a hoster
#   claims it; cancelling returns the rest to the owner.
#
# a hoster gives its slot up (release-slot): it pays the exit fee to the
# owner and the slot moves to another hoster; after export and import with a
# short commit window, a slot nobody commits to is a fault and moves;
# and the refusals: a badly signed core, a core whose roots do not prove its
# declared size, a hoster committing to a slot that is not its own, a hoster
# leaving while it holds assignments. No check depends on how many blocks
# pass between two steps (the machine may be busy). Every step is
# asserted; the script exits non-zero on the first failure and always stops
# the chain. Only 127.0.0.1 is used, on free ports.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/e2e.sh"
e2e_init chain-cli

# Long commit window and retention: hosters commit whenever their tx gets
# through, and ended orders stay queryable, however slow the machine is. A
# hoster that leaves stays unbonding for the whole walk-through, so the
# imported chain cannot complete the unbonding before it is compared with
# the export (that raced on a busy machine).
export LOCALNET_EPOCH_BLOCKS=5 LOCALNET_UNBONDING_BLOCKS=100000
export LOCALNET_COMMIT_WINDOW=100000000 LOCALNET_RETENTION_BLOCKS=100000000
# No hoster daemon answers x/attest challenges or performance checks here:
# turn them off so that payments and stakes stay exact
# (scripts/e2e/attest-cli.sh and scripts/e2e/hoster.sh cover them).
export LOCALNET_CHALLENGES_PER_BLOCK=0
export LOCALNET_GENESIS_JQ='.app_state.attest.params.check_interval_blocks = "0"'

e2e_chain
api="$(sed -n 's/^API=//p' "$work/localnet.out")"

balance() { chaind q bank balance "$1" udot -o json | jq -r '.balance.amount'; }
height() { chaind status | jq -r '.sync_info.latest_block_height'; }
wait_height() {
	local target="$1"
	for _ in $(seq 1 1200); do
		[ "$(height)" -ge "$target" ] && return 0
		sleep 0.1
	done
	fail "chain did not reach height $target in 2 minutes"
}

# Every transaction pays a fixed fee so that balances can be checked exactly.
fee=1000
txflags=(--gas 800000 --fees "${fee}udot" --keyring-backend test -y -o json)

# tx and tx_ok (lib/e2e.sh) broadcast with these txflags.
# tx_refused PATTERN FROM ARGS...: the tx must fail with PATTERN in its log.
tx_refused() {
	local pattern="$1"; shift
	local res
	res="$(tx "$@")"
	[ "$(jq -r '.code' <<<"$res")" != 0 ] || fail "tx $* was accepted; expected refusal ($pattern)"
	jq -r '.raw_log' <<<"$res" | grep -q -- "$pattern" || fail "tx $* refused with an unclear error: $(jq -r '.raw_log' <<<"$res")"
	echo "   refused as expected: $(jq -r '.raw_log' <<<"$res" | sed 's/.*message index: 0: //')"
}

alice="$(addr alice)"
module_addr="$(chaind q auth module-account storage -o json | jq -r '.account.value.address')"
[ -n "$module_addr" ] || fail "no storage module account"

say "register three hosters in three regions"
regions=(eu-west us-east ap-south)
prices=(500000000 600000000 700000000)
stake=5000000
for i in 0 1 2; do
	tx_ok "hoster$((i + 1))" storage register-hoster "${stake}udot" 10737418240 \
		"http://127.0.0.1:$((9001 + i))" "${regions[$i]}" "${prices[$i]}" >/dev/null
done
hosters="$(chaind q storage hosters -o json)"
[ "$(jq '[.hosters[] | select(.status == "HOSTER_STATUS_ACTIVE")] | length' <<<"$hosters")" = 3 ] || fail "want 3 active hosters: $hosters"
[ "$(jq '[.hosters[].region] | unique | length' <<<"$hosters")" = 3 ] || fail "want 3 regions: $hosters"
[ "$(balance "$module_addr")" = $((3 * stake)) ] || fail "stake not escrowed in the module account"

say "make a core with datdot core new/append/info"
head -c 300000 /dev/urandom >"$work/data.bin"
"$datdot_bin" core new --dir "$work/core" >/dev/null
"$datdot_bin" core append --dir "$work/core" "$work/data.bin" >/dev/null
"$datdot_bin" core info --dir "$work/core" >"$work/core.json"
length="$(jq -r '.length' "$work/core.json")"
bytes="$(jq -r '.byte_length' "$work/core.json")"
[ "$length" -ge 1 ] && [ "$bytes" = 300000 ] || fail "unexpected core: $(cat "$work/core.json")"
[ -n "$(jq -r '.signature' "$work/core.json")" ] || fail "core is not signed"
[ "$(jq '[.roots[].size] | add' "$work/core.json")" = "$bytes" ] || fail "roots do not add up to byte_length: $(cat "$work/core.json")"

# the order lasts far longer than the script, however fast blocks come
max_price=1000000000
duration=100000
gib=1073741824
per_slot=$(((max_price * bytes + gib - 1) / gib))
deposit=$((3 * per_slot * duration))
order_flags=(--replicas 3 --max-price "$max_price" --duration "$duration" --deposit "${deposit}udot")

say "a badly signed core is refused and nothing changes"
sig="$(jq -r '.signature' "$work/core.json")"
mid=$((${#sig} / 2))
flip="$(printf '%x' $(((16#${sig:$mid:1}) ^ 1)))"
jq --arg s "${sig:0:$mid}$flip${sig:$((mid + 1))}" '.signature = $s' "$work/core.json" >"$work/bad.json"
before="$(balance "$alice")"
tx_refused "core signature does not verify" alice storage place-order "$work/bad.json" "${order_flags[@]}"
[ "$(balance "$alice")" = $((before - fee)) ] || fail "a refused order moved coins"
[ "$(chaind q storage orders-by-owner "$alice" -o json | jq '.orders | length')" = 0 ] || fail "a refused order was stored"

say "a core declaring a byte length its roots do not prove is refused"
jq '.byte_length = 10' "$work/core.json" >"$work/small.json"
tx_refused "differs from" alice storage place-order "$work/small.json" "${order_flags[@]}"
jq '.roots[0].size = 10' "$work/core.json" >"$work/small.json"
tx_refused "signed tree hash" alice storage place-order "$work/small.json" "${order_flags[@]}"

say "a deposit below the price is refused"
# The refusal names the exact amount needed (docs/chain.md).
tx_refused "is below ${deposit}udot .*deposit below the price" alice storage place-order "$work/core.json" \
	--replicas 3 --max-price "$max_price" --duration "$duration" --deposit "$((deposit - 1))udot"

say "place an order for the core with 3 replicas"
before="$(balance "$alice")"
placement_fee=$((3 * $(chaind q storage params -o json | jq -r '.params.placement_fee_per_slot')))
tx_ok alice storage place-order "$work/core.json" "${order_flags[@]}" >/dev/null
[ "$(balance "$alice")" = $((before - deposit - placement_fee - fee)) ] || fail "deposit and placement fee ($placement_fee, burned) not taken from the owner"
order_id="$(chaind q storage orders-by-owner "$alice" -o json | jq -r '.orders[-1].id')"
[ "$(balance "$module_addr")" = $((3 * stake + deposit)) ] || fail "deposit not escrowed"

say "order $order_id is assigned to three distinct hosters"
order="$(chaind q storage order "$order_id" -o json)"
[ "$(jq -r '.order.status' <<<"$order")" = ORDER_STATUS_ASSIGNED ] || fail "order not assigned: $order"
[ "$(jq '.assignments | length' <<<"$order")" = 3 ] || fail "want 3 assignments: $order"
[ "$(jq '[.assignments[].assignment.hoster] | unique | length' <<<"$order")" = 3 ] || fail "hosters not distinct: $order"
mapfile -t assigned < <(jq -r '.assignments[].assignment.hoster' <<<"$order")
name_of() { for n in hoster1 hoster2 hoster3 bob; do [ "$(addr "$n")" = "$1" ] && { echo "$n"; return; }; done; fail "unknown hoster $1"; }

say "a hoster committing to a slot that is not its own is refused"
tx_ok bob storage register-hoster "${stake}udot" 10737418240 http://127.0.0.1:9004 eu-west 100 >/dev/null
tx_refused "not assigned to this slot" bob storage commit "$order_id" 0 "$length"
[ "$(chaind q storage order "$order_id" -o json | jq -r '.order.status')" = ORDER_STATUS_ASSIGNED ] || fail "state changed"

say "each assigned hoster commits; the order turns active"
for h in "${assigned[@]}"; do
	tx_ok "$(name_of "$h")" storage commit "$order_id" 0 "$length" >/dev/null
done
order="$(chaind q storage order "$order_id" -o json)"
[ "$(jq -r '.order.status' <<<"$order")" = ORDER_STATUS_ACTIVE ] || fail "order not active: $order"
[ "$(jq '[.assignments[] | select(.assignment.committed_length == "'"$length"'")] | length' <<<"$order")" = 3 ] || fail "commitments not recorded: $order"

say "escrow accrues to the hosters epoch after epoch"
wait_height $(($(height) + 2 * LOCALNET_EPOCH_BLOCKS))
o1="$(chaind q storage order "$order_id" -o json)"
e1="$(jq -r '.current_epoch' <<<"$o1")"
# Polled on the order's own epoch, not on a block count: the node reports a
# block's height (status) while that block still executes, so a query just
# after wait_height may see the state of the block before.
three_epochs_on() { o2="$(chaind q storage order "$order_id" -o json)" && [ "$(jq -r '.current_epoch' <<<"$o2")" -ge $((e1 + 3)) ]; }
until_ok 120 "3 epochs after epoch $e1" three_epochs_on
e2="$(jq -r '.current_epoch' <<<"$o2")"
[ "$e2" -ge $((e1 + 3)) ] || fail "epochs did not advance ($e1 -> $e2)"
for i in 0 1 2; do
	h="$(jq -r ".assignments[$i].assignment.hoster" <<<"$o2")"
	price="$(jq -r ".assignments[$i].assignment.price_per_gib_epoch" <<<"$o2")"
	rate=$(((price * bytes + gib - 1) / gib))
	a1="$(jq -r ".assignments[$i].accrued" <<<"$o1")"
	a2="$(jq -r ".assignments[$i].accrued" <<<"$o2")"
	[ $((a2 - a1)) = $(((e2 - e1) * rate)) ] || fail "slot $i accrued $((a2 - a1)) over $((e2 - e1)) epochs, want $(((e2 - e1) * rate))"
	echo "   $(name_of "$h"): ${rate}udot per epoch, accrued $a1 -> $a2"
done

say "a hoster gives its slot up: it pays the owner the exit fee and bob takes the slot"
releaser="$(name_of "${assigned[1]}")"
release_epochs="$(chaind q storage params -o json | jq -r '.params.release_fee_epochs')"
rprice="$(chaind q storage order "$order_id" -o json | jq -r --arg h "${assigned[1]}" '.assignments[] | select(.assignment.hoster == $h) | .assignment.price_per_gib_epoch')"
release_fee=$((release_epochs * ((rprice * bytes + gib - 1) / gib)))
stake_before="$(chaind q storage hoster "${assigned[1]}" -o json | jq -r '.hoster.stake')"
before="$(balance "$alice")"
res="$(tx_ok "$releaser" storage release-slot "$order_id" 0)"
jq -e '[.events[] | select(.type == "datdot.storage.v1.EventSlotReleased")] | length == 1' <<<"$res" >/dev/null || fail "no release event: $res"
[ "$(balance "$alice")" = $((before + release_fee)) ] || fail "owner did not get the exit fee $release_fee"
[ "$(chaind q storage hoster "${assigned[1]}" -o json | jq -r '.hoster.stake')" = $((stake_before - release_fee)) ] || fail "exit fee not taken from the stake"
order="$(chaind q storage order "$order_id" -o json)"
jq -e --arg b "$(addr bob)" '[.assignments[].assignment.hoster] | index($b) != null' <<<"$order" >/dev/null || fail "bob did not get the slot: $order"
jq -e --arg h "${assigned[1]}" '[.assignments[].assignment.hoster] | index($h) == null' <<<"$order" >/dev/null || fail "the releaser still holds a slot: $order"
echo "   $releaser paid ${release_fee}udot to the owner"
tx_ok bob storage commit "$order_id" 0 "$length" >/dev/null
[ "$(chaind q storage order "$order_id" -o json | jq -r '.order.status')" = ORDER_STATUS_ACTIVE ] || fail "order not active after bob committed"

say "a hoster claims its pay"
claimer="$(name_of "${assigned[0]}")"
before="$(balance "$(addr "$claimer")")"
due="$(chaind q storage order "$order_id" -o json | jq -r '.assignments[0].accrued')"
tx_ok "$claimer" storage claim-payment --order-id "$order_id" >/dev/null
got=$(($(balance "$(addr "$claimer")") - before + fee))
[ "$got" -ge "$due" ] && [ "$due" -gt 0 ] || fail "$claimer claimed $got, accrued was $due"
echo "   $claimer received ${got}udot"

say "leaving while holding assignments is refused"
tx_refused "still holds assignments" "$claimer" storage leave
[ "$(chaind q storage hoster "$(addr "$claimer")" -o json | jq -r '.hoster.status')" = HOSTER_STATUS_ACTIVE ] || fail "hoster status changed"

say "cancel returns the rest of the escrow to the owner"
before="$(balance "$alice")"
tx_ok alice storage cancel-order "$order_id" >/dev/null
refund=$(($(balance "$alice") - before + fee))
order="$(chaind q storage order "$order_id" -o json)"
[ "$(jq -r '.order.status' <<<"$order")" = ORDER_STATUS_CANCELLED ] || fail "order not cancelled: $order"
paid="$(jq -r '.order.paid' <<<"$order")"
[ "$refund" -gt 0 ] || fail "nothing refunded"
[ $((refund + paid)) = "$deposit" ] || fail "refund $refund + paid to hosters $paid != deposit $deposit"
[ "$(balance "$module_addr")" = $((4 * stake - release_fee)) ] || fail "escrow left in the module account: $(balance "$module_addr")"
echo "   refund ${refund}udot, hosters were paid ${paid}udot, deposit was ${deposit}udot"

say "the hoster may leave once its assignments are gone"
# The status is read from the tx's own events: a query afterwards could
# already see the unbonding completed if enough blocks passed meanwhile.
res="$(tx_ok "$claimer" storage leave)"
jq -e '[.events[] | select(.type == "datdot.storage.v1.EventHosterLeaving")] | length == 1' <<<"$res" >/dev/null || fail "hoster not leaving: $res"

say "REST gateway serves the same order"
rest="$(curl -sf "$api/datdot/storage/v1/orders/$order_id")" || fail "REST query failed"
[ "$(jq -r '.order.status' <<<"$rest")" = ORDER_STATUS_CANCELLED ] || fail "REST shows $(jq -c .order.status <<<"$rest")"

say "export the state and start a new chain from it"
kill "$(cat "$home/localnet.pid")"
for _ in $(seq 1 600); do kill -0 "$(cat "$home/localnet.pid")" 2>/dev/null || break; sleep 0.1; done
kill -0 "$(cat "$home/localnet.pid")" 2>/dev/null && fail "the node did not stop"
rm -f "$home/localnet.pid"
chaind export --output-document "$work/exported.json" 2>/dev/null
chaind genesis validate "$work/exported.json" >/dev/null || fail "exported genesis does not validate"
[ "$(jq -r '.app_state.storage.orders | length' "$work/exported.json")" = 1 ] || fail "export lost the order"
home2="$work/chain2"
mkdir -p "$home2/data"
cp -r "$home/config" "$home2/"
cp -r "$home/keyring-test" "$home2/"
# The imported chain gets a short commit window for the expiry check below.
jq '.app_state.storage.params.commit_window = "5"' "$work/exported.json" >"$home2/config/genesis.json"
echo '{"height":"0","round":0,"step":0}' >"$home2/data/priv_validator_state.json"
"$chaind_bin" start --home "$home2" >"$home2/node.log" 2>&1 &
echo $! >"$home/localnet.pid" # the cleanup trap stops it
export_height="$(jq -r '.initial_height' "$work/exported.json")"
# Past the first block, not at it: status names a block while it still
# executes, and the imported state is queryable once that first block is
# committed (the node saves the next block only after that).
for _ in $(seq 1 600); do
	h2="$("$chaind_bin" --home "$home2" status 2>/dev/null | jq -r '.sync_info.latest_block_height' 2>/dev/null || echo 0)"
	[ "${h2:-0}" -gt "$export_height" ] && break
	sleep 0.2
done
[ "${h2:-0}" -gt "$export_height" ] || { tail -n 20 "$home2/node.log" >&2; fail "the imported chain made no block"; }
chaind2() { "$chaind_bin" --home "$home2" "$@"; }
[ "$(chaind2 q storage order "$order_id" -o json | jq -r '.order.status')" = ORDER_STATUS_CANCELLED ] || fail "imported chain lost the order"
# The leaving hoster may or may not have been paid out and removed before the
# export (that depends on how many blocks passed), so compare with what was
# exported, and require the three hosters that did not leave in both.
exported_hosters="$(jq -c '[.app_state.storage.hosters[].address] | sort' "$work/exported.json")"
imported_hosters="$(chaind2 q storage hosters -o json | jq -c '[.hosters[].address] | sort')"
[ "$imported_hosters" = "$exported_hosters" ] || fail "imported chain has hosters $imported_hosters, export had $exported_hosters"
for n in hoster1 hoster2 hoster3 bob; do
	[ "$n" = "$claimer" ] && continue
	jq -e --arg a "$(addr "$n")" 'index($a) != null' <<<"$imported_hosters" >/dev/null || fail "imported chain lost hoster $n"
done
[ "$(chaind2 q bank balance "$alice" udot -o json | jq -r .balance.amount)" = "$(jq -r --arg a "$alice" '.app_state.bank.balances[] | select(.address == $a) | .coins[] | select(.denom == "udot") | .amount' "$work/exported.json")" ] || fail "balance changed through export/import"
echo "   new chain continues at height $h2 with the exported state"

say "a slot nobody commits to is a fault when its commit window passes, and moves"
cp "$home/localnet.pid" "$home2/localnet.pid"
home="$home2" # the helpers (and the cleanup trap) now use the imported chain
tx_ok alice storage place-order "$work/core.json" --replicas 1 --max-price "$max_price" --duration "$duration" \
	--deposit "$((per_slot * duration))udot" >/dev/null
order2="$(chaind q storage orders-by-owner "$alice" -o json | jq -r '.orders[-1].id')"
idle="$(chaind q storage order "$order2" -o json | jq -r '.assignments[0].assignment.hoster')"
[ -n "$idle" ] && [ "$idle" != null ] || fail "order $order2 not assigned"
for _ in $(seq 1 1200); do
	[ "$(chaind q storage hoster "$idle" -o json | jq -r '.hoster.faults // 0')" -ge 1 ] && break
	sleep 0.1
done
[ "$(chaind q storage hoster "$idle" -o json | jq -r '.hoster.faults // 0')" -ge 1 ] || fail "no fault for $idle after its commit window"
o2="$(chaind q storage order "$order2" -o json)"
[ "$(jq -r '.order.status' <<<"$o2")" = ORDER_STATUS_ASSIGNED ] || fail "order $order2 should still wait for a commit: $o2"
[ "$(jq -r '.assignments[0].accrued' <<<"$o2")" = 0 ] || fail "an uncommitted slot accrued pay: $o2"
echo "   $(name_of "$idle") got a fault; the slot is now with $(name_of "$(jq -r '.assignments[0].assignment.hoster' <<<"$o2")")"

echo "chain-cli: all checks passed"
