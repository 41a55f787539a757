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
#   - the gateway is SIGKILLed in the middle of PUTs and restarted: every
#     acknowledged object reads back identical, no partial one is listed;
#   - the gateway is stopped, its local copy of the volumes deleted and it
#     is started again: every object reads back from the hosters alone;
#   - a hoster holding cores is SIGKILLed and its data deleted: every
#     object reads back, and keeps reading back while the chain moves its
#     slots to the fourth hoster and that one rebuilds them; then a second
#     original hoster is killed (data deleted): every object still reads
#     back, which needs the replacement (the reads follow the chain).
#
# Every wait polls for a condition with a generous timeout; nothing depends
# on timing or block counts. All processes are stopped on exit.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
chaind_bin="$repo/build/datdotchaind"
datdot_bin="$repo/build/datdot"
for b in "$chaind_bin" "$datdot_bin"; do
	[ -x "$b" ] || { echo "gateway-network-e2e: $b missing; run make build" >&2; exit 1; }
done
for t in jq curl aws cmp; do
	command -v "$t" >/dev/null || { echo "gateway-network-e2e: $t missing (scripts/setup/s3.sh)" >&2; exit 1; }
done
AWS=/usr/bin/aws
[ -x "$AWS" ] || AWS=$(command -v aws)

work="$(mktemp -d "${TMPDIR:-/tmp}/datdot-gwnet-e2e.XXXXXX")"
home="$work/chain"
step=""
declare -A hpid
gwpid=""

stop_pid() { # PID SIGNAL
	local p="$1"
	[ -n "$p" ] || return 0
	kill "-$2" "$p" 2>/dev/null || true
	for _ in $(seq 1 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
}

cleanup() {
	local rc=$?
	stop_pid "$gwpid" TERM
	for n in "${!hpid[@]}"; do stop_pid "${hpid[$n]}" TERM; done
	if [ -f "$home/localnet.pid" ]; then
		stop_pid "$(cat "$home/localnet.pid")" TERM
	fi
	if [ "$rc" -ne 0 ]; then
		echo "gateway-network-e2e: FAILED at step: $step" >&2
		for f in "$work"/gw.log "$work"/h*/log "$work"/s3-clients.log; do
			[ -f "$f" ] && { echo "--- last lines of $f" >&2; tail -n 25 "$f" >&2; }
		done
		[ -f "$home/node.log" ] && { echo "--- last node log lines" >&2; tail -n 10 "$home/node.log" >&2; }
	fi
	[ "${KEEP:-0}" = 1 ] && echo "kept $work" || rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT INT TERM

fail() { echo "gateway-network-e2e: $*" >&2; exit 1; }
say() { step="$*"; echo "== [${SECONDS}s] $*"; }

taken=" "
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 40000))
		case "$taken" in *" $p "*) continue ;; esac
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			taken="$taken$p "
			echo "$p"
			return
		fi
	done
}

until_ok() { # TIMEOUT_S DESCRIPTION CMD...
	local t="$1" what="$2"; shift 2
	local end=$((SECONDS + t))
	while ! "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$end" ] || fail "timed out after ${t}s waiting for: $what"
		sleep 0.2
	done
}

export LOCALNET_HOME="$home"
export LOCALNET_RPC_PORT="$(free_port)" LOCALNET_P2P_PORT="$(free_port)"
export LOCALNET_GRPC_PORT="$(free_port)" LOCALNET_API_PORT="$(free_port)"
export LOCALNET_EPOCH_BLOCKS=5 LOCALNET_UNBONDING_BLOCKS=10 LOCALNET_EXTRA_ACCOUNTS=1
# Challenges answered within 50 blocks, a slot moved after 2 faults (as in
# scripts/e2e/hoster.sh), so that a dead hoster is replaced during the run.
export LOCALNET_GENESIS_JQ='.app_state.attest.params.response_blocks = "50" | .app_state.attest.params.max_faults = 2
  | .app_state.attest.params.check_interval_blocks = "20" | .app_state.attest.params.attestors_per_check = 1
  | .app_state.attest.params.quorum = 1 | .app_state.attest.params.check_response_blocks = "50"'

say "start a local chain"
bash "$repo/scripts/localnet.sh" --background >"$work/localnet.out"
grep -q '^PID=' "$work/localnet.out" || fail "localnet did not report a pid"
grpc="127.0.0.1:$LOCALNET_GRPC_PORT"
rpc="http://127.0.0.1:$LOCALNET_RPC_PORT"
chaind() { "$chaind_bin" --home "$home" "$@"; }
addr() { chaind keys show "$1" -a --keyring-backend test; }
chain_flags=(--chain.grpc "$grpc" --chain.rpc "$rpc")
hkey() { if [ "$1" = 4 ]; then echo user1; else echo "hoster$1"; fi; } # hoster i's key (localnet funds user1 too)

say "four hosters: datdot hoster init, register, start"
for i in 1 2 3 4; do
	port="$(free_port)"
	"$datdot_bin" hoster init --home "$work/h$i" --listen "127.0.0.1:$port" --endpoint "http://127.0.0.1:$port" \
		--capacity 1073741824 --reserve 1048576 --region "r$i" --price 100 --stake 5000000udot \
		"${chain_flags[@]}" --chain.keyring_dir "$home" --chain.keyring_backend test --chain.key "$(hkey "$i")" >/dev/null
	"$datdot_bin" hoster register --home "$work/h$i" >/dev/null
	echo "127.0.0.1:$port" >"$work/h$i/port"
done
start_hoster() { # I
	local i="$1"
	DATDOT_HOSTER_SCRUB_PAUSE=1h "$datdot_bin" hoster start --home "$work/h$i" >>"$work/h$i/log" 2>&1 &
	hpid[h$i]=$!
	until_ok 60 "hoster $i answers /v1/health" curl -sf "http://$(cat "$work/h$i/port")/v1/health"
}
for i in 1 2 3 4; do start_hoster "$i"; done
active_hosters() { [ "$(chaind q storage hosters -o json | jq '[.hosters[] | select(.status == "HOSTER_STATUS_ACTIVE")] | length')" = 4 ]; }
until_ok 60 "4 active hosters" active_hosters

gwport="$(free_port)"
gw="http://127.0.0.1:$gwport"
export AWS_ACCESS_KEY_ID=AKIANETWORK AWS_SECRET_ACCESS_KEY=network-secret AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
aws() { "$AWS" --endpoint-url "$gw" "$@"; }
# s3-clients.sh runs as its own account, so its listings show only its buckets.
clients_key="AKIAS3CLIENTS:s3-clients-secret"
start_gateway() {
	"$datdot_bin" gateway --listen "127.0.0.1:$gwport" --data "$work/gw" --key "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" --key "$clients_key" \
		--backend network --erasure-k 2 --erasure-m 1 --delete-grace 0s --cache-bytes 0 --read.slow-after 1s --domain s3.e2e.test \
		--chain.grpc "$grpc" --chain.rpc "$rpc" --chain.keyring-dir "$home" --chain.keyring-backend test --chain.key alice \
		--order.max-price 1000 --order.epochs 100000 --order.deposit 100000000udot >>"$work/gw.log" 2>&1 &
	gwpid=$!
	until_ok 60 "gateway answers" curl -s -o /dev/null "$gw/"
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
check_all() {
	for f in "$work"/up/*; do
		local n; n="$(basename "$f")"
		aws s3 cp --only-show-errors "s3://net/$n" "$work/dl/$n" || fail "GET $n"
		cmp -s "$f" "$work/dl/$n" || fail "$n reads back different"
	done
}
check_all

say "one order per volume on chain (erasure 2-of-3); every assigned hoster holds its core"
until_ok 120 "the metadata log is shipped" jq -e '.shipped == .length and .length > 0' "$work/gw/metalog/status.json"
owner="$(addr alice)"
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
		key="$(jq -r --argjson c "$ci" '.order.cores[$c].key' <<<"$o" | base64 -d | od -An -tx1 | tr -d ' \n')"
		for i in 1 2 3 4; do
			[ "$(addr "$(hkey "$i")")" = "$h" ] || continue
			held() { [ "$(curl -sf "http://$(cat "$work/h$i/port")/v1/cores/$key" | jq -r .length)" -ge 1 ]; }
			until_ok 60 "hoster $i holds core $ci of order $id" held
		done
	done
done

say "the orders are extended to the volumes' lengths (in batches)"
hport_of() { for i in 1 2 3 4; do [ "$(addr "$(hkey "$i")")" = "$1" ] && { cat "$work/h$i/port"; return; }; done; }
extended() { # every core's length on chain is what its hoster holds
	for id in $(chaind q storage orders-by-owner "$owner" -o json | jq -r '.orders[].id'); do
		o="$(chaind q storage order "$id" -o json)"
		for a in $(jq -r '.assignments[] | "\(.assignment.core_index // 0):\(.assignment.hoster)"' <<<"$o"); do
			ci="${a%%:*}" h="${a#*:}"
			key="$(jq -r --argjson c "$ci" '.order.cores[$c].key' <<<"$o" | base64 -d | od -An -tx1 | tr -d ' \n')"
			held="$(curl -sf "http://$(hport_of "$h")/v1/cores/$key" | jq -r .length)"
			[ "$(jq -r --argjson c "$ci" '.order.cores[$c].length' <<<"$o")" = "$held" ] || return 1
		done
	done
}
until_ok 180 "orders extended to the gateway's core lengths" extended
# Measured, not asserted: bytes on hosters per byte stored, and the
# gateway's transactions.
stored="$(cat "$work"/up/* | wc -c)"
on_hosters=0
for id in $(jq -r '.orders[].id' <<<"$orders"); do
	n="$(chaind q storage order "$id" -o json | jq -r '[.order.cores[].byte_length | tonumber] | add')"
	on_hosters=$((on_hosters + n))
done
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
for i in $(seq 1 30); do head -c $((50000 + i * 3000)) /dev/urandom >"$work/up/crash-$i.bin"; done
: >"$work/acked"
( for i in $(seq 1 30); do aws s3 cp --only-show-errors "$work/up/crash-$i.bin" "s3://net/crash-$i.bin" 2>/dev/null && echo "crash-$i.bin" >>"$work/acked"; done ) &
writer=$!
until_ok 120 "some crash PUTs acknowledged" test -s "$work/acked"
kill -KILL "$gwpid"; wait "$gwpid" 2>/dev/null || true; gwpid=""
wait "$writer" 2>/dev/null || true
start_gateway
while read -r n; do
	aws s3 cp --only-show-errors "s3://net/$n" "$work/dl/$n" || fail "acknowledged $n lost"
	cmp -s "$work/up/$n" "$work/dl/$n" || fail "acknowledged $n differs"
done <"$work/acked"
aws s3 ls s3://net/ | awk '{print $4}' | grep '^crash-' | while read -r n; do
	aws s3 cp --only-show-errors "s3://net/$n" "$work/dl/$n" || fail "listed $n unreadable"
	cmp -s "$work/up/$n" "$work/dl/$n" || fail "listed $n is partial"
done
rm -f "$work"/up/crash-*.bin

say "stop the gateway, delete its local copy of the volumes, start it: every object reads from the hosters"
stop_pid "$gwpid" TERM; gwpid=""
rm -rf "$work/gw/network"
start_gateway
check_all

# Hosters of the orders' slots, and the gateway's orders.
orders_json() { for id in $(chaind q storage orders-by-owner "$owner" -o json | jq -r '.orders[].id'); do chaind q storage order "$id" -o json; done; }
hoster_index() { for i in 1 2 3 4; do [ "$(addr "$(hkey "$i")")" = "$1" ] && { echo "$i"; return; }; done; }
# The first order of a data volume (the metadata log's orders are named in gw/metalog/gen-*/order).
meta_orders=" $(cat "$work"/gw/metalog/gen-*/order 2>/dev/null | tr '\n' ' ') "
first_id="$(chaind q storage orders-by-owner "$owner" -o json | jq -r '.orders[].id' | while read -r id; do
	case "$meta_orders" in *" $id "*) ;; *) echo "$id"; break ;; esac
done)"
orig=($(chaind q storage order "$first_id" -o json | jq -r '.assignments[].assignment.hoster'))
x="$(hoster_index "${orig[0]}")" y="$(hoster_index "${orig[1]}")"
say "hoster $x (holds cores) is SIGKILLed and its data deleted: every object still reads back"
stop_pid "${hpid[h$x]}" KILL; hpid[h$x]=""
find "$work/h$x" -mindepth 1 -not -name log -not -name port -delete
check_all

say "the chain moves hoster $x's slots, the replacement rebuilds; reads stay correct meanwhile"
xaddr="$(addr "$(hkey "$x")")"
rebuilt() { # no slot names hoster x, every slot committed at its core's length
	orders_json | jq -se --arg x "$xaddr" 'all(.[]; . as $o | all($o.assignments[].assignment;
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
check_all
echo "gateway-network-e2e: all steps passed"
