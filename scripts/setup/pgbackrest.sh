#!/usr/bin/env bash
# Installs what scripts/e2e/pgbackrest.sh needs: Debian's PostgreSQL server
# (postgresql), pgbench (postgresql-contrib), pgBackRest, openssl for the
# self-signed certificate and curl for creating the bucket. Idempotent:
# apt-get runs only when a package is missing. The Debian packages create the
# 'postgres' system user that the e2e runs the database as when it is root.
set -euo pipefail
pkgs=(postgresql postgresql-contrib pgbackrest openssl curl)
missing=()
for p in "${pkgs[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	echo "pgbackrest setup: installing ${missing[*]}"
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -qq >/dev/null
	# No service start: the e2e runs its own cluster in a temp dir.
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
		$sudo chmod +x /usr/sbin/policy-rc.d
		trap '$sudo rm -f /usr/sbin/policy-rc.d' EXIT
	fi
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
