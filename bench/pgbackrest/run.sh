#!/usr/bin/env bash
# Times pgBackRest's single-process full backup through the gateway, the
# measurement of issue 16 ("104 MB in 1,275 files took 30.8 s"): a pgbench
# database of scale 5 (104 MB in 1,275 files with PostgreSQL 15), one process,
# gz compression (pgBackRest's default), encrypted repository, over TLS to
# build/datdot gateway --backend local. It runs scripts/e2e/pgbackrest.sh up to
# the full backup and prints the time pgBackRest logged for it, then the same
# backup into a posix repository in the same temp dir (pgBackRest's own cost:
# reading, compressing, encrypting, fsyncing; no gateway). Nothing is
# asserted: the numbers depend on the machine, its load and its disk.
#
# usage: bench/pgbackrest/run.sh        (after make build and scripts/setup/pgbackrest.sh)
# env:   PGBR_SCALE (5)  PGBR_PROCESS_MAX (1)  PGBR_COMPRESS (gz)  PGBR_GATEWAY_FLAGS
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
PGBR_FULL_ONLY=1 PGBR_SCALE=${PGBR_SCALE:-5} PGBR_PROCESS_MAX=${PGBR_PROCESS_MAX:-1} PGBR_COMPRESS=${PGBR_COMPRESS:-gz} \
	exec "$root/scripts/e2e/pgbackrest.sh"
