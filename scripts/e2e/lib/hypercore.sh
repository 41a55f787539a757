# scripts/e2e/lib/hypercore.sh: the reference JS hypercore for the scripts
# that talk to it (dat-hoster, dat-wire). Sourced, never run.
#
#   hypercore_js ROOT   find ../shared/hypercore beside the repository ROOT
#                       (in a git worktree: beside the main checkout), unless
#                       HYPERCORE_SHARED names it; install it into
#                       ROOT/build/hypercore-js (scripts/setup/hypercore.sh,
#                       quick when it is there); export HYPERCORE_SHARED and
#                       NODE_PATH for node

hypercore_js() { # ROOT
	local root="$1" common
	if [ -z "${HYPERCORE_SHARED:-}" ]; then
		HYPERCORE_SHARED=$root/../shared/hypercore
		if [ ! -d "$HYPERCORE_SHARED" ]; then
			common=$(git -C "$root" rev-parse --path-format=absolute --git-common-dir 2>/dev/null || true)
			[ -n "$common" ] && HYPERCORE_SHARED=$(dirname "$common")/../shared/hypercore
		fi
	fi
	export HYPERCORE_SHARED
	bash "$root/scripts/setup/hypercore.sh" >/dev/null
	export NODE_PATH=$root/build/hypercore-js/node_modules
}
