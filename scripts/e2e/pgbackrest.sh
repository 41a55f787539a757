#!/usr/bin/env bash
# End-to-end test of PostgreSQL backups through the S3 gateway with pgBackRest
# (Debian's package, unmodified). The gateway serves HTTPS with a self-signed
# certificate that pgBackRest checks (repo1-storage-ca-file, no verify-tls=n);
# the repository is encrypted (repo1-cipher-type). Steps, each asserted:
#   a PostgreSQL cluster with a pgbench database, WAL archived with
#   pgbackrest archive-push; stanza-create and check; a full backup; more
#   pgbench transactions and an incremental backup; a named restore point,
#   then changes after it; a restore of the latest state into a new
#   data directory and a point-in-time restore to the restore point into
#   another, each compared with the original table by table (row count and an
#   md5 over every row); a client with another CA is refused; the objects in
#   the bucket are ciphertext; expiring the incremental backup deletes its
#   objects; some files went up as multipart uploads and no request got a 5xx
#   (from the gateway's access log).
# Everything runs in a temp dir on free ports; the trap stops every postgres
# and the gateway on exit and on failure. As root (CI) the database and
# pgBackRest run as the 'postgres' system user (runuser), as PostgreSQL
# refuses to run as root.
#
# usage: scripts/e2e/pgbackrest.sh   (after `make build`; packages from scripts/setup/pgbackrest.sh)
# env:   DATDOT=path/to/datdot  KEEP=1 (keep the temp dir)  PGBR_SCALE=pgbench scale (default 1)
#        PGBR_PROCESS_MAX=pgBackRest processes (default 4)  PGBR_COMPRESS=compress-type (default lz4)
#        PGBR_GATEWAY_FLAGS=extra gateway flags  PGBR_LOG_LEVEL_FILE=pgBackRest log-level-file (default info)
#        PGBR_FULL_ONLY=1: stop after the full backup (bench/pgbackrest/run.sh times it)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
datdot=${DATDOT:-$root/build/datdot}
scale=${PGBR_SCALE:-1}
procs=${PGBR_PROCESS_MAX:-4}
compress=${PGBR_COMPRESS:-lz4}

fail() {
	echo "pgbackrest-e2e: FAIL: $*" >&2
	exit 1
}
step() { echo "pgbackrest-e2e: [${SECONDS}s] $*"; }

for t in pgbackrest openssl curl python3 sha256sum; do
	command -v "$t" >/dev/null || fail "missing tool '$t' (run scripts/setup/pgbackrest.sh)"
done
[ -x "$datdot" ] || fail "$datdot not built (run make build)"
# The newest installed PostgreSQL's programs (Debian keeps them out of PATH).
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$pgbin" ] && [ -x "$pgbin/pgbench" ] || fail "no PostgreSQL with pgbench under /usr/lib/postgresql (run scripts/setup/pgbackrest.sh)"

# As root, run PostgreSQL and pgBackRest as the 'postgres' user.
if [ "$(id -u)" -eq 0 ]; then
	getent passwd postgres >/dev/null || fail "no 'postgres' user (Debian's postgresql package creates it)"
	as_pg() { runuser -u postgres -- "$@"; }
else
	as_pg() { "$@"; }
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/pgbr-e2e.XXXXXX")
chmod 755 "$work"
cd "$work" # the postgres user may not be able to enter the caller's directory
gwpid=""
clusters=() # data directories of clusters started here
cleanup() {
	rc=$?
	trap - ERR
	local d pid
	for d in "${clusters[@]}"; do
		[ -f "$d/postmaster.pid" ] || continue
		as_pg "$pgbin/pg_ctl" -D "$d" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
		if [ -f "$d/postmaster.pid" ]; then
			pid=$(head -n 1 "$d/postmaster.pid")
			[ -z "$pid" ] || kill -9 "$pid" 2>/dev/null || true
		fi
	done
	if [ -n "$gwpid" ] && kill -0 "$gwpid" 2>/dev/null; then
		kill "$gwpid" 2>/dev/null || true
		wait "$gwpid" 2>/dev/null || true
	fi
	if [ "$rc" -ne 0 ]; then
		for f in "$work"/gateway.log "$work"/pg/log/*.log "$work"/pg/*.log; do
			[ -s "$f" ] || continue
			echo "pgbackrest-e2e: last lines of $f:" >&2
			tail -n 30 "$f" >&2
		done
	fi
	echo "pgbackrest-e2e: [${SECONDS}s] stopped" >&2
	if [ "${KEEP:-0}" = 1 ]; then
		echo "pgbackrest-e2e: kept $work"
	else
		rm -rf "$work"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'echo "pgbackrest-e2e: FAIL: line $LINENO: $BASH_COMMAND" >&2' ERR
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- the gateway over TLS ---------------------------------------------------
# A self-signed certificate for 127.0.0.1 and localhost, and a second one that
# must not be trusted (to show pgBackRest really checks the certificate).
step "self-signed certificates"
mkdir -p "$work/tls"
for n in gw other; do
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -sha256 -days 2 -nodes -subj "/CN=datdot-e2e-$n" \
		-addext "subjectAltName=IP:127.0.0.1,DNS:localhost" -addext "basicConstraints=critical,CA:TRUE" \
		-keyout "$work/tls/$n.key" -out "$work/tls/$n.crt" >/dev/null 2>&1 || fail "openssl req ($n)"
done
chmod 644 "$work/tls/"*.crt

AK=PGBRE2EACCESSKEY0001
SK=pgbr-e2e-secret-key-000000000000000000001
# pgBackRest 2.45 matches the certificate against DNS names only (not IP
# addresses): it connects to 'localhost', so the gateway listens on the address
# localhost resolves to first, as pgBackRest connects to that one.
lhost=$(getent ahosts localhost | awk 'NR == 1 { print $1 }')
case "$lhost" in
127.*) listen=$lhost ;;
::1) listen="[::1]" ;;
*) fail "localhost resolves to '$lhost', not a loopback address" ;;
esac
port=$(free_port)
endpoint="https://localhost:$port"
step "gateway on $endpoint (local backend, TLS)"
"$datdot" gateway --backend local --listen "$listen:$port" --data "$work/gw" --key "$AK:$SK" \
	--tls-cert "$work/tls/gw.crt" --tls-key "$work/tls/gw.key" --access-log ${PGBR_GATEWAY_FLAGS:-} >"$work/gateway.log" 2>&1 &
gwpid=$!
up=0
for _ in $(seq 1 300); do
	if curl -s -m 2 -o /dev/null --cacert "$work/tls/gw.crt" "$endpoint/"; then
		up=1
		break
	fi
	kill -0 "$gwpid" 2>/dev/null || fail "gateway exited at start: $(cat "$work/gateway.log")"
	sleep 0.1
done
[ "$up" = 1 ] || fail "gateway did not answer on $endpoint within 30 s"
# Plain HTTP on the TLS port is not served.
code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://$listen:$port/" || true)
[ "$code" != 200 ] && [ "$code" != 403 ] || fail "plain HTTP on the TLS port answered $code"

bucket=pgbr-e2e
# curl signs SigV4 but does not add the payload hash S3 requires.
empty_sha=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
code=$(curl -s -m 30 -o "$work/mb.out" -w '%{http_code}' --cacert "$work/tls/gw.crt" \
	--aws-sigv4 "aws:amz:us-east-1:s3" --user "$AK:$SK" -H "x-amz-content-sha256: $empty_sha" -X PUT "$endpoint/$bucket" || true)
[ "$code" = 200 ] || fail "create bucket $bucket over TLS: HTTP $code $(cat "$work/mb.out")"

# --- PostgreSQL and pgBackRest ----------------------------------------------
pgport=$(free_port)
# Everything PostgreSQL and pgBackRest write goes under $pw (theirs when root).
pw=$work/pg
mkdir -p "$pw/sock" "$pw/log" "$pw/lock" "$pw/spool"
[ "$(id -u)" -ne 0 ] || chown -R postgres: "$pw"
pg=$pw/data
conf=$work/pgbackrest.conf
stanza=e2e
cat >"$conf" <<EOF
[global]
repo1-type=s3
repo1-path=/repo
repo1-s3-bucket=$bucket
repo1-s3-endpoint=localhost
repo1-storage-port=$port
repo1-s3-uri-style=path
repo1-s3-region=us-east-1
repo1-s3-key=$AK
repo1-s3-key-secret=$SK
repo1-storage-ca-file=$work/tls/gw.crt
repo1-cipher-type=aes-256-cbc
repo1-cipher-pass=pgbr-e2e-repository-passphrase
repo1-retention-full=2
process-max=$procs
compress-type=$compress
start-fast=y
log-path=$pw/log
lock-path=$pw/lock
spool-path=$pw/spool
log-level-console=warn
log-level-file=${PGBR_LOG_LEVEL_FILE:-info}

[$stanza]
pg1-path=$pg
pg1-port=$pgport
pg1-socket-path=$pw/sock
EOF
as_pg test -r "$conf" || fail "user $(as_pg id -un) cannot read $conf: give it a TMPDIR it can enter"
pgbr() { as_pg pgbackrest --config="$conf" --stanza="$stanza" "$@"; }
psqlc() { # psqlc PORT DB SQL: one value per line, no headers
	as_pg "$pgbin/psql" -X -q -v ON_ERROR_STOP=1 -h "$pw/sock" -p "$1" -d "$2" -Atc "$3"
}

step "initdb (data checksums) and start PostgreSQL on port $pgport"
as_pg "$pgbin/initdb" --no-sync --data-checksums -A trust -U postgres -D "$pg" >"$pw/initdb.log" 2>&1 || fail "initdb: $(tail -5 "$pw/initdb.log")"
cat >>"$pg/postgresql.conf" <<EOF
port = $pgport
listen_addresses = ''
unix_socket_directories = '$pw/sock'
wal_level = replica
archive_mode = on
archive_command = 'pgbackrest --config=$conf --stanza=$stanza archive-push %p'
max_wal_size = 256MB
# A test cluster: no waiting on the disk (backups read the files, not the fsyncs).
fsync = off
synchronous_commit = off
EOF
clusters+=("$pg")
as_pg "$pgbin/pg_ctl" -D "$pg" -l "$pw/pg.log" -w -t 120 start >/dev/null || fail "pg_ctl start"

step "pgbench database (scale $scale)"
psqlc "$pgport" postgres "create database bench" >/dev/null
as_pg "$pgbin/pgbench" -h "$pw/sock" -p "$pgport" -i -s "$scale" -q bench >"$pw/pgbench-init.log" 2>&1 || fail "pgbench -i: $(tail -5 "$pw/pgbench-init.log")"

# Random bytes compress to nothing less: this table's file (about 16 MB, over
# 8 MB of it random) goes up in several parts (pgBackRest's 5 MiB chunks).
# (Not with PGBR_FULL_ONLY: the benchmark times the pgbench database alone.)
if [ "${PGBR_FULL_ONLY:-0}" != 1 ]; then
	psqlc "$pgport" bench "create table blobs (id int primary key, r bytea);
		insert into blobs select g, decode(md5(random()::text) || md5(random()::text), 'hex') from generate_series(1, 250000) g" >/dev/null
fi

step "stanza-create and check (archive-push over TLS)"
pgbr stanza-create || fail "pgbackrest stanza-create"
pgbr check || fail "pgbackrest check"

step "full backup"
pgbr backup --type=full || fail "pgbackrest backup --type=full"
# The time pgBackRest logged for it (informational, nothing asserted).
full=$(grep -h 'full backup size' "$pw"/log/$stanza-backup.log | tail -n 1 | sed 's/.*INFO: //')
took=$(grep -h 'backup command end' "$pw"/log/$stanza-backup.log | tail -n 1 | sed 's/.*(\(.*\))/\1/')
step "  $full, $took (process-max $procs, compress-type $compress, encrypted)"
if [ "${PGBR_FULL_ONLY:-0}" = 1 ]; then
	# The same backup into a repository on the local disk, without the
	# gateway: what pgBackRest itself takes (reading, compressing, encrypting).
	posix=(--repo1-type=posix --repo1-path="$pw/posix-repo")
	pgbr "${posix[@]}" stanza-create || fail "stanza-create on a posix repository"
	pgbr "${posix[@]}" backup --type=full --no-archive-check || fail "full backup to a posix repository"
	took=$(grep -h 'backup command end' "$pw"/log/$stanza-backup.log | tail -n 1 | sed 's/.*(\(.*\))/\1/')
	step "  the same to a posix repository on the local disk: $took"
	step "PASS (full backup only)"
	exit 0
fi

step "pgbench transactions, a new table, incremental backup"
as_pg "$pgbin/pgbench" -h "$pw/sock" -p "$pgport" -n -c 2 -t 250 bench >"$pw/pgbench-run.log" 2>&1 || fail "pgbench run: $(tail -5 "$pw/pgbench-run.log")"
psqlc "$pgport" bench "create table notes (id int primary key, body text); insert into notes select g, md5(g::text) from generate_series(1, 5000) g;
	update blobs set r = decode(md5(random()::text), 'hex') where id % 100 = 0" >/dev/null
pgbr backup --type=incr || fail "pgbackrest backup --type=incr"

# A snapshot of every table: name, row count and md5 over all rows in order.
tables="pgbench_accounts pgbench_branches pgbench_tellers pgbench_history notes blobs"
snapshot() { # snapshot PORT
	local t
	for t in $tables; do
		psqlc "$1" bench "select '$t', count(*), md5(coalesce(string_agg(x::text, E'\n' order by x::text), '')) from $t x" |
			tr '|' ' ' || return 1
	done
}

step "restore point, then changes after it"
psqlc "$pgport" bench "update notes set body = 'changed before the restore point' where id <= 10" >/dev/null
snapshot "$pgport" >"$work/at-point.txt"
psqlc "$pgport" postgres "select pg_create_restore_point('e2e_point')" >/dev/null
as_pg "$pgbin/pgbench" -h "$pw/sock" -p "$pgport" -n -c 1 -t 100 bench >>"$pw/pgbench-run.log" 2>&1 || fail "pgbench run after the restore point"
psqlc "$pgport" bench "delete from notes where id > 4000; insert into notes values (9001, 'after the restore point')" >/dev/null
snapshot "$pgport" >"$work/final.txt"
cmp -s "$work/at-point.txt" "$work/final.txt" && fail "the changes after the restore point changed nothing"
# check switches the WAL segment and waits until it is archived: every change
# above is then in the repository.
pgbr check || fail "pgbackrest check after the changes"
step "info"
pgbr info --output=json >"$work/info.json" || fail "pgbackrest info"
python3 - "$work/info.json" <<'PY' || fail "pgbackrest info does not show one full and one incr backup: $(cat "$work/info.json")"
import json, sys
info = json.load(open(sys.argv[1]))
st = info[0]
assert st["status"]["code"] == 0, st["status"]
types = [b["type"] for b in st["backup"]]
assert types == ["full", "incr"], types
PY

restore_and_compare() { # restore_and_compare NAME EXPECTED_SNAPSHOT [restore options...]
	local name=$1 want=$2 dir=$pw/$1 p
	shift 2
	p=$(free_port)
		pgbr --pg1-path="$dir" restore "$@" || fail "pgbackrest restore ($name)"
	clusters+=("$dir")
	# Not archiving from the restored copy: it shares the stanza with the original.
	as_pg "$pgbin/pg_ctl" -D "$dir" -l "$pw/pg-$name.log" -w -t 120 \
		-o "-p $p -c archive_mode=off -c unix_socket_directories=$pw/sock" start >/dev/null || fail "starting the restored cluster ($name)"
	# pg_ctl returns once connections are accepted; recovery may still be
	# replaying WAL (hot standby): wait until it has ended.
	local done=0
	for _ in $(seq 1 600); do
		if [ "$(psqlc "$p" postgres "select pg_is_in_recovery()" 2>/dev/null)" = f ]; then
			done=1
			break
		fi
		sleep 0.2
	done
	[ "$done" = 1 ] || fail "restored cluster ($name) still in recovery after 120 s"
	snapshot "$p" >"$work/$name.txt" || fail "reading the restored cluster ($name)"
	diff "$want" "$work/$name.txt" >&2 || fail "restored cluster ($name) differs from the original (above: < original, > restored)"
	as_pg "$pgbin/pg_ctl" -D "$dir" -m fast -w -t 120 stop >/dev/null || fail "stopping the restored cluster ($name)"
	as_pg "$pgbin/pg_checksums" --check -D "$dir" >/dev/null || fail "pg_checksums of the restored cluster ($name)"
}

step "restore the latest state into a new data directory"
restore_and_compare latest "$work/final.txt"
step "point-in-time restore to the restore point into another"
restore_and_compare pitr "$work/at-point.txt" --type=name --target=e2e_point --target-action=promote

step "a client that does not trust the gateway's certificate is refused"
# (info reports an unreachable repository in its output and exits 0; repo-ls fails.)
if as_pg pgbackrest --config="$conf" --stanza="$stanza" --repo1-storage-ca-file="$work/tls/other.crt" --io-timeout=5 repo-ls >"$work/untrusted.out" 2>&1; then
	fail "pgbackrest repo-ls with another CA file succeeded: $(cat "$work/untrusted.out")"
fi
grep -qi 'certificate\|tls\|ssl' "$work/untrusted.out" || fail "pgbackrest with another CA failed for another reason: $(cat "$work/untrusted.out")"

step "the repository is encrypted"
code=$(curl -s -m 30 -o "$work/backup.info" -w '%{http_code}' --cacert "$work/tls/gw.crt" \
	--aws-sigv4 "aws:amz:us-east-1:s3" --user "$AK:$SK" -H "x-amz-content-sha256: $empty_sha" "$endpoint/$bucket/repo/backup/$stanza/backup.info" || true)
[ "$code" = 200 ] || fail "GET backup.info: HTTP $code"
[ "$(head -c 8 "$work/backup.info")" = "Salted__" ] || fail "backup.info in the bucket is not pgBackRest ciphertext: $(head -c 64 "$work/backup.info" | od -c | head -3)"

step "expire the incremental backup (its objects are deleted)"
incr=$(python3 -c 'import json,sys; print([b["label"] for b in json.load(open(sys.argv[1]))[0]["backup"] if b["type"] == "incr"][0])' "$work/info.json")
as_pg pgbackrest --config="$conf" --stanza="$stanza" repo-ls "backup/$stanza/$incr" >"$work/incr-before.txt" || fail "repo-ls of the incr backup"
[ -s "$work/incr-before.txt" ] || fail "repo-ls shows nothing in backup/$stanza/$incr"
pgbr expire --set="$incr" || fail "pgbackrest expire --set=$incr"
pgbr info --output=json >"$work/info2.json" || fail "pgbackrest info after expire"
python3 - "$work/info2.json" <<'PY' || fail "after expire, info does not show the full backup alone: $(cat "$work/info2.json")"
import json, sys
st = json.load(open(sys.argv[1]))[0]
assert [b["type"] for b in st["backup"]] == ["full"], st["backup"]
PY
as_pg pgbackrest --config="$conf" --stanza="$stanza" repo-ls "backup/$stanza/$incr" >"$work/incr-after.txt" || fail "repo-ls after expire"
[ ! -s "$work/incr-after.txt" ] || fail "objects of the expired backup remain: $(head -5 "$work/incr-after.txt")"

# What went over the wire (the access log): multipart uploads completed and
# nothing answered 5xx.
grep -q '"op":"CompleteMultipartUpload".*"status":200' "$work/gateway.log" || fail "no multipart upload completed (the test meant to exercise them)"
if grep '"msg":"access"' "$work/gateway.log" | grep -q '"status":5'; then
	fail "the gateway answered 5xx: $(grep '"msg":"access"' "$work/gateway.log" | grep '"status":5' | head -3)"
fi
step "requests: $(grep -c '"msg":"access"' "$work/gateway.log") ($(grep -c '"op":"UploadPart"' "$work/gateway.log") parts)"

step "PASS (pgbench scale $scale, process-max $procs)"
