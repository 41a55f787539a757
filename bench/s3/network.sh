#!/usr/bin/env bash
# The S3 benchmark of the network backend with real hosters on this machine,
# side by side in one run with the local backend and versitygw:
#
#   a one-validator chain (scripts/localnet.sh, free ports) and six
#   `datdot hoster` processes; then, one after the other, each on its own
#   free port and temporary data directory, the harness in this directory
#   (aws-sdk-go-v2, concurrency 8, 64 KiB / 1 MiB / 16 MiB, PUT then GET):
#   1. datdot gateway --backend local
#   2. datdot gateway --backend network --cache-bytes $CACHE (GETs of the
#      just-written objects come from the block cache), paying with alice
#   3. datdot gateway --backend network --cache-bytes 0 (every GET reads
#      from the hosters: fastest k of n, decoded if needed, decrypted),
#      paying with bob
#   4. versitygw (posix backend, plain local disk), if installed
#   Both network gateways use volumes of k=4 data and m=2 parity cores.
#   At the end it prints the storage overhead (bytes the hosters hold / bytes
#   PUT through the network gateways) and the on-chain transactions per GiB
#   written (the gateways' keys' txs: order placements and extensions).
#
# usage: bench/s3/network.sh [harness flags...]   (after make build)
# env:   DATDOT, DATDOTCHAIND  binaries (default build/datdot, build/datdotchaind)
#        VERSITYGW  versitygw binary (default: on PATH or $(go env GOPATH)/bin)
#        CACHE      cache of run 2 in bytes (default 1 GiB)
#        ONLY       subset of "local cache nocache versitygw"
#        BLOCK_TIME the chain's block time (default 1s, CometBFT's default;
#                   scripts/localnet.sh uses 200ms for quick tests, which
#                   costs this shared machine a third of a core)
#        SIZES      object sizes, run one after the other (default
#                   "64KiB 1MiB 16MiB"); after each, the CPU seconds the
#                   gateway, the six hosters and the chain used are printed
#        PROFILE    a directory: write a CPU profile (pprof) of the gateway,
#                   hoster 1 and the chain node for each size (the first
#                   PSEC seconds, default 8)
#        KEEP=1     keep the temporary directory
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
datdot=${DATDOT:-$root/build/datdot}
chaind_bin=${DATDOTCHAIND:-$root/build/datdotchaind}
vgw=${VERSITYGW:-$(command -v versitygw || echo "$(go env GOPATH)/bin/versitygw")}
only=${ONLY:-local cache nocache versitygw}
cache=${CACHE:-1073741824}
AK=BENCHACCESSKEY00001
SK=bench-secret-key-000000000000000000000001
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(-max-bytes 256MiB -duration 20s)
sizes=${SIZES:-64KiB 1MiB 16MiB}
profile=${PROFILE:-}
[ -z "$profile" ] || mkdir -p "$profile"

for b in "$datdot" "$chaind_bin"; do [ -x "$b" ] || { echo "bench: $b missing (make build)" >&2; exit 2; }; done

tmp=$(mktemp -d /tmp/s3-netbench.XXXXXX)
home="$tmp/chain"
pids=()
cleanup() {
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	[ -f "$home/localnet.pid" ] && kill "$(cat "$home/localnet.pid")" 2>/dev/null || true
	[ "${KEEP:-0}" = 1 ] && echo "kept $tmp" || rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { # wait_up URL PID LOG
	for _ in $(seq 1 600); do
		curl -s -o /dev/null "$1" && return 0
		kill -0 "$2" 2>/dev/null || { echo "bench: server exited at start:" >&2; tail -20 "$3" >&2; return 1; }
		sleep 0.2
	done
	echo "bench: $1 did not come up" >&2
	return 1
}

go build -o "$tmp/s3bench" "$root/bench/s3"

[ -z "$profile" ] || export LOCALNET_PPROF="127.0.0.1:$(free_port)"
export LOCALNET_BLOCK_TIME="${BLOCK_TIME:-1s}" LOCALNET_HOME="$home" LOCALNET_EXTRA_ACCOUNTS=3 LOCALNET_BIN="$chaind_bin"
export LOCALNET_RPC_PORT="$(free_port)" LOCALNET_P2P_PORT="$(free_port)"
export LOCALNET_GRPC_PORT="$(free_port)" LOCALNET_API_PORT="$(free_port)"
echo "== chain and six hosters"
bash "$root/scripts/localnet.sh" --background >"$tmp/localnet.out"
grpc="127.0.0.1:$LOCALNET_GRPC_PORT" rpc="http://127.0.0.1:$LOCALNET_RPC_PORT"
chaind() { "$chaind_bin" --home "$home" "$@"; }
hports=() hpids=() hpprof=()
for i in 1 2 3 4 5 6; do
	key=hoster$i
	[ "$i" -le 3 ] || key=user$((i - 3))
	port=$(free_port)
	"$datdot" hoster init --home "$tmp/h$i" --listen "127.0.0.1:$port" --endpoint "http://127.0.0.1:$port" \
		--capacity 34359738368 --reserve 1048576 --region "r$i" --price 100 --stake 5000000udot \
		--chain.grpc "$grpc" --chain.rpc "$rpc" --chain.keyring_dir "$home" --chain.keyring_backend test --chain.key "$key" >/dev/null
	"$datdot" hoster register --home "$tmp/h$i" >/dev/null
	pp=()
	[ -z "$profile" ] || { hpprof[i]=$(free_port); pp=(--debug.pprof "127.0.0.1:${hpprof[i]}"); }
	DATDOT_HOSTER_SCRUB_PAUSE=1h "$datdot" hoster start --home "$tmp/h$i" "${pp[@]}" >"$tmp/h$i.log" 2>&1 &
	pids+=($!) hpids+=($!)
	wait_up "http://127.0.0.1:$port/v1/health" "$!" "$tmp/h$i.log"
	hports+=("$port")
done

# cpu PID...: the CPU time (user + system) the processes used, in ticks.
cpu() {
	local t=0 p
	for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
	echo "$t"
}
ticks=$(getconf CLK_TCK)
secs() { awk -v t="$1" -v h="$ticks" 'BEGIN{printf "%.2f", t/h}'; }
held() { # the bytes the hosters hold
	local p n=0
	for p in "${hports[@]}"; do n=$((n + $(curl -sf "http://127.0.0.1:$p/v1/health" | jq -r .used_bytes))); done
	echo "$n"
}

bench() { # LABEL GATEWAY-FLAGS...
	local label=$1 port gpid chainpid pp=() sz g0 h0 c0 prof
	shift
	port=$(free_port)
	mkdir -p "$tmp/gw-$label"
	[ -z "$profile" ] || pp=(--debug.pprof "127.0.0.1:$(free_port)")
	"$datdot" gateway --listen "127.0.0.1:$port" --data "$tmp/gw-$label" --key "$AK:$SK" --log-level warn "${pp[@]}" "$@" >"$tmp/gw-$label.log" 2>&1 &
	gpid=$!
	pids+=($gpid)
	wait_up "http://127.0.0.1:$port/" "$gpid" "$tmp/gw-$label.log"
	chainpid=$(cat "$home/localnet.pid")
	# Warm up: the first PUT of a network gateway waits for its volume's
	# order to be placed and assigned.
	"$tmp/s3bench" -endpoint "http://127.0.0.1:$port" -access-key "$AK" -secret-key "$SK" -sizes 64KiB -count 8 -label warmup >/dev/null
	: >"$tmp/out-$label"
	for sz in $sizes; do
		g0=$(cpu "$gpid") h0=$(cpu "${hpids[@]}") c0=$(cpu "$chainpid") prof= u0=$(held)
		if [ -n "$profile" ]; then
			curl -s -o "$profile/$label-$sz.gateway.pprof" "http://${pp[1]}/debug/pprof/profile?seconds=${PSEC:-8}" &
			prof=$!
			curl -s -o "$profile/$label-$sz.hoster1.pprof" "http://127.0.0.1:${hpprof[1]}/debug/pprof/profile?seconds=${PSEC:-8}" &
			prof="$prof $!"
			curl -s -o "$profile/$label-$sz.chain.pprof" "http://$LOCALNET_PPROF/debug/pprof/profile?seconds=${PSEC:-8}" &
			prof="$prof $!"
		fi
		"$tmp/s3bench" -endpoint "http://127.0.0.1:$port" -access-key "$AK" -secret-key "$SK" -label "datdot $label: $*" -sizes "$sz" "${args[@]}" | tee -a "$tmp/out-$label" ||
			{ echo "bench: $label failed; gateway log tail:" >&2; tail -20 "$tmp/gw-$label.log" >&2; exit 1; }
		[ -z "$prof" ] || wait $prof
		put=$(tail -1 "$tmp/out-$label" | awk '/^bytes written by PUTs:/ {print $5}')
		u1=$(($(held) - u0))
		echo "held by the hosters for $sz: +$u1 bytes for $put bytes PUT, x$(awk -v a="$u1" -v b="$put" 'BEGIN{printf "%.3f", a/b}')"
		echo "CPU seconds for $sz (PUT and GET): gateway $(secs $(($(cpu "$gpid") - g0))), six hosters $(secs $(($(cpu "${hpids[@]}") - h0))), chain $(secs $(($(cpu "$chainpid") - c0)))"
	done
	kill "$gpid" && wait "$gpid" 2>/dev/null || true
}

net=(--backend network --erasure-k 4 --erasure-m 2 --chain.grpc "$grpc" --chain.rpc "$rpc" --chain.keyring-dir "$home"
	--chain.keyring-backend test --order.max-price 1000 --order.epochs 1000 --order.deposit 1000000000udot)
[[ " $only " != *" local "* ]] || bench local --backend local
[[ " $only " != *" cache "* ]] || bench network-cache "${net[@]}" --chain.key alice --cache-bytes "$cache"
[[ " $only " != *" nocache "* ]] || bench network-nocache "${net[@]}" --chain.key bob --cache-bytes 0

if [[ " $only " == *" versitygw "* ]]; then
	if [ -x "$vgw" ]; then
		port=$(free_port)
		mkdir -p "$tmp/versitygw"
		"$vgw" --port "127.0.0.1:$port" --access "$AK" --secret "$SK" --quiet posix "$tmp/versitygw" >"$tmp/versitygw.log" 2>&1 &
		vpid=$!
		pids+=($vpid)
		wait_up "http://127.0.0.1:$port/" "$vpid" "$tmp/versitygw.log"
		for sz in $sizes; do
			v0=$(cpu "$vpid")
			"$tmp/s3bench" -endpoint "http://127.0.0.1:$port" -access-key "$AK" -secret-key "$SK" -label "versitygw (posix; bench/s3/run.sh says how to install v1.8.0)" -sizes "$sz" "${args[@]}"
			echo "CPU seconds for $sz (PUT and GET): versitygw $(secs $(($(cpu "$vpid") - v0)))"
		done
	else
		echo "bench: versitygw not found at $vgw: skipped (see bench/s3/run.sh for how to install it)"
	fi
fi

# Storage overhead and transactions, over the network runs.
written=0
for l in network-cache network-nocache; do
	[ -f "$tmp/out-$l" ] || continue
	written=$((written + $(awk '/^bytes written by PUTs:/ {n += $5} END {print n + 0}' "$tmp/out-$l")))
done
if [ "$written" -gt 0 ]; then
	held=$(held)
	ntx=0
	for k in alice bob; do
		a=$(chaind keys show "$k" -a --keyring-backend test)
		ntx=$((ntx + $(chaind q txs --query "message.sender='$a'" -o json | jq -r '.total_count // (.txs | length)')))
	done
	echo
	echo "network runs: $written bytes PUT (plus warm-ups), $held bytes held by the hosters:" \
		"overhead x$(awk -v a="$held" -v b="$written" 'BEGIN{printf "%.3f", a/b}')," \
		"$ntx on-chain txs = $(awk -v t="$ntx" -v b="$written" 'BEGIN{printf "%.2f", t/(b/1073741824)}') txs per GiB written"
fi
