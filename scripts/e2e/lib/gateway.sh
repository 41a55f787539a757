# scripts/e2e/lib/gateway.sh: for the S3 scripts that run only a gateway on
# its local backend, no chain (s3-clients, s3-retention). Sourced, never
# run; it defines the three functions below (and lib/net.sh's free_port
# and set_toml), nothing else, so the scripts keep their own fail. They set
# work and gwpid="" before the EXIT trap.
#
#   e2e_local_gateway BIN PORT [FLAG...]  start `BIN gateway --backend local
#                             --listen 127.0.0.1:PORT FLAG...` (log appended
#                             to $work/gateway.log, pid in gwpid) and wait
#                             until it answers
#   e2e_gateway_up URL WHAT   wait (60 s) until URL answers HTTP; fail early,
#                             saying WHAT, when the gateway $gwpid has exited
#   e2e_gateway_exit NAME N   EXIT trap: stop $gwpid, on failure print the
#                             last N lines of its log, remove $work (KEEP=1
#                             keeps it)

. "$(dirname "${BASH_SOURCE[0]}")/net.sh"

e2e_local_gateway() { # BIN PORT [FLAG...]
	local bin="$1" port="$2"; shift 2
	"$bin" gateway --backend local --listen "127.0.0.1:$port" "$@" >>"$work/gateway.log" 2>&1 &
	gwpid=$!
	e2e_gateway_up "http://127.0.0.1:$port/" "the gateway on 127.0.0.1:$port"
}

e2e_gateway_up() { # URL WHAT
	local end=$((SECONDS + 60))
	until curl -s -m 2 -o /dev/null "$1"; do
		if [ -n "$gwpid" ] && ! kill -0 "$gwpid" 2>/dev/null; then
			fail "$2 exited: $(tail -n 20 "$work/gateway.log")"
			return 1
		fi
		if [ "$SECONDS" -ge "$end" ]; then
			fail "$2 did not answer on $1 within 60 s"
			return 1
		fi
		sleep 0.1
	done
}

e2e_gateway_exit() { # NAME TAIL_LINES
	local rc=$?
	if [ -n "$gwpid" ] && kill -0 "$gwpid" 2>/dev/null; then
		kill "$gwpid" 2>/dev/null || true
		wait "$gwpid" 2>/dev/null || true
	fi
	if [ "$rc" -ne 0 ] && [ -f "$work/gateway.log" ]; then
		echo "$1: last lines of the gateway log:" >&2
		tail -n "$2" "$work/gateway.log" >&2
	fi
	if [ "${KEEP:-0}" = 1 ]; then
		echo "$1: kept $work"
	else
		rm -rf "$work"
	fi
	exit "$rc"
}
