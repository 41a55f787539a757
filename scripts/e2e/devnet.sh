#!/usr/bin/env bash
# devnet.sh: `datdot devnet` end to end, on free loopback ports:
#
#   1. a fresh devnet comes up and writes devnet.env; the AWS CLI and rclone,
#      configured from it alone, put and get an object;
#   2. the devnet's hoster daemons are registered; an order of 3 replicas is
#      placed with the CLI and pushed (datdot core push), the hosters commit
#      by themselves; the dashboard in headless Chromium shows live hosters,
#      orders, slots, events, payments and the gateway's buckets
#      (screenshot: DASHBOARD_SCREENSHOT=docs/dashboard.png);
#   3. a stock CosmJS client configured from the devnet's chain.json reads
#      balances, sends tokens and decodes the storage module's events;
#   4. SIGKILL of the whole process group, then a restart of the same home:
#      the chain continues from where it was, the object is still there and
#      the hosters still serve the whole core;
#   5. a hoster that dies is reported and the network goes on; a gateway
#      that dies is reported and the devnet stops instead of restarting it;
#   6. SIGINT (Ctrl-C) stops every process.
#
# Every wait is on a condition, with a generous timeout. Processes are
# always cleaned up.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
datdot="$repo/build/datdot"
chaind_bin="$repo/build/datdotchaind"
js="$repo/build/dashboard-js"
for b in "$datdot" "$chaind_bin"; do
	[ -x "$b" ] || { echo "devnet: $b missing; run make build" >&2; exit 1; }
done
for t in aws rclone jq curl node; do
	command -v "$t" >/dev/null || { echo "devnet: $t missing; run make setup" >&2; exit 1; }
done
[ -d "$js/node_modules/playwright-core" ] || { echo "devnet: $js missing; run scripts/setup/dashboard.sh" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/datdot-devnet-e2e.XXXXXX")"
home="$work/home"
step=""
pid=""

stop_devnet() {
	# The devnet runs in its own process group (setsid): signal all of it.
	[ -n "$pid" ] || return 0
	kill -TERM -- "-$pid" 2>/dev/null || true
	for _ in $(seq 1 300); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL -- "-$pid" 2>/dev/null || true
	pid=""
}
cleanup() {
	local rc=$?
	stop_devnet
	if [ "$rc" -ne 0 ]; then
		echo "devnet e2e: FAILED at step: $step" >&2
		for f in "$work"/devnet*.out "$home"/logs/*.log; do
			[ -f "$f" ] && { echo "--- last lines of $f" >&2; tail -n 25 "$f" >&2; }
		done
	fi
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT INT TERM

fail() { echo "devnet e2e: $*" >&2; exit 1; }
say() { step="$*"; echo "== [${SECONDS}s] $*"; }

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
# alive PID: the process runs (a zombie waiting to be reaped does not).
alive() { local st; st="$(ps -o stat= -p "$1" 2>/dev/null)" && [[ "$st" != Z* ]]; }
# no_process_left PGID: no live process is left in the process group.
no_process_left() { ! ps -eo pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { found = 1 } END { exit !found }'; }
devnet_exited() { ! alive "$pid"; }
# wait_for SECONDS DESCRIPTION COMMAND...: poll until COMMAND succeeds.
wait_for() {
	local limit="$1" what="$2"; shift 2
	local deadline=$((SECONDS + limit))
	until "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$deadline" ] || fail "$what: not true after ${limit}s"
		if [ -n "$pid" ] && [ "${expect_exit:-0}" = 0 ] && ! alive "$pid"; then fail "$what: the devnet exited"; fi
		sleep 0.2
	done
}

rpc_port=$(free_port) p2p_port=$(free_port) grpc_port=$(free_port) api_port=$(free_port)
gw_port=$(free_port) dash_port=$(free_port)
flags=(--home "$home" --rpc-port "$rpc_port" --p2p-port "$p2p_port" --grpc-port "$grpc_port" --api-port "$api_port"
	--gateway-listen "127.0.0.1:$gw_port" --dashboard-listen "127.0.0.1:$dash_port" --block-time 300ms --epoch-blocks 5)

# start_devnet N [ARGS]: run the devnet in its own process group and wait
# until it has written devnet.env.
start_devnet() {
	local n="$1"; shift
	rm -f "$home/devnet.env"
	setsid "$datdot" devnet "${flags[@]}" "$@" >"$work/devnet$n.out" 2>&1 &
	pid=$!
	wait_for 240 "devnet start $n writes devnet.env" test -s "$home/devnet.env"
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

say "1. the AWS CLI puts and gets an object with the printed settings"
head -c 1500000 /dev/urandom >"$work/photo.bin"
aws --endpoint-url "$S3_ENDPOINT" s3 cp "$work/photo.bin" "s3://$S3_BUCKET/photo.bin" --only-show-errors
aws --endpoint-url "$S3_ENDPOINT" s3 cp "s3://$S3_BUCKET/photo.bin" "$work/back.bin" --only-show-errors
cmp "$work/photo.bin" "$work/back.bin" || fail "object came back different"
aws --endpoint-url "$S3_ENDPOINT" s3 cp "$work/photo.bin" "s3://$S3_BUCKET/public.bin" --acl public-read --only-show-errors
curl -sf "$S3_ENDPOINT/$S3_BUCKET/public.bin" -o "$work/anon.bin" && cmp "$work/photo.bin" "$work/anon.bin" || fail "anonymous GET of a public-read object"
# AWS_CA_BUNDLE (set on some machines) makes rclone's AWS SDK refuse its own http transport.
env -u AWS_CA_BUNDLE rclone ls "datdot:$S3_BUCKET" >"$work/rclone.ls" || fail "rclone with the RCLONE_CONFIG_DATDOT_* settings"
grep -q ' photo.bin$' "$work/rclone.ls" || fail "rclone does not list photo.bin"

say "1. datdot put and get (multipart) with the devnet's settings"
head -c 11000000 /dev/urandom >"$work/big.bin"
"$datdot" put --home "$home" --part-size 5 "$work/big.bin" "s3://$S3_BUCKET/big.bin" 2>"$work/put.err" || fail "datdot put: $(tail -c 300 "$work/put.err")"
"$datdot" get --home "$home" "s3://$S3_BUCKET/big.bin" "$work/big.back" 2>"$work/get.err" || fail "datdot get: $(tail -c 300 "$work/get.err")"
cmp "$work/big.bin" "$work/big.back" || fail "datdot get returned other bytes"
aws --endpoint-url "$S3_ENDPOINT" s3 rm "s3://$S3_BUCKET/big.bin" --only-show-errors

say "1. REST and RPC answer browsers (CORS)"
hdrs="$(curl -sfi -H 'Origin: http://example.org' "$CHAIN_REST/cosmos/base/tendermint/v1beta1/node_info")"
grep -qi '^access-control-allow-origin: \*' <<<"$hdrs" || fail "REST has no CORS"
hdrs="$(curl -sfi -H 'Origin: http://example.org' "$CHAIN_RPC/status")"
grep -qi '^access-control-allow-origin: ' <<<"$hdrs" || fail "RPC has no CORS"

chaind() { "$chaind_bin" --home "$CHAIN_HOME" "$@"; }
TX=(--gas 800000 --fees 2000udot -y)
txok() { # txok ARGS...: broadcast, wait for inclusion, require code 0
	local out hash
	out="$(chaind "$@" "${TX[@]}" -o json)"
	hash="$(jq -r .txhash <<<"$out")"
	[ "$(jq -r .code <<<"$out")" = 0 ] || fail "tx $* refused: $(jq -r .raw_log <<<"$out")"
	wait_for 60 "tx $hash included" chaind q tx "$hash"
	[ "$(chaind q tx "$hash" | jq -r .code)" = 0 ] || fail "tx $* failed: $(chaind q tx "$hash" | jq -r .raw_log)"
}

[ "${HOSTERS:-0}" -ge 3 ] || fail "the devnet runs ${HOSTERS:-0} hosters, want at least 3"
say "2. the devnet's $HOSTERS hoster daemons registered; an order of 3 replicas is placed, pushed and turns active"
hosters_active() { [ "$(curl -sf "$CHAIN_REST/datdot/storage/v1/hosters" | jq '[.hosters[] | select(.status == "HOSTER_STATUS_ACTIVE")] | length')" = "$HOSTERS" ]; }
wait_for 60 "$HOSTERS active hosters on chain" hosters_active
"$datdot" core new --dir "$work/core" >/dev/null
"$datdot" core append --dir "$work/core" "$work/photo.bin" >/dev/null
"$datdot" core info --dir "$work/core" >"$work/core.json"
bytes="$(jq -r .byte_length "$work/core.json")"
max_price=1000
per_slot=$(( (max_price * bytes + (1 << 30) - 1) / (1 << 30) ))
txok tx storage place-order "$work/core.json" --replicas 3 --max-price "$max_price" --duration 200 --deposit "$((3 * per_slot * 200))udot" --from alice
alice="$(chaind keys show alice -a --keyring-backend test)"
order="$(chaind q storage orders-by-owner "$alice" | jq -r '.orders[-1].id')"
[ "$order" != null ] || fail "no order of alice"
"$datdot" core push --dir "$work/core" --order "$order" --chain.grpc "$CHAIN_GRPC" --chain.rpc "$CHAIN_RPC" >/dev/null
order_active() { [ "$(chaind q storage order "$order" | jq -r .order.status)" = ORDER_STATUS_ACTIVE ]; }
wait_for 120 "order $order active (the hosters commit by themselves)" order_active
expect_hosters="$HOSTERS"
"$datdot" status --home "$home" >"$work/status.out"
grep -q "^hosters     $HOSTERS ($HOSTERS active)" "$work/status.out" || fail "datdot status: $(cat "$work/status.out")"
grep -q "^orders      1 (1 active)" "$work/status.out" || fail "datdot status: $(cat "$work/status.out")"

# With x/attest on the chain, the hosters answer challenges: the dashboard
# must show passed ones.
expect_challenges=0
curl -sf "$CHAIN_REST/datdot/attest/v1/params" >/dev/null && expect_challenges=1

say "2. the dashboard shows it live in headless Chromium"
cp "$repo"/dashboard/test/*.mjs "$js/"
DASHBOARD_URL="$DASHBOARD_URL" EXPECT_HOSTERS="$expect_hosters" EXPECT_ORDER="$order" EXPECT_BUCKET="$S3_BUCKET" EXPECT_OBJECTS=2 \
	EXPECT_CHALLENGES="$expect_challenges" SCREENSHOT="${DASHBOARD_SCREENSHOT:-}" node "$js/dashboard.test.mjs"

say "3. a stock CosmJS client reads balances, sends tokens and decodes storage events"
DASHBOARD_URL="$DASHBOARD_URL" KEYS_DIR="$CHAIN_HOME/keys" EXPECT_ORDER_OWNER="$alice" node "$js/wallet.test.mjs"

say "4. SIGKILL of the whole process group, then a restart resumes"
h1="$(height)"
kill -KILL -- "-$pid"
wait "$pid" 2>/dev/null || true
expect_exit=1
wait_for 30 "every devnet process gone after SIGKILL" no_process_left "$pid"
pid=""
expect_exit=0
start_devnet 2
grep -q "DatDot devnet is running (resumed" "$work/devnet2.out" || fail "the restart did not resume"
[ "$(height)" -ge "$h1" ] || fail "height $(height) < $h1 before the kill: the chain did not continue"
wait_for 60 "blocks after the restart" height_above "$h1"
aws --endpoint-url "$S3_ENDPOINT" s3 cp "s3://$S3_BUCKET/photo.bin" "$work/back2.bin" --only-show-errors
cmp "$work/photo.bin" "$work/back2.bin" || fail "acknowledged object lost across SIGKILL"
[ "$(curl -sf "$CHAIN_REST/datdot/storage/v1/orders/$order" | jq -r .order.status)" = ORDER_STATUS_ACTIVE ] || fail "order $order not active after the restart"
key="$(jq -r .key "$work/core.json")"
len="$(jq -r .length "$work/core.json")"
holds_core() { [ "$(curl -sf "$1/v1/cores/$key" | jq -r .length)" = "$len" ]; }
for h in $(curl -sf "$CHAIN_REST/datdot/storage/v1/orders/$order" | jq -r '.assignments[].assignment.hoster'); do
	ep="$(curl -sf "$CHAIN_REST/datdot/storage/v1/hosters/$h" | jq -r .hoster.endpoint)"
	wait_for 60 "hoster $ep serves the whole core after the restart" holds_core "$ep"
done

say "5. a hoster that dies is reported and the rest goes on"
h_pid="$(sed -n "s/.*msg=started process=hoster$HOSTERS pid=\\([0-9]*\\).*/\\1/p" "$work/devnet2.out" | tail -n 1)"
[ -n "$h_pid" ] || fail "the devnet did not log hoster$HOSTERS's pid"
kill -KILL "$h_pid"
hoster_reported() { grep -q "hoster$HOSTERS stopped on its own" "$work/devnet2.out" && grep -q "hoster$HOSTERS is not restarted" "$work/devnet2.out"; }
wait_for 60 "the hoster's death is reported" hoster_reported
alive "$pid" || fail "the devnet stopped when a hoster died"
h2="$(height)"
wait_for 60 "blocks go on without the hoster" height_above "$h2"

say "5. a dead gateway is reported and stops the devnet (not restarted)"
gw_pid="$(sed -n 's/.*msg=started process=gateway pid=\([0-9]*\).*/\1/p' "$work/devnet2.out" | tail -n 1)"
[ -n "$gw_pid" ] || fail "the devnet did not log the gateway's pid"
kill -KILL "$gw_pid"
expect_exit=1
wait_for 60 "the devnet stops after its gateway died" devnet_exited
wait "$pid" && fail "the devnet exited 0 after its gateway died" || true
grep -q "gateway stopped on its own (killed by killed)\|gateway stopped on its own" "$work/devnet2.out" || fail "the gateway's death was not reported"
[ "$(grep -c 'msg=started process=gateway' "$work/devnet2.out")" = 1 ] || fail "the gateway was restarted"
wait_for 30 "no process left after the devnet stopped" no_process_left "$pid"
pid=""

say "6. Ctrl-C (SIGINT) stops everything"
expect_exit=0
start_devnet 3
kill -INT -- "-$pid"
expect_exit=1
wait_for 60 "the devnet exits after SIGINT" devnet_exited
wait "$pid" || fail "the devnet exited non-zero on SIGINT"
wait_for 30 "no process left after SIGINT" no_process_left "$pid"
grep -q "devnet: stopping" "$work/devnet3.out" || fail "no stop message"
pid=""
say "devnet e2e passed"
