#!/usr/bin/env bash
# What GETs cost, old binary against new, on identical data: one local
# chain (scripts/localnet.sh, free ports), six `datdot hoster` processes and
# one network gateway data directory (k=4 m=2, cache off). Objects of each
# size are PUT once (with the first binary, -put-only -keep); then every
# round starts each gateway binary in turn on the same data directory and
# GETs every size (-get-only -keep), printing ops/s and the CPU ticks
# (1/100 s, from /proc) the gateway and the six hosters used per GET. The
# machine's load moves wall-clock numbers; alternating the binaries within
# one run, CPU per GET is what to compare.
#
# usage: BINS="old=/path/datdot new=/path/datdot" bench/s3/get-ab.sh   (after make build)
# env:   ROOT       the worktree (default: this repository)
#        BINS       label=binary pairs of gateways, the first also PUTs
#        HOSTER     hoster binary (default $ROOT/build/datdot)
#        DATDOTCHAIND  chain binary (default $ROOT/build/datdotchaind)
#        ROUNDS (2), SIZES ("64KiB 1MiB 16MiB"), BT block time (1s),
#        GETARGS    harness flags of a GET phase (-max-bytes 1GiB -duration 10s)
#        PROF=1 OUT=prefix  pprof CPU profiles of the gateway and hoster 1
#                   per phase: prefix-label-rN-size.gw / .h1
set -euo pipefail
root=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
chaind_bin=${DATDOTCHAIND:-$root/build/datdotchaind}
hbin=${HOSTER:-$root/build/datdot}
AK=BENCHACCESSKEY00001
SK=bench-secret-key-000000000000000000000001
tmp=$(mktemp -d /tmp/s3-getab.XXXXXX)
home="$tmp/chain"
pids=()
gpid=
cleanup() {
	[ -z "$gpid" ] || { kill "$gpid" 2>/dev/null; wait "$gpid" 2>/dev/null; } || true
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	[ -f "$home/localnet.pid" ] && kill "$(cat "$home/localnet.pid")" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() {
	for _ in $(seq 1 600); do
		curl -s -o /dev/null "$1" && return 0
		kill -0 "$2" 2>/dev/null || { echo "bench: server exited at start:" >&2; tail -20 "$3" >&2; return 1; }
		sleep 0.2
	done
	echo "bench: $1 did not come up" >&2; return 1
}
go build -o "$tmp/s3bench" "$root/bench/s3"
export LOCALNET_BLOCK_TIME=${BT:-1s} LOCALNET_HOME="$home" LOCALNET_EXTRA_ACCOUNTS=3 LOCALNET_BIN="$chaind_bin"
export LOCALNET_RPC_PORT="$(free_port)" LOCALNET_P2P_PORT="$(free_port)"
export LOCALNET_GRPC_PORT="$(free_port)" LOCALNET_API_PORT="$(free_port)"
echo "== chain and six hosters"
bash "$root/scripts/localnet.sh" --background >"$tmp/localnet.out"
grpc="127.0.0.1:$LOCALNET_GRPC_PORT" rpc="http://127.0.0.1:$LOCALNET_RPC_PORT"
hports=(); hpids=()
for i in 1 2 3 4 5 6; do
	key=hoster$i; [ "$i" -le 3 ] || key=user$((i - 3))
	port=$(free_port)
	"$hbin" hoster init --home "$tmp/h$i" --listen "127.0.0.1:$port" --endpoint "http://127.0.0.1:$port" \
		--capacity 34359738368 --reserve 1048576 --region "r$i" --price 100 --stake 5000000udot \
		--chain.grpc "$grpc" --chain.rpc "$rpc" --chain.keyring_dir "$home" --chain.keyring_backend test --chain.key "$key" >/dev/null
	"$hbin" hoster register --home "$tmp/h$i" >/dev/null
	hpp[$i]=$(free_port); DATDOT_HOSTER_SCRUB_PAUSE=1h "$hbin" hoster start --home "$tmp/h$i" --debug.pprof 127.0.0.1:${hpp[$i]} >"$tmp/h$i.log" 2>&1 &
	pids+=($!); hpids+=($!)
	wait_up "http://127.0.0.1:$port/v1/health" "$!" "$tmp/h$i.log"
	hports+=("$port")
done
cpu() { local t=0; for p in "$@"; do t=$((t + $(awk '{print $14+$15}' /proc/$p/stat))); done; echo $t; }
net=(--backend network --erasure-k 4 --erasure-m 2 --chain.grpc "$grpc" --chain.rpc "$rpc" --chain.keyring-dir "$home"
	--chain.keyring-backend test --order.max-price 1000 --order.epochs 1000 --order.deposit 1000000000udot --chain.key bob --cache-bytes 0)
mkdir -p "$tmp/gw"
start_gw() { # BIN
	port=$(free_port); pp=$(free_port)
	"$1" gateway --listen "127.0.0.1:$port" --debug.pprof 127.0.0.1:$pp --data "$tmp/gw" --key "$AK:$SK" --log-level warn "${net[@]}" ${GWEXTRA:-} >>"$tmp/gw.log" 2>&1 &
	gpid=$!
	wait_up "http://127.0.0.1:$port/" "$gpid" "$tmp/gw.log"
}
stop_gw() { kill "$gpid"; wait "$gpid" 2>/dev/null || true; }
sb() { "$tmp/s3bench" -endpoint "http://127.0.0.1:$port" -access-key "$AK" -secret-key "$SK" "$@"; }
read -r -a bins <<<"${BINS:?}"
first=${bins[0]#*=}
start_gw "$first"
sb -sizes 64KiB -count 8 -label warmup >/dev/null
sb -label warm -sizes 64KiB -bucket bk-warm -put-only -keep -count 64 >/dev/null
for sz in ${SIZES:-64KiB 1MiB 16MiB}; do
	sb -label PUT -sizes $sz -bucket bk-$(echo $sz | tr A-Z a-z) -put-only -keep -max-bytes 256MiB -duration 20s | grep -E "  PUT "
done
stop_gw
sleep 5
for r in $(seq 1 ${ROUNDS:-2}); do
	for b in "${bins[@]}"; do
		label=${b%%=*} bin=${b#*=}
		start_gw "$bin"
		sb -label "warm $label" -sizes 64KiB -bucket bk-warm -get-only -keep -count 64 >/dev/null
		for sz in ${SIZES:-64KiB 1MiB 16MiB}; do
			g0=$(cpu $gpid); h0=$(cpu ${hpids[@]})
			cp=
			if [ "${PROF:-0}" = 1 ]; then
				( curl -s -o ${OUT:?PROF=1 needs OUT}-$label-r$r-$sz.gw "http://127.0.0.1:$pp/debug/pprof/profile?seconds=${PSEC:-4}" & curl -s -o ${OUT:?PROF=1 needs OUT}-$label-r$r-$sz.h1 "http://127.0.0.1:${hpp[1]}/debug/pprof/profile?seconds=${PSEC:-4}"; wait ) &
				cp=$!
			fi
			out=$(sb -label "$label" -sizes $sz -bucket bk-$(echo $sz | tr A-Z a-z) -get-only -keep ${GETARGS:--max-bytes 1GiB -duration 10s} | grep -E "  GET ")
			g=$(( $(cpu $gpid) - g0 )); h=$(( $(cpu ${hpids[@]}) - h0 ))
			ops=$(echo "$out" | awk '{print $3}')
			echo "r$r $label $sz: $out | ticks gw $g hosters $h | per op ms gw $(awk -v t=$g -v n=$ops 'BEGIN{printf "%.3f", t*10/n}') h $(awk -v t=$h -v n=$ops 'BEGIN{printf "%.3f", t*10/n}')"
			[ -z "$cp" ] || wait $cp
		done
		stop_gw
	done
done
