#!/usr/bin/env bash
# hoster.sh: real hoster daemons on a real local chain.
#
#   a one-validator chain (scripts/localnet.sh, free ports) and three
#   `datdot hoster` processes, each configured with `datdot hoster init`
#   and registered with `datdot hoster register`; a core made with
#   `datdot core new/append`; an order for it with 2 replicas; the writer
#   pushes it with `datdot core push`; the two assigned hosters store it
#   and commit, and the order turns active. Then:
#   - a push that does not verify is refused over HTTP and changes nothing;
#   - an assigned hoster is SIGKILLed and restarted: it serves the same
#     data and sends no second commit;
#   - the order is extended to a longer core: the writer pushes the new
#     blocks and both hosters re-commit at the new length;
#   - a block on one hoster's disk is corrupted: the scrubber finds it, the
#     hoster never serves it, and repairs it from the other holder;
#   - x/attest: the hosters answer their storage challenges and pass (pay
#     accrues); the unassigned hoster performs performance checks as an
#     attestor; the restarted hoster misses no challenge; a hoster
#     SIGKILLed with its data deleted is faulted, removed and replaced, and
#     the replacement rebuilds the core from the other holder, commits and
#     passes its challenges.
#
# Every wait polls for a condition with a generous timeout; nothing depends
# on timing or block counts. All processes are stopped on exit.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib/e2e.sh"
e2e_init hoster-e2e curl

export LOCALNET_EPOCH_BLOCKS=5 LOCALNET_UNBONDING_BLOCKS=10
# Challenges answered within 50 blocks (a restart fits easily), a slot moved
# after 2 faults, a performance check every 20 blocks by the one hoster that
# holds no slot of the order.
export LOCALNET_GENESIS_JQ='.app_state.attest.params.response_blocks = "50" | .app_state.attest.params.max_faults = 2
  | .app_state.attest.params.check_interval_blocks = "20" | .app_state.attest.params.attestors_per_check = 1
  | .app_state.attest.params.quorum = 1 | .app_state.attest.params.check_response_blocks = "50"'
e2e_chain
order_json() { chaind q storage order "$1" -o json; }

hoster_flags=(--log_level debug)
e2e_hoster_registered_hook() { # I
	grep -q "key = \"hoster$1\"" "$work/h$1/hoster.toml" || fail "init did not write the key into the config"
	# Registering twice is harmless.
	if [ "$1" = 1 ]; then
		"$datdot_bin" hoster register --home "$work/h1" | grep -q "already registered" || fail "second register did not say so"
	fi
}
e2e_hosters 3
[ "$(chaind q storage hosters -o json | jq '[.hosters[] | select(.status == "HOSTER_STATUS_ACTIVE")] | length')" = 3 ] || fail "want 3 active hosters"

say "a core written with datdot core, and an order for it with 2 replicas"
head -c 1000000 /dev/urandom >"$work/data.bin"
"$datdot_bin" core new --dir "$work/core" >/dev/null
"$datdot_bin" core append --dir "$work/core" "$work/data.bin" >/dev/null
"$datdot_bin" core info --dir "$work/core" >"$work/core.json"
length="$(jq -r '.length' "$work/core.json")"
key="$(jq -r '.key' "$work/core.json")"
tx_ok alice storage place-order "$work/core.json" --replicas 2 --max-price 1000 --duration 200 --deposit 100000000udot >/dev/null
order_id="$(chaind q storage orders-by-owner "$(addr alice)" -o json | jq -r '.orders[-1].id')"
mapfile -t assigned < <(order_json "$order_id" | jq -r '.assignments[].assignment.hoster')
[ "${#assigned[@]}" = 2 ] || fail "want 2 assignments"
idx_of() { for i in 1 2 3; do [ "$(addr "hoster$i")" = "$1" ] && { echo "$i"; return; }; done; fail "unknown hoster $1"; }
a1="$(idx_of "${assigned[0]}")"; a2="$(idx_of "${assigned[1]}")"
free=$((6 - a1 - a2))
echo "   order $order_id: hosters $a1 and $a2 assigned, hoster $free not"

say "a push for a core the hoster is not assigned is refused (403)"
code="$(curl -s -o "$work/resp" -w '%{http_code}' -X POST --data-binary 'DDPUSH01' "http://$(cat "$work/h$free/port")/v1/cores/$key/blocks")"
[ "$code" = 403 ] || fail "unassigned push answered $code: $(cat "$work/resp")"
jq -e '.error | test("not assigned")' "$work/resp" >/dev/null || fail "unclear error: $(cat "$work/resp")"

say "the writer pushes the core with datdot core push; both hosters commit"
"$datdot_bin" core push --dir "$work/core" --order "$order_id" "${chain_flags[@]}" >/dev/null
order_active() { [ "$(order_json "$order_id" | jq -r '.order.status')" = ORDER_STATUS_ACTIVE ]; }
until_ok 120 "order $order_id active (both hosters committed)" order_active
order_json "$order_id" | jq -e --arg l "$length" '[.assignments[] | select(.assignment.committed_length == $l)] | length == 2' >/dev/null ||
	fail "commitments not at length $length"
for i in "$a1" "$a2"; do
	info="$(curl -sf "http://$(cat "$work/h$i/port")/v1/cores/$key")"
	[ "$(jq -r '.length' <<<"$info")" = "$length" ] || fail "hoster $i holds $(jq -r '.length' <<<"$info") blocks"
	[ "$(jq -r '.tree_hash' <<<"$info")" = "$(jq -r '.tree_hash' "$work/core.json")" ] || fail "hoster $i has another tree"
	curl -sf "http://$(cat "$work/h$i/port")/v1/cores/$key/blocks/3" | cmp - <(tail -c +$((3 * 65536 + 1)) "$work/data.bin" | head -c 65536) ||
		fail "hoster $i serves a wrong block 3"
done
# The hoster's head proof of a block is the writer's (datdot core proof --manifest makes the same bytes).
curl -sf "http://$(cat "$work/h$a1/port")/v1/cores/$key/proof/2" | od -An -tx1 | tr -d ' \n' >"$work/proof.hex"
[ "$(cat "$work/proof.hex")" = "$("$datdot_bin" core proof --dir "$work/core" --index 2 --manifest | tr -d '\n')" ] ||
	fail "the hoster's proof differs from the writer's"

commits_of() { # HOSTER_ADDR: number of MsgCommit txs it sent
	chaind q txs --query "message.sender='$1' AND message.action='/datdot.storage.v1.MsgCommit'" -o json | jq -r '.total_count // (.txs | length)'
}
record() { chaind q attest record "$1" -o json; }
passes_of() { record "$1" | jq -r '.record.passes // 0'; }
faults_of() { record "$1" | jq -r '.record.faults // 0'; }
at_least() { [ "$("$1" "$2")" -ge "$3" ]; }

say "x/attest: both hosters answer their challenges and pass; pay accrues"
until_ok 120 "hoster $a1 passes a challenge" at_least passes_of "${assigned[0]}" 1
until_ok 120 "hoster $a2 passes a challenge" at_least passes_of "${assigned[1]}" 1
accrued_ok() { [ "$(chaind q storage hoster "$1" -o json | jq -r '.accrued')" -gt 0 ]; }
until_ok 120 "pay accrues to hoster $a1" accrued_ok "${assigned[0]}"
# The chain records the pass when the answer's tx is included; the hoster
# logs "proofs included" when its own poll of that tx returns, a moment later.
until_ok 60 "hoster $a1 logs its answers" grep -q "proofs included" "$work/h$a1/log"

say "x/attest: the unassigned hoster $free attests the others' performance"
attestations_of() { record "$1" | jq -r '.record.attestations // 0'; }
until_ok 120 "hoster $free reports an attestation" at_least attestations_of "$(addr "hoster$free")" 1

c_before="$(commits_of "${assigned[0]}")"
[ "$c_before" = 1 ] || fail "hoster $a1 sent $c_before commits, want 1"

say "a malformed push is refused (400) and changes nothing"
code="$(curl -s -o "$work/resp" -w '%{http_code}' -X POST --data-binary 'garbage' "http://$(cat "$work/h$a1/port")/v1/cores/$key/blocks")"
[ "$code" = 400 ] || fail "malformed push answered $code"
[ "$(curl -sf "http://$(cat "$work/h$a1/port")/v1/cores/$key" | jq -r .length)" = "$length" ] || fail "a refused push changed the core"

say "hoster $a1 is SIGKILLed and restarted: same data, no second commit"
stop_hoster "$a1" KILL
start_hoster "$a1"
[ "$(curl -sf "http://$(cat "$work/h$a1/port")/v1/cores/$key" | jq -r .length)" = "$length" ] || fail "data lost across SIGKILL"
# The follower has caught up with the chain once its status shows the slot.
status_ok() { "$datdot_bin" hoster status --home "$work/h$a1" | jq -e --arg l "$length" '.daemon == "up" and .registered and (.assignments[0].held_length|tostring) == $l and (.open_challenges|type) == "array" and .record.passes != null' ; }
until_ok 120 "status of hoster $a1" status_ok
sleep_until_height() { # wait until the chain passes height H (the hoster had blocks to act on)
	local h0="$1"
	[ "$(chaind status | jq -r '.sync_info.latest_block_height')" -gt "$h0" ]
}
h0="$(chaind status | jq -r '.sync_info.latest_block_height')"
until_ok 120 "chain moves on" sleep_until_height $((h0 + 5))
[ "$(commits_of "${assigned[0]}")" = 1 ] || fail "hoster $a1 committed again after its restart"
p0="$(passes_of "${assigned[0]}")"
until_ok 120 "restarted hoster $a1 passes another challenge" at_least passes_of "${assigned[0]}" $((p0 + 1))

say "the order is extended to a longer core: new blocks pushed, both re-commit"
head -c 300000 /dev/urandom >"$work/more.bin"
"$datdot_bin" core append --dir "$work/core" "$work/more.bin" >/dev/null
"$datdot_bin" core info --dir "$work/core" >"$work/core2.json"
length2="$(jq -r '.length' "$work/core2.json")"
jq -s '.' "$work/core2.json" >/dev/null
tx_ok alice storage extend-order "$order_id" "$work/core2.json" --extra-epochs 1 --top-up 10000000udot >/dev/null ||
	fail "extend-order failed"
"$datdot_bin" core push --dir "$work/core" --order "$order_id" "${chain_flags[@]}" >/dev/null
recommitted() { order_json "$order_id" | jq -e --arg l "$length2" '[.assignments[] | select(.assignment.committed_length == $l)] | length == 2'; }
until_ok 120 "both hosters re-commit at $length2" recommitted

say "a corrupted block is found by the scrubber, never served, and repaired"
victim="$a2"
stop_hoster "$victim" TERM
datafile="$work/h$victim/data/cores/$key/data"
[ -f "$datafile" ] || fail "no data file at $datafile"
orig="$(dd if="$datafile" bs=1 skip=$((5 * 65536 + 100)) count=1 2>/dev/null | od -An -tu1 | tr -d ' ')"
printf '%b' "\\0$(printf '%03o' $(((orig + 1) % 256)))" | dd of="$datafile" bs=1 seek=$((5 * 65536 + 100)) conv=notrunc 2>/dev/null
now="$(dd if="$datafile" bs=1 skip=$((5 * 65536 + 100)) count=1 2>/dev/null | od -An -tu1 | tr -d ' ')"
[ "$now" != "$orig" ] || fail "the block was not corrupted"
# From the restart on, every read of block 5 is refused (503) or correct,
# never wrong, until the scrubber (or a challenge that needs the block)
# finds the damage and repairs the core from the other holder.
SCRUB_PAUSE=1s start_hoster "$victim"
block5() { dd if="$work/data.bin" bs=65536 skip=5 count=1 2>/dev/null; }
block5 >"$work/block5"
repaired=0
end=$((SECONDS + 120))
while [ "$SECONDS" -lt "$end" ]; do
	code="$(curl -s -o "$work/got" -w '%{http_code}' "http://$(cat "$work/h$victim/port")/v1/cores/$key/blocks/5")"
	case "$code" in
	200) cmp -s "$work/got" "$work/block5" || fail "hoster $victim served a wrong block 5"; repaired=1; break ;;
	503) sleep 0.2 ;;
	*) fail "block 5 answered $code" ;;
	esac
done
[ "$repaired" = 1 ] || fail "hoster $victim did not repair block 5"
curl -sf "http://$(cat "$work/h$victim/port")/metrics" >"$work/metrics" || fail "no /metrics"
grep -q '^datdot_hoster_damaged_blocks_total [1-9]' "$work/metrics" || fail "damage not in the metrics"
# The repaired block is served as soon as it is written; the log line follows.
until_ok 60 "hoster $victim logs the repair" grep -q "repaired damaged blocks" "$work/h$victim/log"

say "hoster $a1 never missed a challenge, across its restart"
[ "$(faults_of "${assigned[0]}")" = 0 ] || fail "hoster $a1 has faults: $(record "${assigned[0]}")"

say "hoster $a2 is SIGKILLed and its data deleted: faulted, replaced; hoster $free rebuilds and passes"
stop_hoster "$a2" KILL
rm -rf "$work/h$a2/data"
replaced() { order_json "$order_id" | jq -e --arg h "$(addr "hoster$free")" '[.assignments[].assignment.hoster] | index($h) != null'; }
until_ok 300 "the slot of hoster $a2 moves to hoster $free" replaced
at_least faults_of "${assigned[1]}" 2 || fail "hoster $a2 was replaced without 2 faults"
free_committed() { order_json "$order_id" | jq -e --arg h "$(addr "hoster$free")" --arg l "$length2" \
	'[.assignments[].assignment | select(.hoster == $h and .committed_length == $l)] | length == 1'; }
until_ok 300 "hoster $free rebuilds the core and commits at $length2" free_committed
until_ok 60 "hoster $free logs its rebuild" grep -q "fetched core from other holders" "$work/h$free/log"
info="$(curl -sf "http://$(cat "$work/h$free/port")/v1/cores/$key")"
[ "$(jq -r '.tree_hash' <<<"$info")" = "$(jq -r '.tree_hash' "$work/core2.json")" ] || fail "rebuilt core has another tree"
pf="$(passes_of "$(addr "hoster$free")")"
until_ok 120 "hoster $free passes a challenge on its new slot" at_least passes_of "$(addr "hoster$free")" $((pf + 1))

say "SIGTERM stops every hoster cleanly"
for i in "$a1" "$free"; do
	stop_hoster "$i" TERM
	grep -q "hoster stopped" "$work/h$i/log" || fail "hoster $i did not stop cleanly"
done
echo "hoster-e2e: all steps passed"
