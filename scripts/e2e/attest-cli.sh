#!/usr/bin/env bash
# attest-cli.sh: x/attest with the command-line tools alone (build/datdotchaind
# and build/datdot) on a local one-validator chain where challenges are
# frequent and deadlines far away:
#
#   two hosters register; a core is made with `datdot core new/append/info`
#   and ordered with 2 replicas; both hosters commit; the chain challenges
#   them (polled with `q attest challenges-by-hoster`, never by counting
#   blocks); hoster1 answers with `datdot core prove` and passes; hoster2
#   answers with a proof made from another core and is slashed (the owner
#   gets its share); hoster1 answering hoster2's challenge is refused.
#
# The script exits non-zero on the first failure and always stops the chain.
# Only 127.0.0.1 is used, on free ports.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/e2e.sh"
e2e_init attest-cli

# Every slot is challenged again soon after its last outcome; the deadline
# is far enough that a busy machine answers in time.
export LOCALNET_CHALLENGES_PER_BLOCK=8 LOCALNET_RESPONSE_BLOCKS=100000
# One block per challenge: an answer for a 64 KiB block is ~87 KiB of
# base64, and one command-line argument is limited to 128 KiB.
export LOCALNET_INDICES_PER_CHALLENGE=1

e2e_chain

balance() { chaind q bank balance "$1" udot -o json | jq -r '.balance.amount'; }

fee=4000
txflags=(--gas 4000000 --fees "${fee}udot" --keyring-backend test -y -o json)
# tx and tx_ok (lib/e2e.sh) broadcast with these txflags.
has_event() { jq -e --arg t "$2" '[.events[] | select(.type == $t)] | length > 0' <<<"$1" >/dev/null; }

# open_challenge HOSTER: waits (polling) until HOSTER has an open challenge
# and prints its id.
open_challenge() {
	local id
	for _ in $(seq 1 1200); do
		id="$(chaind q attest challenges-by-hoster "$1" -o json | jq -r '.challenges[0].id // empty')"
		[ -n "$id" ] && { echo "$id"; return; }
		sleep 0.1
	done
	fail "no challenge for $1 in 2 minutes"
}

alice="$(addr alice)"
h1="$(addr hoster1)"
h2="$(addr hoster2)"
stake=5000000

say "two hosters register"
tx_ok hoster1 storage register-hoster "${stake}udot" 10737418240 http://127.0.0.1:9001 eu-west 500000000 >/dev/null
tx_ok hoster2 storage register-hoster "${stake}udot" 10737418240 http://127.0.0.1:9002 us-east 500000000 >/dev/null

say "make a core and order it with 2 replicas"
head -c 200000 /dev/urandom >"$work/data.bin"
"$datdot_bin" core new --dir "$work/core" >/dev/null
"$datdot_bin" core append --dir "$work/core" "$work/data.bin" >/dev/null
"$datdot_bin" core info --dir "$work/core" >"$work/core.json"
length="$(jq -r '.length' "$work/core.json")"
tx_ok alice storage place-order "$work/core.json" --replicas 2 --max-price 1000000000 --duration 1000 --deposit 400000000udot >/dev/null
order_id="$(chaind q storage orders-by-owner "$alice" -o json | jq -r '.orders[-1].id')"

say "both hosters commit to order $order_id"
tx_ok hoster1 storage commit "$order_id" 0 "$length" >/dev/null
tx_ok hoster2 storage commit "$order_id" 0 "$length" >/dev/null
[ "$(chaind q storage order "$order_id" -o json | jq -r '.order.status')" = ORDER_STATUS_ACTIVE ] || fail "order not active"

say "hoster1 is challenged and answers with datdot core prove: passes"
c1="$(open_challenge "$h1")"
chaind q attest challenge "$c1" -o json >"$work/c1.json"
[ "$(jq -r '.challenge.hoster' "$work/c1.json")" = "$h1" ] || fail "challenge $c1 is not hoster1's"
[ "$(jq -r '.challenge.length' "$work/c1.json")" = "$length" ] || fail "challenge not at the committed length"
answer1="$("$datdot_bin" core prove --dir "$work/core" --challenge "$work/c1.json")"
res="$(tx_ok hoster1 attest submit-proofs "$answer1")"
has_event "$res" datdot.attest.v1.EventChallengePassed || fail "no pass: $(jq -c '.events' <<<"$res")"
[ "$(chaind q attest record "$h1" -o json | jq -r '.record.passes')" -ge 1 ] || fail "pass not recorded"
chaind q attest challenge "$c1" -o json >/dev/null 2>&1 && fail "challenge $c1 still open after its pass"

say "hoster1 answering hoster2's challenge is refused"
c2="$(open_challenge "$h2")"
chaind q attest challenge "$c2" -o json >"$work/c2.json"
answer2="$("$datdot_bin" core prove --dir "$work/core" --challenge "$work/c2.json")"
res="$(tx hoster1 attest submit-proofs "$answer2")"
[ "$(jq -r '.code' <<<"$res")" != 0 ] || fail "someone else's challenge accepted"
jq -r '.raw_log' <<<"$res" | grep -q "another hoster" || fail "unclear refusal: $(jq -r '.raw_log' <<<"$res")"
chaind q attest challenge "$c2" -o json >/dev/null || fail "refused answer closed the challenge"

say "hoster2 answers with a proof of another core: fault, slashed, owner compensated"
"$datdot_bin" core new --dir "$work/other" >/dev/null
head -c 200000 /dev/urandom >"$work/other.bin"
"$datdot_bin" core append --dir "$work/other" "$work/other.bin" >/dev/null
"$datdot_bin" core prove --dir "$work/other" --challenge "$work/c2.json" >/dev/null 2>&1 &&
	fail "datdot core prove made an answer that does not verify without --force"
wrong="$("$datdot_bin" core prove --dir "$work/other" --challenge "$work/c2.json" --force)"
alice_before="$(balance "$alice")"
res="$(tx_ok hoster2 attest submit-proofs "$wrong")"
has_event "$res" datdot.attest.v1.EventChallengeFailed || fail "wrong proof not failed: $(jq -c '.events' <<<"$res")"
has_event "$res" datdot.attest.v1.EventHosterPenalized || fail "no penalty"
stake2="$(chaind q storage hoster "$h2" -o json | jq -r '.hoster.stake')"
[ "$stake2" = $((stake - stake / 100)) ] || fail "hoster2 stake $stake2, want 1 % slashed"
[ "$(balance "$alice")" = $((alice_before + stake / 200)) ] || fail "owner did not get half of the slash"
rec="$(chaind q attest record "$h2" -o json)"
[ "$(jq -r '.record.faults' <<<"$rec")" = 1 ] || fail "fault not recorded: $rec"
[ "$(jq -r '.record.slashed' <<<"$rec")" = $((stake / 100)) ] || fail "slashed total: $rec"
[ "$(chaind q attest pool -o json | jq -r '.pool')" = $((stake / 200)) ] || fail "pool did not get the rest"

echo "attest-cli: OK"
