#!/usr/bin/env bash
# gateway-network.sh: the S3 gateway on the network backend, on a real
# local chain with real hoster processes.
#
#   a one-validator chain (scripts/localnet.sh, free ports), four
#   `datdot hoster` processes, and `datdot gateway --backend network` with
#   volumes of k=2 data and m=1 parity cores, paying for orders with the
#   localnet key alice, its block cache off (--cache-bytes 0: every GET
#   reads from the hosters). Then:
#   - awscli writes objects (small ones sharing stripes, a multipart one)
#     and reads them back byte-identical;
#   - the gateway placed one order per volume (erasure 2-of-3) and every
#     assigned hoster holds its core with the tree the gateway wrote;
#   - no file of any hoster contains known plaintext of the objects;
#   - the S3 client checks of scripts/e2e/s3-clients.sh (awscli, rclone,
#     s3cmd, restic, the JS SDK, the Mastodon flow, ...) pass against this
#     gateway (S3_E2E_NETWORK_CLIENTS=0 skips them);
#   - the gateway is SIGKILLed in the middle of PUTs (three writers) and
#     restarted: every acknowledged object reads back identical, no
#     partial one is listed;
#   - the gateway is stopped, its local copy of the volumes deleted and it
#     is started again (--shred-after 1s): every object reads back from
#     the hosters alone;
#   - an object is deleted: the metadata log starts a new generation, the
#     orders of the older generations are cancelled on chain and no hoster
#     holds their cores any more (that the new generation lacks the key is
#     checked by gateway/metalog's TestDroppedKeyLeavesEveryCopy);
#   - a hoster holding cores is SIGKILLed and its data deleted: every
#     object reads back, and keeps reading back while the chain moves its
#     slots to the fourth hoster and that one rebuilds them; then a second
#     original hoster is killed (data deleted): every object still reads
#     back, which needs the replacement (the reads follow the chain).
#
# Every wait polls for a condition with a generous timeout; nothing depends
# on timing or block counts. All processes are stopped on exit. The common
# setup is scripts/e2e/lib/e2e.sh; every object is read back by one awscli
# process per round (a process start costs seconds on a loaded machine).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/e2e.sh"
e2e_init gateway-network-e2e curl aws cmp
e2e_logs+=("$work/s3-clients.log")
AWS=/usr/bin/aws
[ -x "$AWS" ] || AWS=$(command -v aws)

export LOCALNET_EPOCH_BLOCKS=5 LOCALNET_UNBONDING_BLOCKS=10 LOCALNET_EXTRA_ACCOUNTS=1
# Challenges answered within 50 blocks, a slot moved after 2 faults (as in
# scripts/e2e/hoster.sh), so that a dead hoster is replaced during the run.
export LOCALNET_GENESIS_JQ='.app_state.attest.params.response_blocks = "50" | .app_state.attest.params.max_faults = 2
  | .app_state.attest.params.check_interval_blocks = "20" | .app_state.attest.params.attestors_per_check = 1
  | .app_state.attest.params.quorum = 1 | .app_state.attest.params.check_response_blocks = "50"'
e2e_chain
hkey() { if [ "$1" = 4 ]; then echo user1; else echo "hoster$1"; fi; } # hoster i's key (localnet funds user1 too)
e2e_hosters 4 hkey
# Hoster i's account, and the hoster of an account (asked once: every
# chaind call costs a process start).
declare -A haddr hidx
for i in 1 2 3 4; do haddr[$i]="$(addr "$(hkey "$i")")"; hidx[${haddr[$i]}]=$i; done
hport() { cat "$work/h$1/port"; }

gwport="$(free_port)"
gw="http://127.0.0.1:$gwport"
export AWS_ACCESS_KEY_ID=AKIANETWORK AWS_SECRET_ACCESS_KEY=network-secret AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
aws() { "$AWS" --endpoint-url "$gw" "$@"; }
# s3-clients.sh runs as its own account, so its listings show only its buckets.
clients_key="AKIAS3CLIENTS:s3-clients-secret"
start_gateway() { # [EXTRA FLAGS...]
	"$datdot_bin" gateway --listen "127.0.0.1:$gwport" --data "$work/gw" --key "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" --key "$clients_key" \
		--backend network --erasure-k 2 --erasure-m 1 --delete-grace 0s --cache-bytes 0 --read.slow-after 1s --domain s3.e2e.test \
		--chain.grpc "$grpc" --chain.rpc "$rpc" --chain.keyring-dir "$home" --chain.keyring-backend test --chain.key alice \
		--order.max-price 1000 --order.epochs 100000 --order.deposit 100000000udot "$@" >>"$work/gw.log" 2>&1 &
	gwpid=$!
	until_ok 120 "gateway answers" curl -s -o /dev/null "$gw/"
}

say "the gateway on the network backend"
start_gateway
marker="DatDot-network-e2e plaintext marker 7f3a9c"
mkdir -p "$work/up" "$work/dl"
for i in $(seq 1 12); do
	{ for _ in $(seq 1 $((i * 40))); do echo "$marker line of object $i"; done; } >"$work/up/small-$i.txt"
done
{ for _ in $(seq 1 300000); do echo "$marker in the big object"; done; } >"$work/up/big.txt"
aws s3 mb s3://net >/dev/null || fail "make bucket"

say "PUT small objects in parallel and a multipart object; GET them back"
pids=()
for i in $(seq 1 12); do aws s3 cp "$work/up/small-$i.txt" "s3://net/small-$i.txt" >/dev/null & pids+=($!); done
for p in "${pids[@]}"; do wait "$p" || fail "parallel PUT failed"; done
aws s3 cp --only-show-errors "$work/up/big.txt" s3://net/big.txt || fail "multipart PUT"
# Every object of up/ reads back byte-identical: one awscli process
# downloads the whole bucket (its GETs run concurrently), each file is
# compared.
check_all() { # [AWS FILTER ARGS...]
	local f n
	rm -rf "$work/dl" && mkdir -p "$work/dl"
	aws s3 cp --only-show-errors --recursive "$@" s3://net/ "$work/dl/" || fail "GET of the bucket"
	for f in "$work"/up/*; do
		n="$(basename "$f")"
		[ -f "$work/dl/$n" ] || fail "$n does not read back"
		cmp -s "$f" "$work/dl/$n" || fail "$n reads back different"
	done
}
check_all

# The gateway's orders that have not ended (the metadata log's retired
# generations are cancelled), as one JSON document per order.
owner="$(addr alice)"
live_ids() { chaind q storage orders-by-owner "$owner" -o json | jq -r '.orders[] | select(.status != "ORDER_STATUS_CANCELLED" and .status != "ORDER_STATUS_EXPIRED") | .id'; }
orders_json() { local id; for id in $(live_ids); do chaind q storage order "$id" -o json; done; }
core_hex() { base64 -d | od -An -tx1 | tr -d ' \n'; }
held_len() { curl -sf "http://$(hport "$1")/v1/cores/$2" | jq -r .length; } # I KEYHEX

say "one order per volume on chain (erasure 2-of-3); every assigned hoster holds its core"
until_ok 120 "the metadata log is shipped" jq -e '.shipped == .length and .length > 0' "$work/gw/metalog/status.json"
orders="$(chaind q storage orders-by-owner "$owner" -o json)"
norders="$(jq '.orders | length' <<<"$orders")"
nvols="$(ls "$work/gw/network/volumes" | wc -l)"
# The metadata log (gateway/metalog) has one volume, and order, per generation.
nvols=$((nvols + $(ls "$work/gw/metalog" | grep -c '^gen-')))
[ "$norders" = "$nvols" ] || fail "$norders orders for $nvols volumes"
for id in $(jq -r '.orders[].id' <<<"$orders"); do
	o="$(chaind q storage order "$id" -o json)"
	[ "$(jq -r '.order.erasure_k' <<<"$o")" = 2 ] && [ "$(jq -r '.order.erasure_n' <<<"$o")" = 3 ] || fail "order $id is not 2-of-3: $o"
	for a in $(jq -r '.assignments[] | "\(.assignment.core_index // 0):\(.assignment.hoster)"' <<<"$o"); do
		ci="${a%%:*}" h="${a#*:}"
		key="$(jq -r --argjson c "$ci" '.order.cores[$c].key' <<<"$o" | core_hex)"
		i="${hidx[$h]:-}"
		[ -n "$i" ] || fail "order $id core $ci is assigned to $h, not one of the four hosters"
		held() { [ "$(held_len "$i" "$key")" -ge 1 ]; }
		until_ok 120 "hoster $i holds core $ci of order $id" held
	done
done

say "the orders are extended to the volumes' lengths (in batches)"
extended() { # every core's length on chain is what its hoster holds
	local o a ci h key
	while read -r o; do
		for a in $(jq -r '.assignments[] | "\(.assignment.core_index // 0):\(.assignment.hoster)"' <<<"$o"); do
			ci="${a%%:*}" h="${a#*:}"
			key="$(jq -r --argjson c "$ci" '.order.cores[$c].key' <<<"$o" | core_hex)"
			[ "$(jq -r --argjson c "$ci" '.order.cores[$c].length' <<<"$o")" = "$(held_len "${hidx[$h]}" "$key")" ] || return 1
		done
	done < <(orders_json | jq -c .)
}
until_ok 180 "orders extended to the gateway's core lengths" extended
# Measured, not asserted: bytes on hosters per byte stored, and the
# gateway's transactions.
stored="$(cat "$work"/up/* | wc -c)"
on_hosters="$(orders_json | jq -s '[.[].order.cores[].byte_length | tonumber] | add')"
ntx="$(chaind q txs --query "message.sender='$owner'" -o json | jq -r '.total_count // (.txs | length)')"
echo "   measured: $stored bytes stored, $on_hosters bytes in the orders' cores on hosters (x$(awk -v a="$on_hosters" -v b="$stored" 'BEGIN{printf "%.2f", a/b}')), $ntx txs by the gateway's key"

say "no hoster file contains plaintext"
if grep -rqa "$marker" "$work"/h1 "$work"/h2 "$work"/h3 "$work"/h4; then fail "plaintext found on a hoster"; fi

if [ "${S3_E2E_NETWORK_CLIENTS:-1}" = 1 ]; then
	say "the S3 client checks of s3-clients.sh against the network backend"
	S3_E2E_ENDPOINT="$gw" S3_E2E_KEY="$clients_key" S3_E2E_DOMAIN=s3.e2e.test \
		S3_E2E_ONLY="aws rclone s3cmd restic js mastodon more" bash "$repo/scripts/e2e/s3-clients.sh" >"$work/s3-clients.log" 2>&1 ||
		{ tail -n 30 "$work/s3-clients.log" >&2; fail "s3-clients.sh against the network backend"; }
fi

say "SIGKILL the gateway in the middle of PUTs; restart"
for i in $(seq 1 30); do head -c $((50000 + i * 3000)) /dev/urandom >"$work/crash-$i.bin"; done
: >"$work/acked"
# Three writers, so that several PUTs are in flight when the gateway dies.
for w in 0 1 2; do
	( for i in $(seq $((w + 1)) 3 30); do
		[ -e "$work/killed" ] && break # later PUTs would only retry against a dead gateway
		aws s3 cp --only-show-errors "$work/crash-$i.bin" "s3://net/crash-$i.bin" 2>/dev/null && echo "crash-$i.bin" >>"$work/acked"
	done ) &
	e2e_pids+=($!)
done
until_ok 120 "some crash PUTs acknowledged" test -s "$work/acked"
kill -KILL "$gwpid"; wait "$gwpid" 2>/dev/null || true; gwpid=""
touch "$work/killed"
for p in "${e2e_pids[@]}"; do wait "$p" 2>/dev/null || true; done
e2e_pids=()
start_gateway
rm -rf "$work/dl" && mkdir -p "$work/dl"
aws s3 cp --only-show-errors --recursive --exclude '*' --include 'crash-*' s3://net/ "$work/dl/" || fail "GET of the crash objects"
while read -r n; do
	[ -f "$work/dl/$n" ] || fail "acknowledged $n lost"
	cmp -s "$work/$n" "$work/dl/$n" || fail "acknowledged $n differs"
done <"$work/acked"
for f in "$work"/dl/crash-*; do # every listed object is whole (never a partial one)
	[ -e "$f" ] || continue
	cmp -s "$work/$(basename "$f")" "$f" || fail "listed $(basename "$f") is partial"
done
echo "   $(wc -l <"$work/acked") PUTs acknowledged before the kill, $(ls "$work"/dl | grep -c '^crash-') crash objects listed after the restart"
# The crashed volume is sealed at the restart and settled: its hosters get
# all of its cores and its order is extended to them, so the crash objects
# in stripes past the order's last batched extension survive hoster
# replacement (checked at the end). Every volume that takes no more blobs
# is marked settled once that is done.
settled_all() {
	local d cur
	cur="$(cat "$work/gw/network/current" 2>/dev/null)"
	for d in "$work"/gw/network/volumes/*/; do
		[ -e "$d/settled" ] && continue
		[ "$(basename "$d")" = "$cur" ] && [ ! -e "$d/sealed" ] && continue
		return 1
	done
}
until_ok 180 "the volumes that take no more blobs are settled (orders extended to all they hold)" settled_all

say "stop the gateway, delete its local copy of the volumes, start it: every object reads from the hosters"
stop_pid "$gwpid" TERM; gwpid=""
rm -rf "$work/gw/network"
start_gateway --shred-after 1s
check_all

say "a deleted object's key leaves the metadata log on the network: a new generation, the older ones cancelled and dropped"
# Deletes made by the s3-clients pass are due at once: wait until they
# are shredded (one generation left, no drop pending) before this delete.
settled() {
	[ ! -e "$work/gw/metalog/dropped" ] && [ "$(ls -d "$work"/gw/metalog/gen-* | wc -l)" = 1 ] &&
		jq -e '.shipped == .length and .pending == 0 and (.error // "") == ""' "$work/gw/metalog/status.json"
}
until_ok 180 "the metadata log settled after the restart" settled
gen0="$(jq -r .gen "$work/gw/metalog/status.json")"
old_keys=() # the first core key of every generation so far (hex)
for g in "$work"/gw/metalog/gen-*; do
	id="$(cat "$g/order")"
	old_keys+=("$id:$(chaind q storage order "$id" -o json | jq -r '.order.cores[0].key' | core_hex)")
done
aws s3 rm --only-show-errors s3://net/small-12.txt || fail "delete small-12.txt"
rm "$work/up/small-12.txt"
rotated() { jq -e --argjson g "$gen0" '.gen > $g and .shipped == .length and (.error // "") == ""' "$work/gw/metalog/status.json"; }
until_ok 120 "a new generation of the metadata log after the delete" rotated
for ok in "${old_keys[@]}"; do
	id="${ok%%:*}" key="${ok#*:}"
	cancelled() { [ "$(chaind q storage order "$id" -o json | jq -r .order.status)" = ORDER_STATUS_CANCELLED ]; }
	until_ok 120 "the older generation's order $id is cancelled" cancelled
	dropped() {
		local i l
		for i in 1 2 3 4; do
			l="$(held_len "$i" "$key" 2>/dev/null || true)"
			[ -z "$l" ] || [ "$l" = 0 ] || return 1
		done
	}
	until_ok 120 "no hoster holds the older generation (order $id)" dropped
done
echo "   generation $gen0 -> $(jq -r .gen "$work/gw/metalog/status.json"), ${#old_keys[@]} older generation(s) cancelled and dropped by the hosters"
check_all

# The first live order of a data volume (the metadata log's orders are
# named in gw/metalog/gen-*/order).
meta_orders=" $(cat "$work"/gw/metalog/gen-*/order 2>/dev/null | tr '\n' ' ') "
first_id="$(live_ids | while read -r id; do
	case "$meta_orders" in *" $id "*) ;; *) echo "$id"; break ;; esac
done)"
orig=($(chaind q storage order "$first_id" -o json | jq -r '.assignments[].assignment.hoster'))
x="${hidx[${orig[0]}]}" y="${hidx[${orig[1]}]}"
say "hoster $x (holds cores) is SIGKILLed and its data deleted: every object still reads back"
stop_pid "${hpid[h$x]}" KILL; hpid[h$x]=""
find "$work/h$x" -mindepth 1 -not -name log -not -name port -delete
check_all

say "the chain moves hoster $x's slots, the replacement rebuilds; reads stay correct meanwhile"
rebuilt() { # no slot names hoster x, every slot committed at its core's length
	orders_json | jq -se --arg x "${haddr[$x]}" 'all(.[]; . as $o | all($o.assignments[].assignment;
		.hoster != $x and .committed_length == $o.order.cores[(.core_index // 0)].length))' >/dev/null
}
end=$((SECONDS + 420)) rounds=0
while :; do # at least one round, however fast the chain is
	check_all
	rounds=$((rounds + 1))
	rebuilt && break
	[ "$SECONDS" -lt "$end" ] || fail "timed out waiting for hoster $x's slots to move and be rebuilt"
done
echo "   read every object $rounds times while the slots moved and were rebuilt"

say "hoster $y is SIGKILLed too (data deleted): order $first_id's reads need hoster $x's replacement"
stop_pid "${hpid[h$y]}" KILL; hpid[h$y]=""
find "$work/h$y" -mindepth 1 -not -name log -not -name port -delete
check_all # every object, the crash ones too (acknowledged after the order's last extension)
while read -r n; do
	cmp -s "$work/$n" "$work/dl/$n" || fail "acknowledged $n lost after hosters $x and $y"
done <"$work/acked"
echo "gateway-network-e2e: all steps passed"
