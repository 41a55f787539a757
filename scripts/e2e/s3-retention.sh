#!/usr/bin/env bash
# End-to-end test of the gateway's retention features with real clients
# (Debian's awscli and restic): lifecycle rules applied by the upkeep worker
# (its interval and the length of a lifecycle "day" shortened by flags), and
# a restic repository in a bucket with S3 Object Lock and a default
# retention, whose versions no delete can remove — not by id, not with the
# governance bypass on a COMPLIANCE lock, not by a lifecycle rule.
#
# Starts build/datdot gateway on a free loopback port with a temporary data
# dir, `--maintenance-interval 1s --lifecycle-day 2s`. Every wait polls a
# condition with a generous timeout; nothing sleeps and then asserts.
#
# usage: scripts/e2e/s3-retention.sh   (after `make build`; tools from scripts/setup/s3.sh)
# env:   DATDOT=path/to/datdot  KEEP=1 (keep the temp dir)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
datdot=${DATDOT:-$root/build/datdot}
AWS=${S3_E2E_AWS:-/usr/bin/aws}
[ -x "$AWS" ] || AWS=$(command -v aws || true)

fail() {
	echo "s3-retention: FAIL: $*" >&2
	exit 1
}
step() { echo "s3-retention: [$1] $2"; }

for t in "$AWS" restic curl jq; do
	[ -n "$t" ] && command -v "$t" >/dev/null || fail "missing tool '$t' (run scripts/setup/s3.sh)"
done
[ -x "$datdot" ] || fail "$datdot not built (run make build)"

. "$(dirname "${BASH_SOURCE[0]}")/lib/gateway.sh"
work=$(mktemp -d /tmp/s3-retention.XXXXXX)
gwpid=""
trap 'e2e_gateway_exit s3-retention 30' EXIT
trap 'echo "s3-retention: FAIL: line $LINENO: $BASH_COMMAND" >&2' ERR
trap 'exit 130' INT TERM

AK=E2ERETENTIONKEY00001
SK=e2e-retention-secret-00000000000000000001
port=$(free_port)
endpoint="http://127.0.0.1:$port"
e2e_local_gateway "$datdot" "$port" --data "$work/data" --key "$AK:$SK" --maintenance-interval 1s --lifecycle-day 2s
echo "s3-retention: gateway pid $gwpid on $endpoint"

export AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE=$work/aws-config AWS_SHARED_CREDENTIALS_FILE=$work/aws-credentials
export AWS_EC2_METADATA_DISABLED=true AWS_PAGER=""
: >"$AWS_CONFIG_FILE"
: >"$AWS_SHARED_CREDENTIALS_FILE"
aws() { "$AWS" --endpoint-url "$endpoint" "$@"; }

# wait_for SECONDS WHAT CMD...: poll CMD until it succeeds.
wait_for() {
	local secs=$1 what=$2
	shift 2
	local end=$((SECONDS + secs))
	until "$@"; do
		[ "$SECONDS" -lt "$end" ] || fail "$what: not within ${secs}s"
		sleep 0.5
	done
}
versions_of() { # versions_of BUCKET KEY: version ids of KEY (not delete markers), one a line
	aws s3api list-object-versions --bucket "$1" --prefix "$2" | jq -r --arg k "$2" '(.Versions // [])[] | select(.Key == $k) | .VersionId'
}

# --- lifecycle: NoncurrentVersionExpiration ---------------------------------
b=e2e-lifecycle
step lifecycle "versioned bucket, three versions of a key, a rule expiring noncurrent versions after 1 day (2 s here)"
aws s3api create-bucket --bucket "$b" >/dev/null || fail "create-bucket $b"
aws s3api put-bucket-versioning --bucket "$b" --versioning-configuration Status=Enabled || fail "put-bucket-versioning"
for i in 1 2 3; do
	printf 'version %s\n' "$i" >"$work/v$i.txt"
	aws s3api put-object --bucket "$b" --key db/dump.sql --body "$work/v$i.txt" >/dev/null || fail "put version $i"
done
printf 'outside the rule\n' >"$work/keep.txt"
aws s3api put-object --bucket "$b" --key other/keep.txt --body "$work/keep.txt" >/dev/null || fail "put other/keep.txt"
aws s3api put-object --bucket "$b" --key other/keep.txt --body "$work/keep.txt" >/dev/null || fail "put other/keep.txt again"
n=$(versions_of "$b" db/dump.sql | wc -l)
[ "$n" = 3 ] || fail "versions before the rule: $n, want 3"
cat >"$work/lc.json" <<'JSON'
{"Rules":[{"ID":"old-dumps","Status":"Enabled","Filter":{"Prefix":"db/"},"NoncurrentVersionExpiration":{"NoncurrentDays":1}}]}
JSON
aws s3api put-bucket-lifecycle-configuration --bucket "$b" --lifecycle-configuration "file://$work/lc.json" || fail "put-bucket-lifecycle-configuration"
rule=$(aws s3api get-bucket-lifecycle-configuration --bucket "$b" | jq -r '.Rules[0].NoncurrentVersionExpiration.NoncurrentDays') || fail "get-bucket-lifecycle-configuration"
[ "$rule" = 1 ] || fail "lifecycle rule read back: NoncurrentDays=$rule"
step lifecycle "the worker removes the two noncurrent versions; the current one and other keys stay"
one_left() { [ "$(versions_of "$b" db/dump.sql | wc -l)" = 1 ]; }
wait_for 120 "noncurrent versions expired by the lifecycle worker" one_left
aws s3 cp "s3://$b/db/dump.sql" "$work/dump.got" >/dev/null || fail "get the current version"
cmp -s "$work/dump.got" "$work/v3.txt" || fail "the current version changed"
n=$(versions_of "$b" other/keep.txt | wc -l)
[ "$n" = 2 ] || fail "versions outside the rule's prefix: $n, want 2"

# --- restic in a bucket with object lock and a default retention ------------
b=e2e-locked
step objectlock "bucket with object lock, default retention COMPLIANCE 1 day"
aws s3api create-bucket --bucket "$b" --object-lock-enabled-for-bucket >/dev/null || fail "create-bucket --object-lock-enabled-for-bucket"
st=$(aws s3api get-bucket-versioning --bucket "$b" | jq -r .Status) || fail "get-bucket-versioning"
[ "$st" = Enabled ] || fail "versioning of an object lock bucket: $st"
aws s3api put-object-lock-configuration --bucket "$b" \
	--object-lock-configuration '{"ObjectLockEnabled":"Enabled","Rule":{"DefaultRetention":{"Mode":"COMPLIANCE","Days":1}}}' ||
	fail "put-object-lock-configuration"
mode=$(aws s3api get-object-lock-configuration --bucket "$b" | jq -r .ObjectLockConfiguration.Rule.DefaultRetention.Mode) || fail "get-object-lock-configuration"
[ "$mode" = COMPLIANCE ] || fail "default retention read back: $mode"
if out=$(aws s3api put-bucket-versioning --bucket "$b" --versioning-configuration Status=Suspended 2>&1); then
	fail "versioning suspended on an object lock bucket"
fi
[[ "$out" == *InvalidBucketState* ]] || fail "suspend versioning under object lock: want InvalidBucketState, got: $out"

step objectlock "restic init, backup, check --read-data, restore"
mkdir -p "$work/tree/sub"
head -c 3000000 /dev/urandom >"$work/tree/a.bin"
head -c 200000 /dev/urandom >"$work/tree/sub/b.bin"
printf 'hello restic\n' >"$work/tree/sub/c.txt"
export RESTIC_PASSWORD=e2e-retention-password RESTIC_CACHE_DIR=$work/restic-cache
repo="s3:$endpoint/$b/repo"
rs() { restic -r "$repo" --quiet "$@"; }
rs init >/dev/null 2>"$work/restic.log" || fail "restic init in an object lock bucket: $(tail -3 "$work/restic.log")"
rs backup --host e2e "$work/tree" >/dev/null 2>"$work/restic.log" || fail "restic backup: $(tail -3 "$work/restic.log")"
rs check --read-data >/dev/null 2>"$work/restic.log" || fail "restic check --read-data: $(tail -3 "$work/restic.log")"
rs restore latest --target "$work/restored" >/dev/null 2>"$work/restic.log" || fail "restic restore: $(tail -3 "$work/restic.log")"
diff -r "$work/tree" "$work/restored$work/tree" >/dev/null || fail "restic restore differs from the backed-up tree"

step objectlock "every object restic wrote carries the default retention"
aws s3api list-object-versions --bucket "$b" --prefix repo/ >"$work/vers.json" || fail "list-object-versions"
nv=$(jq '.Versions | length' "$work/vers.json")
[ "$nv" -gt 3 ] || fail "restic wrote only $nv objects"
key=$(jq -r '[.Versions[] | select(.Key | startswith("repo/data/"))][0].Key' "$work/vers.json")
vid=$(jq -r --arg k "$key" '.Versions[] | select(.Key == $k) | .VersionId' "$work/vers.json")
[ -n "$key" ] && [ "$key" != null ] || fail "no data pack in the repository"
ret=$(aws s3api get-object-retention --bucket "$b" --key "$key" --version-id "$vid" | jq -r .Retention.Mode) || fail "get-object-retention of $key"
[ "$ret" = COMPLIANCE ] || fail "retention of restic's $key: $ret, want COMPLIANCE"

step objectlock "a delete of a locked version is refused, with or without the governance bypass"
for bypass in "" --bypass-governance-retention; do
	if out=$(aws s3api delete-object --bucket "$b" --key "$key" --version-id "$vid" $bypass 2>&1); then
		fail "deleted a COMPLIANCE-locked version ${bypass:+with $bypass}"
	fi
	[[ "$out" == *AccessDenied* ]] || fail "delete of a locked version: want AccessDenied, got: $out"
done
jq '{Objects: [.Versions[] | {Key, VersionId}], Quiet: true}' "$work/vers.json" >"$work/delall.json"
aws s3api delete-objects --bucket "$b" --delete "file://$work/delall.json" >"$work/delout.json" || fail "delete-objects"
ne=$(jq -s 'map(.Errors // []) | add // [] | length' "$work/delout.json")
[ "$ne" = "$nv" ] || fail "delete-objects of every version: $ne refused of $nv"
shorter=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
if out=$(aws s3api put-object-retention --bucket "$b" --key "$key" --version-id "$vid" \
	--retention "{\"Mode\":\"COMPLIANCE\",\"RetainUntilDate\":\"$shorter\"}" --bypass-governance-retention 2>&1); then
	fail "a COMPLIANCE retention was shortened"
fi
[[ "$out" == *AccessDenied* ]] || fail "shorten a COMPLIANCE retention: want AccessDenied, got: $out"

step objectlock "an attacker's rm -r only adds delete markers: restic reads everything back from the versions"
aws s3 rm --recursive "s3://$b/repo" >/dev/null || fail "aws s3 rm --recursive"
left=$(aws s3api list-objects-v2 --bucket "$b" --prefix repo/ | jq -s 'map(.Contents // []) | add // [] | length')
[ "$left" = 0 ] || fail "objects listed after rm: $left"
aws s3api list-object-versions --bucket "$b" --prefix repo/ >"$work/vers2.json" || fail "list-object-versions after rm"
n2=$(jq '.Versions | length' "$work/vers2.json")
[ "$n2" = "$nv" ] || fail "versions after rm: $n2, want $nv"
# Undo the attack by deleting its delete markers (they carry no lock); the
# markers restic itself put over its lock files stay, or its old locks
# would come back.
jq '{Objects: [.DeleteMarkers[] | select(.IsLatest and (.Key | startswith("repo/locks/") | not)) | {Key, VersionId}], Quiet: true}' "$work/vers2.json" >"$work/markers.json"
aws s3api delete-objects --bucket "$b" --delete "file://$work/markers.json" >"$work/delout2.json" || fail "delete the delete markers"
# (Quiet: awscli prints nothing when nothing failed.)
[ "$(jq -s 'map(.Errors // []) | add // [] | length' "$work/delout2.json")" = 0 ] || fail "deleting delete markers: $(cat "$work/delout2.json")"
rs check --read-data >/dev/null 2>"$work/restic.log" || fail "restic check --read-data after the undo: $(tail -3 "$work/restic.log")"

step objectlock "lifecycle in the locked bucket removes an expired noncurrent version, never a locked one"
# A probe whose own retention ends in 20 s; its key sorts after restic's, so
# when the worker has removed it, it has also walked past restic's versions.
aws s3api put-bucket-lifecycle-configuration --bucket "$b" \
	--lifecycle-configuration '{"Rules":[{"ID":"all","Status":"Enabled","Filter":{"Prefix":""},"NoncurrentVersionExpiration":{"NoncurrentDays":1}}]}' ||
	fail "put-bucket-lifecycle-configuration on the locked bucket"
aws s3 rm "s3://$b/$key" >/dev/null || fail "put a delete marker over $key"
until20=$(date -u -d '+20 seconds' +%Y-%m-%dT%H:%M:%SZ)
printf 'probe\n' >"$work/probe.txt"
aws s3api put-object --bucket "$b" --key zz-probe --body "$work/probe.txt" \
	--object-lock-mode GOVERNANCE --object-lock-retain-until-date "$until20" >/dev/null || fail "put the probe"
aws s3 rm "s3://$b/zz-probe" >/dev/null || fail "delete marker over the probe"
probe_gone() { [ -z "$(versions_of "$b" zz-probe)" ]; }
wait_for 120 "the probe's noncurrent version expired by lifecycle" probe_gone
[ "$(versions_of "$b" "$key")" = "$vid" ] || fail "lifecycle removed the locked noncurrent version of $key"

echo "s3-retention: all steps passed"
