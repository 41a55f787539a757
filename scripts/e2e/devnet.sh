#!/usr/bin/env bash
# devnet.sh: `datdot devnet` end to end, on free loopback ports, with its
# defaults: 6 hoster daemons and the gateway on the network backend
# (erasure 2 data + 2 parity cores per volume). One devnet is shared by
# every step:
#
#   1. a fresh devnet comes up and writes devnet.env; the AWS CLI, rclone
#      and `datdot put/get`, configured from it alone, put objects up and
#      get them back byte-identical;
#   2. the gateway's volumes are orders on chain (owner: the genesis
#      account "gateway", erasure 2-of-4), assigned to the devnet's own
#      hosters, which hold the cores the gateway pushed and commit them;
#      x/attest challenges them and the hosters pass;
#   3. the dashboard in headless Chromium shows live hosters, the gateway's
#      orders and slots, live challenges of them and their outcomes,
#      payments and the gateway's buckets (screenshot:
#      DASHBOARD_SCREENSHOT=docs/dashboard.png);
#   4. a stock CosmJS client configured from the devnet's chain.json reads
#      balances, sends tokens and decodes the storage module's events;
#   5. SIGKILL of the whole process group in the middle of PUTs, then a
#      restart of the same home: every acknowledged object reads back
#      byte-identical, no listed object is partial, the chain continues
#      from its pre-kill height, and S3 takes new objects;
#   6. a hoster that dies is reported, the network goes on and every object
#      still reads; a gateway that dies is reported and the devnet stops
#      instead of restarting it;
#   7. SIGINT (Ctrl-C) stops every process.
#
# Every wait is on a condition, with a generous timeout. Processes are
# always cleaned up.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib/e2e.sh"
e2e_init devnet-e2e aws rclone curl node
datdot="$datdot_bin"
js="$repo/build/dashboard-js"
[ -d "$js/node_modules/playwright-core" ] || fail "$js missing; run scripts/setup/dashboard.sh"

home="$work/home"
e2e_logs=("$work/devnet*.out" "$home/logs/*.log")
pid=""
stop_devnet() {
	# The devnet runs in its own process group (setsid): signal all of it.
	[ -n "$pid" ] || return 0
	kill -TERM -- "-$pid" 2>/dev/null || true
	for _ in $(seq 1 300); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL -- "-$pid" 2>/dev/null || true
	pid=""
}
e2e_on_exit+=(stop_devnet)

# alive PID: the process runs (a zombie waiting to be reaped does not).
alive() { local st; st="$(ps -o stat= -p "$1" 2>/dev/null)" && [[ "$st" != Z* ]]; }
# no_process_left PGID: no live process is left in the process group.
no_process_left() { ! ps -eo pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { found = 1 } END { exit !found }'; }
devnet_exited() { ! alive "$pid"; }
# Every wait fails early when the devnet exits (unless a step expects it).
e2e_poll_guard() { # WHAT
	if [ -n "$pid" ] && [ "${expect_exit:-0}" = 0 ] && ! alive "$pid"; then fail "$1: the devnet exited"; fi
}

rpc_port=$(free_port) p2p_port=$(free_port) grpc_port=$(free_port) api_port=$(free_port)
gw_port=$(free_port) dash_port=$(free_port)
flags=(--home "$home" --rpc-port "$rpc_port" --p2p-port "$p2p_port" --grpc-port "$grpc_port" --api-port "$api_port"
	--gateway-listen "127.0.0.1:$gw_port" --dashboard-listen "127.0.0.1:$dash_port" --block-time 300ms --epoch-blocks 5)

# start_devnet N [ARGS]: run the devnet in its own process group and wait
# until it has written devnet.env and printed its summary (it writes the
# file first, then prints: the steps below read both).
start_devnet() {
	local n="$1"; shift
	rm -f "$home/devnet.env"
	setsid "$datdot" devnet "${flags[@]}" "$@" >"$work/devnet$n.out" 2>&1 &
	pid=$!
	until_ok 240 "devnet start $n writes devnet.env" test -s "$home/devnet.env"
	until_ok 60 "devnet start $n prints its summary" grep -q "DatDot devnet is running (" "$work/devnet$n.out"
	set -a; . "$home/devnet.env"; set +a
}
height() { curl -sf "$CHAIN_RPC/status" | jq -r '.result.sync_info.latest_block_height'; }
height_above() { [ "$(height)" -gt "$1" ]; }

say "1. a fresh devnet starts and writes devnet.env"
start_devnet 1 --fresh
grep -q "DatDot devnet is running (new" "$work/devnet1.out" || fail "no summary printed"
for v in S3_ENDPOINT AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY DASHBOARD_URL S3_ENABLED S3_BUCKET S3_ALIAS_HOST CHAIN_REST; do
	[ -n "${!v:-}" ] || fail "devnet.env lacks $v"
done
[ "$S3_ENDPOINT" = "http://127.0.0.1:$gw_port" ] || fail "S3_ENDPOINT=$S3_ENDPOINT"
grep -q "$AWS_SECRET_ACCESS_KEY" "$work/devnet1.out" || fail "the secret is not printed for pasting"

grep -q "storage     network backend" "$work/devnet1.out" || fail "the summary does not say the gateway runs on the network backend"
grep -q -- "--backend network" "$home/logs/gateway.log" || fail "the gateway was not started with --backend network"

# put NAME FILE: PUT with the AWS CLI and remember it as acknowledged.
mkdir -p "$work/up" "$work/dl"
: >"$work/acked"
s3() { aws --endpoint-url "$S3_ENDPOINT" "$@"; }
put() { s3 s3 cp "$2" "s3://$S3_BUCKET/$1" --only-show-errors && cp "$2" "$work/up/$1" && echo "$1" >>"$work/acked"; }
# same NAME: the object reads back byte-identical to what was put.
same() { s3 s3 cp "s3://$S3_BUCKET/$1" "$work/dl/$1" --only-show-errors && cmp -s "$work/up/$1" "$work/dl/$1"; }
# all_acked_read_back WHEN: the whole bucket comes down in one AWS CLI
# command; every acknowledged object is byte-identical, and every other
# object listed is complete (the crash step's objects).
all_acked_read_back() {
	local d="$work/dl.$1"
	rm -rf "$d"; mkdir -p "$d"
	s3 s3 cp --recursive "s3://$S3_BUCKET/" "$d/" --only-show-errors || fail "download of the bucket ($1)"
	while read -r n; do cmp -s "$work/up/$n" "$d/$n" || fail "acknowledged object $n does not read back identical ($1)"; done <"$work/acked"
	for f in "$d"/crash-*; do
		[ -e "$f" ] || continue
		cmp -s "$work/${f##*/}" "$f" || fail "listed object ${f##*/} is partial or different ($1)"
	done
}

say "1. the AWS CLI puts and gets objects with the printed settings (aws s3 cp up and down)"
head -c 1500000 /dev/urandom >"$work/photo.bin"
put photo.bin "$work/photo.bin" || fail "aws s3 cp up"
same photo.bin || fail "aws s3 cp down: photo.bin came back different"
# Several objects at once (the AWS CLI sends them in parallel), and down
# again in one command.
mkdir -p "$work/small"
for i in 1 2 3 4 5; do head -c $((1000 + i * 37000)) /dev/urandom >"$work/small/small-$i.bin"; done
s3 s3 cp --recursive "$work/small/" "s3://$S3_BUCKET/" --only-show-errors || fail "aws s3 cp --recursive up"
for i in 1 2 3 4 5; do cp "$work/small/small-$i.bin" "$work/up/"; echo "small-$i.bin" >>"$work/acked"; done
mkdir -p "$work/small.back"
s3 s3 cp --recursive "s3://$S3_BUCKET/" "$work/small.back/" --exclude '*' --include 'small-*' --only-show-errors || fail "aws s3 cp --recursive down"
for i in 1 2 3 4 5; do cmp -s "$work/small/small-$i.bin" "$work/small.back/small-$i.bin" || fail "small-$i.bin came back different"; done
s3 s3 cp "$work/photo.bin" "s3://$S3_BUCKET/public.bin" --acl public-read --only-show-errors
curl -sf "$S3_ENDPOINT/$S3_BUCKET/public.bin" -o "$work/anon.bin" && cmp "$work/photo.bin" "$work/anon.bin" || fail "anonymous GET of a public-read object"
cp "$work/photo.bin" "$work/up/public.bin"; echo public.bin >>"$work/acked"
# AWS_CA_BUNDLE (set on some machines) makes rclone's AWS SDK refuse its own http transport.
env -u AWS_CA_BUNDLE rclone ls "datdot:$S3_BUCKET" >"$work/rclone.ls" || fail "rclone with the RCLONE_CONFIG_DATDOT_* settings"
grep -q ' photo.bin$' "$work/rclone.ls" || fail "rclone does not list photo.bin"

say "1. datdot put and get (multipart) with the devnet's settings"
head -c 11000000 /dev/urandom >"$work/big.bin"
"$datdot" put --home "$home" --part-size 5 "$work/big.bin" "s3://$S3_BUCKET/big.bin" 2>"$work/put.err" || fail "datdot put: $(tail -c 300 "$work/put.err")"
cp "$work/big.bin" "$work/up/big.bin"; echo big.bin >>"$work/acked"
"$datdot" get --home "$home" "s3://$S3_BUCKET/big.bin" "$work/big.back" 2>"$work/get.err" || fail "datdot get: $(tail -c 300 "$work/get.err")"
cmp "$work/big.bin" "$work/big.back" || fail "datdot get returned other bytes"

say "1. REST and RPC answer browsers (CORS)"
hdrs="$(curl -sfi -H 'Origin: http://example.org' "$CHAIN_REST/cosmos/base/tendermint/v1beta1/node_info")"
grep -qi '^access-control-allow-origin: \*' <<<"$hdrs" || fail "REST has no CORS"
hdrs="$(curl -sfi -H 'Origin: http://example.org' "$CHAIN_RPC/status")"
grep -qi '^access-control-allow-origin: ' <<<"$hdrs" || fail "RPC has no CORS"

chaind() { "$chaind_bin" --home "$CHAIN_HOME" "$@"; }
gw_account="$(curl -sf "$DASHBOARD_URL/devnet.json" | jq -r .gateway_account)"
[ "$(curl -sf "$DASHBOARD_URL/devnet.json" | jq -r .backend)" = network ] || fail "devnet.json: backend is not network"
[ "$gw_account" = "$(chaind keys show gateway -a --keyring-backend test)" ] || fail "devnet.json names $gw_account as the gateway's account"
[ "${HOSTERS:-0}" -ge 4 ] || fail "the devnet runs ${HOSTERS:-0} hosters, want at least 4 (erasure 2+2)"

say "2. the gateway's volumes are orders of erasure 2-of-4 on the devnet's hosters; the hosters hold and commit the cores"
hosters_active() { [ "$(curl -sf "$CHAIN_REST/datdot/storage/v1/hosters" | jq '[.hosters[] | select(.status == "HOSTER_STATUS_ACTIVE")] | length')" = "$HOSTERS" ]; }
until_ok 120 "$HOSTERS active hosters on chain" hosters_active
gw_orders() { curl -sf "$CHAIN_REST/datdot/storage/v1/owners/$gw_account/orders" | jq -r '.orders[].id'; }
# The gateway's metadata log (gateway/metalog, for `datdot gateway recover`)
# is a volume of its own, with one order per generation.
metalog_shipped() { jq -e '.shipped == .length and .length > 0' "$home/gateway/metalog/status.json"; }
until_ok 120 "the gateway's metadata log is shipped to the hosters" metalog_shipped
count_vols() { echo $(($(ls "$home/gateway/network/volumes" | wc -l) + $(ls "$home/gateway/metalog" | grep -c '^gen-'))); }
one_order_per_volume() { [ "$(gw_orders | wc -w)" = "$(count_vols)" ]; }
until_ok 120 "one order per volume (data volumes and metadata log generations)" one_order_per_volume
orders="$(gw_orders)"
[ -n "$orders" ] || fail "the gateway placed no order"
devnet_endpoints="$(curl -sf "$DASHBOARD_URL/devnet.json" | jq -r '.hosters[]')"
for id in $orders; do
	o="$(curl -sf "$CHAIN_REST/datdot/storage/v1/orders/$id")"
	[ "$(jq -r '.order.erasure_k' <<<"$o")" = 2 ] && [ "$(jq -r '.order.erasure_n' <<<"$o")" = 4 ] || fail "order $id is not 2-of-4: $(jq -c .order <<<"$o")"
	[ "$(jq '.assignments | length' <<<"$o")" = 4 ] || fail "order $id has $(jq '.assignments | length' <<<"$o") slots"
	for a in $(jq -r '.assignments[].assignment | "\(.core_index // 0):\(.hoster)"' <<<"$o"); do
		ci="${a%%:*}" h="${a#*:}"
		ep="$(curl -sf "$CHAIN_REST/datdot/storage/v1/hosters/$h" | jq -r .hoster.endpoint)"
		grep -qxF "$ep" <<<"$devnet_endpoints" || fail "order $id core $ci is on $ep, not a devnet hoster"
		key="$(jq -r --argjson c "$ci" '.order.cores[$c].key' <<<"$o" | base64 -d | od -An -tx1 | tr -d ' \n')"
		holds() { [ "$(curl -sf "$ep/v1/cores/$key" | jq -r .length)" -ge 1 ]; }
		until_ok 120 "hoster $ep holds core $ci of order $id" holds
	done
done
first_order="$(head -n 1 <<<"$orders")"
order_active() { [ "$(curl -sf "$CHAIN_REST/datdot/storage/v1/orders/$first_order" | jq -r .order.status)" = ORDER_STATUS_ACTIVE ]; }
until_ok 120 "order $first_order active (the hosters commit by themselves)" order_active
slot_passed() { [ "$(curl -sf "$CHAIN_REST/datdot/storage/v1/orders/$first_order" | jq '[.assignments[].assignment.passes // "0" | tonumber] | add')" -ge 1 ]; }
until_ok 120 "a challenge of order $first_order passed (x/attest)" slot_passed
"$datdot" status --home "$home" >"$work/status.out"
grep -q "^hosters     $HOSTERS ($HOSTERS active)" "$work/status.out" || fail "datdot status: $(cat "$work/status.out")"
grep -q "^orders      [1-9]" "$work/status.out" || fail "datdot status: $(cat "$work/status.out")"

say "3. the dashboard shows the gateway's orders, slots and live challenges in headless Chromium"
cp "$repo"/dashboard/test/*.mjs "$js/"
DASHBOARD_URL="$DASHBOARD_URL" EXPECT_HOSTERS="$HOSTERS" EXPECT_ORDER="$first_order" EXPECT_BUCKET="$S3_BUCKET" EXPECT_OBJECTS="$(wc -l <"$work/acked")" \
	EXPECT_CHALLENGES=1 EXPECT_GATEWAY_SLOTS=4 EXPECT_ORDER_EVENTS=0 SCREENSHOT="${DASHBOARD_SCREENSHOT:-}" node "$js/dashboard.test.mjs"

say "4. a stock CosmJS client reads balances, sends tokens and decodes storage events"
DASHBOARD_URL="$DASHBOARD_URL" KEYS_DIR="$CHAIN_HOME/keys" EXPECT_ORDER_OWNER="$gw_account" node "$js/wallet.test.mjs"

say "5. SIGKILL of the whole process group in the middle of PUTs, then a restart resumes"
for i in $(seq 1 40); do head -c $((20000 + i * 7000)) /dev/urandom >"$work/crash-$i.bin"; done
# The writer stops at the first PUT that fails (the gateway is gone).
( for i in $(seq 1 40); do
	[ -e "$work/stop" ] && break
	AWS_MAX_ATTEMPTS=1 put "crash-$i.bin" "$work/crash-$i.bin" 2>/dev/null || break
done ) &
writer=$!
crash_acked() { [ "$(grep -c '^crash-' "$work/acked")" -ge 3 ]; }
until_ok 120 "some PUTs acknowledged while writing" crash_acked
h1="$(height)"
key_before="$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY"
cat "$home"/hosters/*/endpoint >"$work/endpoints-before"
kill -KILL -- "-$pid"
touch "$work/stop"
wait "$pid" 2>/dev/null || true
expect_exit=1
until_ok 60 "every devnet process gone after SIGKILL" no_process_left "$pid"
wait "$writer" 2>/dev/null || true
pid=""
expect_exit=0
echo "   $(wc -l <"$work/acked") objects acknowledged before the kill; chain height $h1"
start_devnet 2
grep -q "DatDot devnet is running (resumed" "$work/devnet2.out" || fail "the restart did not resume"
[ "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" = "$key_before" ] || fail "the S3 key pair changed across the restart"
# Each hoster's endpoint (registered on chain) is kept, and it listens there again.
cat "$home"/hosters/*/endpoint | cmp -s - "$work/endpoints-before" || fail "hoster endpoints changed across the restart"
while read -r ep; do until_ok 60 "hoster $ep answers after the restart" curl -sf "$ep/v1/health"; done <"$work/endpoints-before"
[ "$(height)" -ge "$h1" ] || fail "height $(height) < $h1 before the kill: the chain did not continue"
until_ok 120 "blocks after the restart" height_above "$h1"
all_acked_read_back "after SIGKILL and restart"
head -c 300000 /dev/urandom >"$work/after.bin"
put after.bin "$work/after.bin" || fail "PUT after the restart"
same after.bin || fail "GET after the restart"
order_active_again() { [ "$(curl -sf "$CHAIN_REST/datdot/storage/v1/orders/$first_order" | jq -r .order.status)" = ORDER_STATUS_ACTIVE ]; }
until_ok 120 "order $first_order active after the restart" order_active_again

say "6. a hoster that dies is reported, the rest goes on and every object still reads"
h_pid="$(sed -n "s/.*msg=started process=hoster$HOSTERS pid=\\([0-9]*\\).*/\\1/p" "$work/devnet2.out" | tail -n 1)"
[ -n "$h_pid" ] || fail "the devnet did not log hoster$HOSTERS's pid"
kill -KILL "$h_pid"
hoster_reported() { grep -q "hoster$HOSTERS stopped on its own" "$work/devnet2.out" && grep -q "hoster$HOSTERS is not restarted" "$work/devnet2.out"; }
until_ok 60 "the hoster's death is reported" hoster_reported
alive "$pid" || fail "the devnet stopped when a hoster died"
h2="$(height)"
until_ok 120 "blocks go on without the hoster" height_above "$h2"
all_acked_read_back "with a hoster dead"

say "6. a dead gateway is reported and stops the devnet (not restarted)"
gw_pid="$(sed -n 's/.*msg=started process=gateway pid=\([0-9]*\).*/\1/p' "$work/devnet2.out" | tail -n 1)"
[ -n "$gw_pid" ] || fail "the devnet did not log the gateway's pid"
kill -KILL "$gw_pid"
expect_exit=1
until_ok 180 "the devnet stops after its gateway died" devnet_exited
wait "$pid" && fail "the devnet exited 0 after its gateway died" || true
grep -q "gateway stopped on its own (killed by killed)\|gateway stopped on its own" "$work/devnet2.out" || fail "the gateway's death was not reported"
[ "$(grep -c 'msg=started process=gateway' "$work/devnet2.out")" = 1 ] || fail "the gateway was restarted"
until_ok 60 "no process left after the devnet stopped" no_process_left "$pid"
pid=""

say "7. a second devnet on the same home is refused; Ctrl-C (SIGINT) stops everything, the chain last"
expect_exit=0
start_devnet 3
# Other ports, same home: refused by the home's lock before it touches anything.
if "$datdot" devnet --home "$home" --rpc-port "$(free_port)" --p2p-port "$(free_port)" --grpc-port "$(free_port)" \
	--api-port "$(free_port)" --gateway-listen "127.0.0.1:$(free_port)" --dashboard-listen "127.0.0.1:$(free_port)" \
	>"$work/second.out" 2>&1; then
	fail "a second devnet on the same home started"
fi
grep -q "another devnet runs from" "$work/second.out" || fail "unclear refusal of a second devnet: $(cat "$work/second.out")"
alive "$pid" || fail "the second devnet's attempt stopped the first"
kill -INT -- "-$pid"
expect_exit=1
until_ok 180 "the devnet exits after SIGINT" devnet_exited
wait "$pid" || fail "the devnet exited non-zero on SIGINT"
until_ok 60 "no process left after SIGINT" no_process_left "$pid"
grep -q "devnet: stopping" "$work/devnet3.out" || fail "no stop message"
# The supervisor logs each process it stopped: the chain comes last.
grep -o 'msg=stopped process=[a-z0-9]*' "$work/devnet3.out" >"$work/stop-order"
[ "$(tail -n 1 "$work/stop-order")" = "msg=stopped process=chain" ] || fail "the chain was not stopped last: $(tr '\n' ' ' <"$work/stop-order")"
grep -q 'process=gateway' "$work/stop-order" || fail "the gateway's stop was not logged: $(tr '\n' ' ' <"$work/stop-order")"
pid=""

say "8. --fresh starts a new network; a dead chain stops the devnet (exit 1)"
expect_exit=0
start_devnet 4 --fresh
grep -q "DatDot devnet is running (new" "$work/devnet4.out" || fail "--fresh did not make a new network"
[ "$(height)" -lt "$h1" ] || fail "height $(height) after --fresh: the old chain ($h1 before the kill) was kept"
s3 s3 ls "s3://$S3_BUCKET/" >"$work/fresh-ls" 2>&1 || true
! grep -q 'crash-' "$work/fresh-ls" || fail "--fresh kept the old objects: $(head -3 "$work/fresh-ls")"
chain_pid="$(sed -n 's/.*msg=started process=chain pid=\([0-9]*\).*/\1/p' "$work/devnet4.out" | tail -n 1)"
[ -n "$chain_pid" ] || fail "the devnet did not log the chain's pid"
kill -KILL "$chain_pid"
expect_exit=1
until_ok 60 "the devnet stops after its chain died" devnet_exited
if wait "$pid"; then fail "the devnet exited 0 after its chain died"; fi
grep -q "chain stopped on its own" "$work/devnet4.out" || fail "the chain's death was not reported"
until_ok 30 "no process left after the chain died" no_process_left "$pid"
pid=""
say "devnet e2e passed"
