# scripts/e2e/lib/net.sh: free_port and set_toml, the two helpers that the
# scripts which start chains for people (localnet.sh, multinode.sh) share
# with the end-to-end scripts (lib/e2e.sh sources this file). Sourced, never
# run; it defines nothing else, so it clashes with no script's functions.
#
#   free_port                 a loopback port nobody listens on, below the
#                             kernel's ephemeral range (32768-) so that no
#                             outgoing connection takes it later; never the
#                             same port twice in one script
#   set_toml FILE SECTION KEY VALUE
#                             set KEY inside [SECTION] ("" = top level) of a
#                             TOML file; fails when KEY is not there

: "${taken:= }"

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

set_toml() { # FILE SECTION KEY VALUE
	local file="$1" section="$2" key="$3" value="$4"
	awk -v section="$section" -v key="$key" -v value="$value" '
		BEGIN { cur = "" }
		/^\[.*\]$/ { cur = substr($0, 2, length($0) - 2) }
		cur == section && $0 ~ "^" key " *=" { print key " = " value; done = 1; next }
		{ print }
		END { if (!done) exit 3 }
	' "$file" >"$file.tmp" || { echo "set_toml: $key not found in [$section] of $file" >&2; rm -f "$file.tmp"; exit 1; }
	mv "$file.tmp" "$file"
}
