# scripts/e2e/lib/e2e.sh: the setup the end-to-end scripts share — a
# one-validator chain on free ports, hoster processes, clean-up on exit.
# It is sourced, never run: the Makefile runs scripts/e2e/*.sh, and this
# file sits one directory below them so that it is not taken for a test.
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib/e2e.sh"
#   e2e_init NAME [TOOL...]   repo, chaind_bin, datdot_bin, work, home, the
#                             EXIT trap; fails when a build output or a TOOL
#                             is missing
#   say TEXT / fail TEXT      a step (with the seconds since the start) / stop
#   free_port                 a loopback port nobody listens on, below the
#                             kernel's ephemeral range (from lib/net.sh)
#   until_ok T WHAT CMD...    poll CMD every 0.2 s until it succeeds, fail
#                             after T seconds (tests wait on conditions);
#                             a function e2e_poll_guard, when the script
#                             defines one, is called with WHAT on every
#                             poll, to fail early (the process under test
#                             has exited)
#   stop_pid PID SIGNAL       signal PID and wait until it has exited;
#                             fails when it still runs after 120 s
#   e2e_chain                 start the chain: grpc, rpc, chain_flags, and
#                             the chaind/addr functions; LOCALNET_* settings
#                             exported before (LOCALNET_EPOCH_BLOCKS,
#                             LOCALNET_GENESIS_JQ, ...) reach localnet.sh
#   tx FROM ARGS...           `chaind tx ARGS --from FROM "${txflags[@]}"`,
#                             wait until it is in a block, print the result
#                             (a refused tx prints the refusal)
#   tx_ok FROM ARGS...        the same, failing unless the tx succeeded
#                             (txflags: 800000 gas, 2000udot fee, test
#                             keyring, unless the script sets its own)
#   e2e_hosters N [KEYFN]     init, register and start hosters 1..N in
#                             $work/hI (port in $work/hI/port, log in
#                             $work/hI/log, pid in hpid[hI]) and wait until N
#                             are ACTIVE on chain; KEYFN I names hoster I's
#                             key (default hosterI)
#   start_hoster I [FLAG...]  (re)start hoster I and wait for its health
#   stop_hoster I SIGNAL      stop hoster I and wait until it has exited
#
# Hooks for the hosters, all optional:
#   e2e_hoster_init_hook I        a function; it may set the array
#                                 hoster_init_flags to more `hoster init`
#                                 flags for hoster I
#   e2e_hoster_registered_hook I  a function, called for each hoster once
#                                 all are registered, before they start
#   hoster_flags=(...)            more `hoster start` flags, every start
#   SCRUB_PAUSE                   the scrubber's pause (default 1h)
#
# On exit: the functions in e2e_on_exit run (with the exit status), then
# the gateway ($gwpid), every pid in e2e_pids, the hosters and the chain are
# stopped; on failure the step and the last lines of the logs matching
# e2e_logs (globs) are printed; KEEP=1 keeps $work.

. "$(dirname "${BASH_SOURCE[0]}")/net.sh"

e2e_init() { # NAME [TOOL...]
	e2e_name="$1"; shift
	repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
	chaind_bin="$repo/build/datdotchaind"
	datdot_bin="$repo/build/datdot"
	local b t
	for b in "$chaind_bin" "$datdot_bin"; do
		[ -x "$b" ] || { echo "$e2e_name: $b missing; run make build" >&2; exit 1; }
	done
	for t in jq "$@"; do
		command -v "$t" >/dev/null || { echo "$e2e_name: $t missing (scripts/setup)" >&2; exit 1; }
	done
	work="$(mktemp -d "${TMPDIR:-/tmp}/datdot-$e2e_name.XXXXXX")"
	home="$work/chain"
	step=""
	declare -gA hpid=()
	gwpid=""
	e2e_pids=()
	e2e_logs=("$work/gw.log" "$work/h*/log")
	e2e_on_exit=()
	hoster_flags=()
	txflags=(--gas 800000 --fees 2000udot --keyring-backend test -y -o json)
	taken=" "
	trap e2e_cleanup EXIT INT TERM
}

stop_pid() { # PID SIGNAL
	local p="$1" end=$((SECONDS + 120))
	[ -n "$p" ] || return 0
	kill "-$2" "$p" 2>/dev/null || true
	# A gateway's last metadata-log sync alone may take 30 s on a loaded
	# machine: wait on the exit itself, and say so if it never comes (the
	# next step would otherwise meet the old process on its port).
	while kill -0 "$p" 2>/dev/null; do
		if [ "$SECONDS" -ge "$end" ]; then
			echo "$e2e_name: pid $p still runs 120 s after SIG$2" >&2
			return 1
		fi
		sleep 0.1
	done
}

e2e_cleanup() {
	local rc=$? n p f g
	trap - EXIT INT TERM
	for f in "${e2e_on_exit[@]}"; do "$f" "$rc" || true; done
	stop_pid "$gwpid" TERM || true
	for p in "${e2e_pids[@]}"; do stop_pid "$p" TERM || true; done
	for n in "${!hpid[@]}"; do stop_pid "${hpid[$n]}" TERM || true; done
	if [ -f "$home/localnet.pid" ]; then
		stop_pid "$(cat "$home/localnet.pid")" TERM || true
	fi
	if [ "$rc" -ne 0 ]; then
		echo "$e2e_name: FAILED at step: $step" >&2
		for g in "${e2e_logs[@]}"; do
			for f in $g; do
				[ -f "$f" ] && { echo "--- last lines of $f" >&2; tail -n 25 "$f" >&2; }
			done
		done
		[ -f "$home/node.log" ] && { echo "--- last node log lines" >&2; tail -n 10 "$home/node.log" >&2; }
	fi
	if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
	exit "$rc"
}

fail() { echo "$e2e_name: $*" >&2; exit 1; }
say() { step="$*"; echo "== [${SECONDS}s] $*"; }

until_ok() { # TIMEOUT_S DESCRIPTION CMD...
	local t="$1" what="$2"; shift 2
	local end=$((SECONDS + t))
	while ! "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$end" ] || fail "timed out after ${t}s waiting for: $what"
		if declare -F e2e_poll_guard >/dev/null; then e2e_poll_guard "$what"; fi
		sleep 0.2
	done
}

chaind() { "$chaind_bin" --home "$home" "$@"; }
addr() { chaind keys show "$1" -a --keyring-backend test; }

e2e_chain() {
	export LOCALNET_HOME="$home"
	export LOCALNET_RPC_PORT="$(free_port)" LOCALNET_P2P_PORT="$(free_port)"
	export LOCALNET_GRPC_PORT="$(free_port)" LOCALNET_API_PORT="$(free_port)"
	say "start a local chain"
	bash "$repo/scripts/localnet.sh" --background >"$work/localnet.out"
	grep -q '^PID=' "$work/localnet.out" || fail "localnet did not report a pid"
	grpc="127.0.0.1:$LOCALNET_GRPC_PORT"
	rpc="http://127.0.0.1:$LOCALNET_RPC_PORT"
	chain_flags=(--chain.grpc "$grpc" --chain.rpc "$rpc")
}

# tx FROM ARGS...: broadcast, wait for the block, print the committed result.
tx() {
	local from="$1"; shift
	local out hash
	out="$(chaind tx "$@" --from "$from" "${txflags[@]}")" || fail "tx $* from $from: CLI error: $out"
	if [ "$(jq -r '.code' <<<"$out")" != 0 ]; then
		echo "$out"
		return
	fi
	hash="$(jq -r '.txhash' <<<"$out")"
	until_ok 120 "tx $hash included in a block" chaind q tx "$hash" -o json
	chaind q tx "$hash" -o json
}
tx_ok() {
	local res
	res="$(tx "$@")"
	[ "$(jq -r '.code' <<<"$res")" = 0 ] || fail "tx $* failed: $(jq -r '.raw_log' <<<"$res")"
	echo "$res"
}

e2e_hoster_key() { echo "hoster$1"; }

# e2e_spawn_hoster I [FLAG...]: start hoster I in the background.
e2e_spawn_hoster() {
	local i="$1"; shift
	DATDOT_HOSTER_SCRUB_PAUSE="${SCRUB_PAUSE:-1h}" "$datdot_bin" hoster start --home "$work/h$i" \
		"${hoster_flags[@]}" "$@" >>"$work/h$i/log" 2>&1 &
	hpid[h$i]=$!
	# No "Killed" line when a test SIGKILLs it.
	disown "$!" 2>/dev/null || true
}

start_hoster() { # I [FLAG...]
	e2e_spawn_hoster "$@"
	until_ok 120 "hoster $1 answers /v1/health" curl -sf "http://$(cat "$work/h$1/port")/v1/health"
}

stop_hoster() { # I SIGNAL
	stop_pid "${hpid[h$1]:-}" "$2"
	hpid[h$1]=""
}

e2e_active_hosters() { # N
	[ "$(chaind q storage hosters -o json | jq '[.hosters[] | select(.status == "HOSTER_STATUS_ACTIVE")] | length')" = "$1" ]
}

e2e_hosters() { # N [KEYFN]
	local n="$1" keyfn="${2:-e2e_hoster_key}" i port
	say "$n hosters: datdot hoster init, register, start"
	local pids=() p
	for i in $(seq 1 "$n"); do
		port="$(free_port)"
		hoster_init_flags=()
		if declare -F e2e_hoster_init_hook >/dev/null; then e2e_hoster_init_hook "$i"; fi
		"$datdot_bin" hoster init --home "$work/h$i" --listen "127.0.0.1:$port" --endpoint "http://127.0.0.1:$port" \
			--capacity 1073741824 --reserve 1048576 --region "r$i" --price 100 --stake 5000000udot \
			"${chain_flags[@]}" --chain.keyring_dir "$home" --chain.keyring_backend test --chain.key "$("$keyfn" "$i")" \
			"${hoster_init_flags[@]}" >/dev/null
		echo "127.0.0.1:$port" >"$work/h$i/port"
		# Each hoster registers with its own key: the txs go in together.
		"$datdot_bin" hoster register --home "$work/h$i" >"$work/h$i/register.out" 2>&1 &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || fail "hoster register failed: $(cat "$work"/h*/register.out)"; done
	if declare -F e2e_hoster_registered_hook >/dev/null; then
		for i in $(seq 1 "$n"); do e2e_hoster_registered_hook "$i"; done
	fi
	for i in $(seq 1 "$n"); do e2e_spawn_hoster "$i"; done
	for i in $(seq 1 "$n"); do
		until_ok 120 "hoster $i answers /v1/health" curl -sf "http://$(cat "$work/h$i/port")/v1/health"
	done
	until_ok 120 "$n active hosters" e2e_active_hosters "$n"
}
