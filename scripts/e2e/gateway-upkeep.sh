#!/usr/bin/env bash
# gateway-upkeep.sh: the lifetime of the gateway's volumes and orders, on a
# real local chain with real hoster processes.
#
#   a one-validator chain (scripts/localnet.sh, free ports, 1 s epochs),
#   three `datdot hoster` processes, and `datdot gateway --backend network`
#   with volumes of k=2 data and m=1 parity cores of 8 stripes (1 MiB of
#   data each, so that many volumes fill), orders of 40 epochs renewed
#   within a margin of 30 epochs, compaction every 2 s. Then:
#   - awscli PUTs 16 objects (several volumes, several orders);
#   - every order of the gateway is renewed before it ends, in fewer
#     renewal txs than objects, with txs that renew several orders at
#     once, counted on chain; none ends;
#   - most objects are deleted: the gateway compacts the mostly-dead
#     volumes (their live objects move to the open volume), cancels their
#     orders (CANCELLED on chain), and every remaining object reads back
#     byte-identical from the hosters (cache off), also after a restart of
#     the gateway and after its local copy of the volumes is deleted;
#   - the renewer keeps renewing after the restart, and never renews a
#     cancelled order.
#
# Every wait polls for a condition with a generous timeout; nothing depends
# on timing or block counts. All processes are stopped on exit.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib/e2e.sh"
e2e_init gateway-upkeep-e2e curl aws cmp
AWS=/usr/bin/aws
[ -x "$AWS" ] || AWS=$(command -v aws)

export LOCALNET_EPOCH_BLOCKS=5 LOCALNET_UNBONDING_BLOCKS=10 LOCALNET_CHALLENGES_PER_BLOCK=0
e2e_chain
e2e_hosters 3

gwport="$(free_port)"
gw="http://127.0.0.1:$gwport"
export AWS_ACCESS_KEY_ID=AKIAUPKEEP AWS_SECRET_ACCESS_KEY=upkeep-secret AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
aws() { "$AWS" --endpoint-url "$gw" "$@"; }
start_gateway() {
	"$datdot_bin" gateway --listen "127.0.0.1:$gwport" --data "$work/gw" --key "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
		--backend network --erasure-k 2 --erasure-m 1 --delete-grace 0s --cache-bytes 0 --volume.max-stripes 8 \
		--chain.grpc "$grpc" --chain.rpc "$rpc" --chain.keyring-dir "$home" --chain.keyring-backend test --chain.key alice \
		--order.max-price 1000 --order.epochs 40 --order.deposit 100000000udot \
		--renew.margin 30 --renew.interval 1s --maintenance-interval 2s --compact.min-age 1s --compact.threshold 0.5 \
		>>"$work/gw.log" 2>&1 &
	gwpid=$!
	until_ok 120 "gateway answers" curl -s -o /dev/null "$gw/"
}
owner="$(addr alice)"
orders() { chaind q storage orders-by-owner "$owner" -o json; }
# Renewal txs: included txs with a MsgExtendOrder that adds epochs (the
# gateway's other extensions only move cores to new lengths).
renewal_txs() {
	chaind q txs --query "message.action='/datdot.storage.v1.MsgExtendOrder'" --limit 100 -o json |
		jq '[.txs[] | select(any(.tx.body.messages[]; (.extra_epochs // "0") != "0"))] | length'
}

say "the gateway; PUT 16 objects (several volumes of 1 MiB)"
start_gateway
mkdir -p "$work/up" "$work/dl"
aws s3 mb s3://upk >/dev/null || fail "make bucket"
for i in $(seq 1 16); do head -c $((150000 + i * 1000)) /dev/urandom >"$work/up/o$i.bin"; done
for batch in "$(seq 1 8)" "$(seq 9 16)"; do # 8 PUTs at a time
	pids=()
	for i in $batch; do aws s3 cp --only-show-errors "$work/up/o$i.bin" "s3://upk/o$i.bin" & pids+=($!); done
	for p in "${pids[@]}"; do wait "$p" || fail "a PUT failed"; done
done
check_all() {
	for f in "$work"/up/*; do
		local n; n="$(basename "$f")"
		aws s3 cp --only-show-errors "s3://upk/$n" "$work/dl/$n" || fail "GET $n"
		cmp -s "$f" "$work/dl/$n" || fail "$n reads back different"
	done
}
check_all
nvols="$(ls "$work/gw/network/volumes" | wc -l)"
[ "$nvols" -ge 3 ] || fail "only $nvols volumes for 16 objects of ~160 KB in volumes of 1 MiB"

say "every order is renewed before it ends, several per tx"
until_ok 120 "the metadata log is shipped" jq -e '.shipped == .length and .length > 0' "$work/gw/metalog/status.json"
first_end="$(orders | jq '[.orders[] | select(.status != "ORDER_STATUS_CANCELLED") | .end_epoch | tonumber] | max')"
norders="$(orders | jq '.orders | length')"
renewed_all() { # every live order ends after the latest end any order had at first
	orders | jq -e --argjson e "$first_end" 'all(.orders[]; (.status | test("ACTIVE|ASSIGNED|PENDING")) and (.end_epoch | tonumber) > $e)'
}
never_ended() {
	orders | jq -e 'all(.orders[]; .status != "ORDER_STATUS_EXPIRED")' >/dev/null || fail "an order of the gateway expired"
}
end=$((SECONDS + 300))
until renewed_all >/dev/null 2>&1; do
	never_ended
	[ "$SECONDS" -lt "$end" ] || fail "timed out waiting for every order to be renewed"
	sleep 0.5
done
# Orders placed at different times are renewed in as many waves, each
# wave one tx for every order due within twice the margin: fewer txs than
# objects, and txs that renew several orders at once.
multi() {
	chaind q txs --query "message.action='/datdot.storage.v1.MsgExtendOrder'" --limit 100 -o json |
		jq -e 'any(.txs[]; ([.tx.body.messages[] | select((.extra_epochs // "0") != "0")] | length) > 1)'
}
# The orders show a renewal once its block is committed; the node's tx
# index (q txs) and the gateway's renew-status.json (written when its
# renewal pass returns) follow a moment later, so both are waited for.
until_ok 120 "a renewal tx that extended more than one order, in the tx index" multi
status_renewed() { jq -e '.renewed >= 1 and .txs >= 1' "$work/gw/renew-status.json"; }
until_ok 120 "renew-status.json counts the renewals" status_renewed
ntx="$(renewal_txs)"
echo "   measured: $norders orders for 16 objects, renewed by $ntx renewal txs"
[ "$ntx" -ge 1 ] && [ "$ntx" -lt 16 ] || fail "$ntx renewal txs for 16 objects"

say "delete most objects: mostly-dead volumes are compacted, their orders cancelled"
for i in $(seq 1 16); do
	if [ $((i % 4)) -ne 0 ]; then
		aws s3 rm --only-show-errors "s3://upk/o$i.bin" || fail "DELETE o$i.bin"
		rm -f "$work/up/o$i.bin"
	fi
done
cancelled() { [ "$(orders | jq '[.orders[] | select(.status == "ORDER_STATUS_CANCELLED")] | length')" -ge 2 ]; }
until_ok 300 "two orders of compacted volumes cancelled" cancelled
grep -q "compaction: blobs moved" "$work/gw.log" || fail "no blob was moved by compaction"
check_all
ncancel="$(orders | jq '[.orders[] | select(.status == "ORDER_STATUS_CANCELLED")] | length')"
echo "   measured: $ncancel orders cancelled by compaction; $(grep -c 'compaction: blobs moved' "$work/gw.log") compaction moves logged"

say "restart the gateway without its local volumes: every object reads from the hosters (relocated ones too)"
stop_pid "$gwpid" TERM; gwpid=""
rm -rf "$work/gw/network"
start_gateway
check_all

say "the restarted gateway keeps renewing; cancelled orders are not renewed"
cancelled_ends="$(orders | jq -c '[.orders[] | select(.status == "ORDER_STATUS_CANCELLED") | {id, end_epoch}]')"
second_end="$(orders | jq '[.orders[] | select(.status != "ORDER_STATUS_CANCELLED") | .end_epoch | tonumber] | max')"
renewed_again() {
	orders | jq -e --argjson e "$second_end" '[.orders[] | select(.status != "ORDER_STATUS_CANCELLED")] | all(.[]; (.end_epoch | tonumber) > $e)'
}
end=$((SECONDS + 300))
until renewed_again >/dev/null 2>&1; do
	never_ended
	[ "$SECONDS" -lt "$end" ] || fail "timed out waiting for the restarted gateway to renew"
	sleep 0.5
done
now_ends="$(orders | jq -c --argjson c "$cancelled_ends" '[.orders[] | select(.id as $i | $c | any(.id == $i)) | {id, end_epoch}]')"
[ "$now_ends" = "$cancelled_ends" ] || fail "a cancelled order changed: $cancelled_ends -> $now_ends"
check_all
echo "   measured: $(renewal_txs) renewal txs in all for $(orders | jq '.orders | length') orders"
echo "gateway-upkeep-e2e: all steps passed"
