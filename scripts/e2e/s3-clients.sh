#!/usr/bin/env bash
# End-to-end test of the S3 gateway with real, unmodified clients: Debian's
# awscli, rclone, s3cmd and restic, the AWS SDK for JavaScript v3, plus curl for
# anonymous and presigned requests, and
# a Mastodon-shaped media flow. Starts build/datdot gateway on a free loopback
# port with a temporary data dir and one key pair; every step is asserted and
# the script stops at the first failure with a message saying which step.
#
# usage: scripts/e2e/s3-clients.sh        (after `make build`; tools from scripts/setup/s3.sh)
# env:   DATDOT=path/to/datdot  KEEP=1 (keep the temp dir)  S3_E2E_ONLY="aws rclone s3cmd restic js mastodon more policy crash"
#        S3_E2E_ENDPOINT=http://127.0.0.1:PORT S3_E2E_KEY=AK:SK: drive an already running
#        server instead of starting the gateway (used to check this script on versitygw)
#        S3_E2E_KEEP_GOING=1: triage mode, go on after a failed step and list them all
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
datdot=${DATDOT:-$root/build/datdot}
only=${S3_E2E_ONLY:-aws rclone s3cmd restic js mastodon more policy crash}

# Debian's awscli (a newer one may come first on PATH, e.g. from pyenv).
# S3_E2E_AWS=path runs the awscli steps with another awscli (e.g. a v1 with a
# newer botocore that sends CRC32 checksums by default).
AWS=${S3_E2E_AWS:-/usr/bin/aws}
[ -x "$AWS" ] || AWS=$(command -v aws || true)

failures=0
fail() {
	echo "s3-e2e: FAIL: $*" >&2
	# S3_E2E_KEEP_GOING=1 (triage only): report every failing step, exit 1 at the end.
	if [ "${S3_E2E_KEEP_GOING:-0}" = 1 ]; then
		failures=$((failures + 1))
		return 0
	fi
	exit 1
}
step() { echo "s3-e2e: [${SECONDS}s] [$1] $2"; }

for t in "$AWS" rclone s3cmd restic node curl jq sha256sum; do
	[ -n "$t" ] && command -v "$t" >/dev/null || fail "missing tool '$t' (run scripts/setup/s3.sh)"
done
[ -n "${S3_E2E_ENDPOINT:-}" ] || [ -x "$datdot" ] || fail "$datdot not built (run make build)"

. "$(dirname "${BASH_SOURCE[0]}")/lib/gateway.sh"
work=$(mktemp -d /tmp/s3-e2e.XXXXXX)
gwpid=""
trap 'e2e_gateway_exit s3-e2e 40' EXIT
# A command that fails outside an asserted step still says where.
trap 'echo "s3-e2e: FAIL: line $LINENO: $BASH_COMMAND" >&2' ERR
trap 'exit 130' INT TERM

vdomain=${S3_E2E_DOMAIN:-s3.e2e.test} # base domain for virtual-host-style requests
AK=E2EACCESSKEY0000001
SK=e2e-secret-key-0000000000000000000000001
if [ -n "${S3_E2E_ENDPOINT:-}" ]; then
	# Drive a server that is already running (e.g. versitygw, to check this script).
	endpoint=$S3_E2E_ENDPOINT
	port=${endpoint##*:}
	AK=${S3_E2E_KEY%%:*}
	SK=${S3_E2E_KEY#*:}
else
	port=$(free_port)
	endpoint="http://127.0.0.1:$port"
fi
if [ -z "${S3_E2E_ENDPOINT:-}" ]; then
	e2e_local_gateway "$datdot" "$port" --data "$work/data" --key "$AK:$SK" --domain "$vdomain"
else
	e2e_gateway_up "$endpoint/" "the server"
fi
echo "s3-e2e: server ${gwpid:+pid $gwpid }on $endpoint"

http_code() { curl -s -m 60 -o "$1" -w '%{http_code}' "${@:2}" || true; }
# presigned URLs with response-* overrides and presigned PUTs (awscli cannot make them)
go build -o "$work/presign" "$root/tests/s3e2e/presign" || fail "building tests/s3e2e/presign"

# --- test data -------------------------------------------------------------
mkdir -p "$work/tree/sub/deeper" "$work/dl"
printf 'hello from the s3 e2e test\n' >"$work/small.txt"
head -c 17000 /dev/urandom >"$work/tree/a.bin"
printf 'b\n' >"$work/tree/b.txt"
printf '' >"$work/tree/empty.txt"
head -c 300000 /dev/urandom >"$work/tree/sub/c.bin"
printf 'name with spaces\n' >"$work/tree/sub/with space.txt"
printf 'unicode\n' >"$work/tree/sub/deeper/été-ü.txt"
# characters that SigV4 canonical URIs and listings must encode exactly right
for n in 'plus+sign' 'pct%41' 'semi;colon=eq&amp' 'tilde~star*' "quote'paren(1)" 'dollar$at@comma,'; do printf '%s\n' "$n" >"$work/tree/sub/$n.txt"; done
# > 15 MB so every client goes multipart; not a multiple of any part size.
head -c $((20 * 1024 * 1024 + 12345)) /dev/urandom >"$work/big.bin"
# big.bin as two multipart parts: 16 MiB and the rest
part1=$((16 * 1024 * 1024))
head -c "$part1" "$work/big.bin" >"$work/part1"
tail -c +$((part1 + 1)) "$work/big.bin" >"$work/part2"
sumof() { sha256sum "$1" | cut -d' ' -f1; }
same() { # same FILE1 FILE2 WHAT
	[ "$(sumof "$1")" = "$(sumof "$2")" ] || fail "$3: sha256 of downloaded $2 differs from uploaded $1"
}
same_tree() { # same_tree DIR1 DIR2 WHAT
	diff -r "$1" "$2" >/dev/null || fail "$3: trees differ: $(diff -rq "$1" "$2" | head -5)"
}

# --- awscli ----------------------------------------------------------------
export AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE=$work/aws-config AWS_SHARED_CREDENTIALS_FILE=$work/aws-credentials
export AWS_EC2_METADATA_DISABLED=true AWS_PAGER=""
: >"$AWS_CONFIG_FILE"
: >"$AWS_SHARED_CREDENTIALS_FILE"
aws() { "$AWS" --endpoint-url "$endpoint" "$@"; }

if [[ " $only " == *" aws "* ]]; then
	b=e2e-awscli
	step aws "make bucket"
	aws s3 mb "s3://$b" >/dev/null || fail "aws s3 mb s3://$b"
	aws s3 ls | grep -q " $b\$" || fail "aws s3 ls does not list bucket $b"
	step aws "put/get/ls small object"
	aws s3 cp "$work/small.txt" "s3://$b/dir/small.txt" >/dev/null || fail "aws s3 cp upload"
	aws s3 cp "s3://$b/dir/small.txt" "$work/dl/aws-small.txt" >/dev/null || fail "aws s3 cp download"
	same "$work/small.txt" "$work/dl/aws-small.txt" "aws small object"
	aws s3 ls "s3://$b/dir/" | grep -q ' small.txt$' || fail "aws s3 ls s3://$b/dir/ does not show small.txt"
	aws s3 ls "s3://$b/" | grep -q 'PRE dir/' || fail "aws s3 ls s3://$b/ does not show common prefix dir/"
	step aws "sync a tree up and back"
	aws s3 sync "$work/tree" "s3://$b/tree" >/dev/null || fail "aws s3 sync up"
	n=$(aws s3 ls --recursive "s3://$b/tree/" | wc -l) || fail "aws s3 ls failed (n)"
	want=$(find "$work/tree" -type f | wc -l)
	[ "$n" -eq "$want" ] || fail "aws s3 ls --recursive lists $n objects under tree/, want $want"
	aws s3 sync "s3://$b/tree" "$work/dl/aws-tree" >/dev/null || fail "aws s3 sync down"
	same_tree "$work/tree" "$work/dl/aws-tree" "aws sync"
	out=$(aws s3 sync "$work/tree" "s3://$b/tree") || fail "aws s3 sync (second time)"
	[ -z "$out" ] || fail "second aws s3 sync re-uploaded unchanged files: $out"
	step aws "multipart upload of a 20 MiB file"
	aws s3 cp "$work/big.bin" "s3://$b/big.bin" >/dev/null || fail "aws s3 cp big (multipart)"
	etag=$(aws s3api head-object --bucket "$b" --key big.bin | jq -r .ETag) || fail "aws s3api head-object failed (etag)"
	[[ "$etag" == *-3\" ]] || fail "multipart ETag of big.bin is $etag, want a \"...-3\" multipart ETag (awscli uses 8 MiB parts)"
	aws s3 cp "s3://$b/big.bin" "$work/dl/aws-big.bin" >/dev/null || fail "aws s3 cp download big"
	same "$work/big.bin" "$work/dl/aws-big.bin" "aws multipart object"
	step aws "rm and rb"
	aws s3 rm "s3://$b/dir/small.txt" >/dev/null || fail "aws s3 rm"
	if aws s3api head-object --bucket "$b" --key dir/small.txt >/dev/null 2>&1; then
		fail "dir/small.txt still there after aws s3 rm"
	fi
	aws s3 rm --recursive "s3://$b/" >/dev/null || fail "aws s3 rm --recursive"
	n=$(aws s3api list-objects-v2 --no-paginate --bucket "$b" | jq .KeyCount) || fail "aws s3api list-objects-v2 failed (n)"
	[ "$n" -eq 0 ] || fail "$n objects left after aws s3 rm --recursive"
	aws s3 rb "s3://$b" >/dev/null || fail "aws s3 rb"
	if aws s3api head-bucket --bucket "$b" >/dev/null 2>&1; then fail "bucket $b still there after rb"; fi
fi

# --- rclone ----------------------------------------------------------------
if [[ " $only " == *" rclone "* ]]; then
	export RCLONE_CONFIG=$work/rclone.conf
	: >"$RCLONE_CONFIG"
	export RCLONE_CONFIG_GW_TYPE=s3 RCLONE_CONFIG_GW_PROVIDER=Other RCLONE_CONFIG_GW_ENV_AUTH=false
	export RCLONE_CONFIG_GW_ACCESS_KEY_ID=$AK RCLONE_CONFIG_GW_SECRET_ACCESS_KEY=$SK
	export RCLONE_CONFIG_GW_ENDPOINT=$endpoint RCLONE_CONFIG_GW_REGION=us-east-1
	export RCLONE_CONFIG_GW_FORCE_PATH_STYLE=true
	# AWS_CA_BUNDLE (set on some machines) makes rclone's AWS SDK refuse its own http transport.
	rc() { env -u AWS_CA_BUNDLE rclone --retries 1 --low-level-retries 1 "$@"; }
	b=e2e-rclone
	step rclone "make bucket"
	rc mkdir "gw:$b" || fail "rclone mkdir gw:$b"
	rc lsd gw: | grep -q " $b\$" || fail "rclone lsd gw: does not list $b"
	step rclone "put/get/ls small object"
	rc copyto "$work/small.txt" "gw:$b/dir/small.txt" || fail "rclone copyto upload"
	[ "$(rc cat "gw:$b/dir/small.txt")" = "$(cat "$work/small.txt")" ] || fail "rclone cat returned other bytes"
	rc copyto "gw:$b/dir/small.txt" "$work/dl/rclone-small.txt" || fail "rclone copyto download"
	same "$work/small.txt" "$work/dl/rclone-small.txt" "rclone small object"
	rc lsf "gw:$b/dir" | grep -qx 'small.txt' || fail "rclone lsf does not show small.txt"
	step rclone "sync a tree up, check, back"
	rc sync "$work/tree" "gw:$b/tree" || fail "rclone sync up"
	rc check "$work/tree" "gw:$b/tree" 2>"$work/rclone-check.log" || fail "rclone check: $(tail -3 "$work/rclone-check.log")"
	rc sync "gw:$b/tree" "$work/dl/rclone-tree" || fail "rclone sync down"
	same_tree "$work/tree" "$work/dl/rclone-tree" "rclone sync"
	step rclone "multipart upload of a 20 MiB file (5 MiB chunks)"
	rc copyto --s3-upload-cutoff 5M --s3-chunk-size 5M "$work/big.bin" "gw:$b/big.bin" || fail "rclone multipart upload"
	etag=$(aws s3api head-object --bucket "$b" --key big.bin | jq -r .ETag) || fail "aws s3api head-object failed (etag)"
	[[ "$etag" == *-5\" ]] || fail "ETag of rclone's big.bin is $etag, want a 5-part multipart ETag"
	rc copyto "gw:$b/big.bin" "$work/dl/rclone-big.bin" || fail "rclone download big"
	same "$work/big.bin" "$work/dl/rclone-big.bin" "rclone multipart object"
	# rclone keeps the MD5 of a multipart upload in user metadata (X-Amz-Meta-Md5chksum).
	got=$(rc md5sum "gw:$b/big.bin" | cut -d' ' -f1) || fail "rc md5sum failed (got)"
	[ "$got" = "$(md5sum "$work/big.bin" | cut -d' ' -f1)" ] || fail "rclone md5sum of the multipart object is '$got' (user metadata md5chksum lost?)"
	step rclone "delete and purge"
	rc deletefile "gw:$b/dir/small.txt" || fail "rclone deletefile"
	if rc lsf "gw:$b/dir" 2>/dev/null | grep -q small.txt; then fail "small.txt still listed after rclone deletefile"; fi
	rc purge "gw:$b" || fail "rclone purge"
	if aws s3api head-bucket --bucket "$b" >/dev/null 2>&1; then fail "bucket $b still there after rclone purge"; fi
fi

# --- s3cmd -----------------------------------------------------------------
if [[ " $only " == *" s3cmd "* ]]; then
	cat >"$work/s3cfg" <<EOF
[default]
access_key = $AK
secret_key = $SK
host_base = 127.0.0.1:$port
host_bucket = 127.0.0.1:$port
use_https = False
signature_v2 = False
bucket_location = us-east-1
check_ssl_certificate = False
multipart_chunk_size_mb = 15
progress_meter = False
EOF
	s3c() { s3cmd -c "$work/s3cfg" --no-progress "$@"; }
	b=e2e-s3cmd
	step s3cmd "make bucket"
	s3c mb "s3://$b" >/dev/null || fail "s3cmd mb"
	s3c ls | grep -q "s3://$b\$" || fail "s3cmd ls does not list $b"
	step s3cmd "put/get/ls small object"
	s3c put "$work/small.txt" "s3://$b/dir/small.txt" >/dev/null || fail "s3cmd put"
	s3c get "s3://$b/dir/small.txt" "$work/dl/s3cmd-small.txt" >/dev/null || fail "s3cmd get"
	same "$work/small.txt" "$work/dl/s3cmd-small.txt" "s3cmd small object"
	s3c ls "s3://$b/dir/" | grep -q "s3://$b/dir/small.txt\$" || fail "s3cmd ls does not show dir/small.txt"
	s3c info "s3://$b/dir/small.txt" >"$work/s3cmd-info.txt" || fail "s3cmd info"
	grep -q "$(md5sum "$work/small.txt" | cut -d' ' -f1)" "$work/s3cmd-info.txt" || fail "s3cmd info does not show the object's MD5"
	step s3cmd "sync a tree up and back"
	s3c sync "$work/tree/" "s3://$b/tree/" >/dev/null || fail "s3cmd sync up"
	s3c sync "s3://$b/tree/" "$work/dl/s3cmd-tree/" >/dev/null || fail "s3cmd sync down"
	same_tree "$work/tree" "$work/dl/s3cmd-tree" "s3cmd sync"
	step s3cmd "multipart upload of a 20 MiB file (15 MiB chunks)"
	s3c put "$work/big.bin" "s3://$b/big.bin" >/dev/null || fail "s3cmd multipart put"
	etag=$(aws s3api head-object --bucket "$b" --key big.bin | jq -r .ETag) || fail "aws s3api head-object failed (etag)"
	[[ "$etag" == *-2\" ]] || fail "ETag of s3cmd's big.bin is $etag, want a 2-part multipart ETag"
	s3c get "s3://$b/big.bin" "$work/dl/s3cmd-big.bin" >/dev/null || fail "s3cmd get big"
	same "$work/big.bin" "$work/dl/s3cmd-big.bin" "s3cmd multipart object"
	step s3cmd "del and rb"
	s3c del "s3://$b/dir/small.txt" >/dev/null || fail "s3cmd del"
	if s3c ls "s3://$b/dir/" | grep -q small.txt; then fail "small.txt still listed after s3cmd del"; fi
	s3c del --recursive --force "s3://$b/" >/dev/null || fail "s3cmd del --recursive"
	s3c rb "s3://$b" >/dev/null || fail "s3cmd rb"
	if s3c ls | grep -q "s3://$b\$"; then fail "bucket $b still listed after s3cmd rb"; fi
fi

# --- AWS SDK for JavaScript v3 (PeerTube/Misskey-style apps) -----------------
# Its defaults send STREAMING-UNSIGNED-PAYLOAD-TRAILER (aws-chunked, chunked
# transfer encoding, CRC32 trailer) for stream bodies even over http.
if [[ " $only " == *" js "* ]]; then
	jsdir=$root/build/s3-js
	[ -d "$jsdir/node_modules/@aws-sdk/client-s3" ] || fail "$jsdir has no AWS SDK for JavaScript (run scripts/setup/s3.sh)"
	cp "$root/tests/s3e2e/js/probe.mjs" "$jsdir/probe.mjs"
	step js "SDK v3 round trips (probe.mjs)"
	NODE_NO_WARNINGS=1 node "$jsdir/probe.mjs" "$endpoint" "$AK" "$SK" e2e-js "$vdomain" >"$work/js.log" 2>&1 ||
		fail "AWS SDK for JavaScript probe: $(grep -E 'FAIL|Error' "$work/js.log" | head -5)"
	grep -q 'payload modes seen: .*STREAMING-UNSIGNED-PAYLOAD-TRAILER' "$work/js.log" || fail "JS probe did not report the trailer mode: $(tail -3 "$work/js.log")"
fi

# --- Mastodon-shaped flow ----------------------------------------------------
# What Mastodon (aws-sdk-ruby via Paperclip) does against S3_ENDPOINT: public-read
# media uploads, multipart above 15 MB, HEAD with partNumber, browsers fetching
# ranges anonymously, copy-then-delete when media moves, batch deletes when
# accounts or statuses go, and presigned download links with a
# Content-Disposition override.
if [[ " $only " == *" mastodon "* ]]; then
	b=e2e-mastodon
	step mastodon "create bucket"
	aws s3api create-bucket --bucket "$b" >/dev/null || fail "s3api create-bucket"

	step mastodon "public-read upload, anonymous GET"
	img=media_attachments/files/109/348/123/original/4f1e2d3c.png
	head -c 70000 /dev/urandom >"$work/media.png"
	aws s3api put-object --bucket "$b" --key "$img" --body "$work/media.png" --acl public-read \
		--content-type image/png --cache-control 'public, max-age=315576000, immutable' >/dev/null ||
		fail "put-object with --acl public-read"
	code=$(http_code "$work/dl/anon.png" -D "$work/anon.hdr" "$endpoint/$b/$img")
	[ "$code" = 200 ] || fail "anonymous GET of a public-read object: HTTP $code, want 200"
	same "$work/media.png" "$work/dl/anon.png" "anonymous GET"
	grep -qi '^content-type: image/png' "$work/anon.hdr" || fail "anonymous GET: Content-Type not image/png: $(grep -i content-type "$work/anon.hdr")"
	grep -qi '^cache-control: public, max-age=315576000, immutable' "$work/anon.hdr" || fail "anonymous GET: Cache-Control not kept"
	code=$(http_code /dev/null -I "$endpoint/$b/$img")
	[ "$code" = 200 ] || fail "anonymous HEAD of a public-read object: HTTP $code, want 200"
	grants=$(aws s3api get-object-acl --bucket "$b" --key "$img" | jq -r '[.Grants[] | select(.Grantee.URI == "http://acs.amazonaws.com/groups/global/AllUsers") | .Permission] | join(",")') || fail "aws s3api get-object-acl failed (grants)"
	[ "$grants" = READ ] || fail "get-object-acl of a public-read object: AllUsers grants '$grants', want READ"

	step mastodon "private object: anonymous GET is 403"
	aws s3api put-object --bucket "$b" --key private/secret.bin --body "$work/small.txt" >/dev/null || fail "put-object private"
	code=$(http_code "$work/anon-private.xml" "$endpoint/$b/private/secret.bin")
	[ "$code" = 403 ] || fail "anonymous GET of a private object: HTTP $code, want 403"
	grep -q '<Code>AccessDenied</Code>' "$work/anon-private.xml" || fail "anonymous GET of a private object: body has no AccessDenied code: $(head -c 300 "$work/anon-private.xml")"
	code=$(http_code /dev/null "$endpoint/$b/$img" -H 'Authorization: AWS4-HMAC-SHA256 Credential=NOPE/20200101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00')
	[ "$code" = 403 ] || fail "GET with an unknown access key: HTTP $code, want 403"
	code=$(http_code /dev/null "$endpoint/$b/")
	[ "$code" = 403 ] || fail "anonymous listing of a bucket: HTTP $code, want 403"

	step mastodon "multipart (2 parts, 16 MiB + rest) with public-read"
	vid=media_attachments/files/109/348/124/original/video.mp4
	uid=$(aws s3api create-multipart-upload --bucket "$b" --key "$vid" --acl public-read --content-type video/mp4 | jq -r .UploadId) || fail "aws s3api create-multipart-upload failed (uid)"
	[ -n "$uid" ] && [ "$uid" != null ] || fail "create-multipart-upload returned no UploadId"
	e1=$(aws s3api upload-part --bucket "$b" --key "$vid" --upload-id "$uid" --part-number 1 --body "$work/part1" | jq -r .ETag) || fail "upload-part 1"
	e2=$(aws s3api upload-part --bucket "$b" --key "$vid" --upload-id "$uid" --part-number 2 --body "$work/part2" | jq -r .ETag) || fail "upload-part 2"
	[ "$e1" = "\"$(md5sum "$work/part1" | cut -d' ' -f1)\"" ] || fail "upload-part 1 ETag $e1 is not the part's MD5"
	n=$(aws s3api list-parts --bucket "$b" --key "$vid" --upload-id "$uid" | jq '.Parts | length') || fail "aws s3api list-parts failed (n)"
	[ "$n" = 2 ] || fail "list-parts shows $n parts, want 2"
	jq -n --arg e1 "$e1" --arg e2 "$e2" '{Parts: [{ETag: $e1, PartNumber: 1}, {ETag: $e2, PartNumber: 2}]}' >"$work/parts.json"
	etag=$(aws s3api complete-multipart-upload --bucket "$b" --key "$vid" --upload-id "$uid" --multipart-upload "file://$work/parts.json" | jq -r .ETag) ||
		fail "complete-multipart-upload"
	want=$(/usr/bin/python3 -c 'import hashlib,sys
d=b"".join(hashlib.md5(open(f,"rb").read()).digest() for f in sys.argv[1:])
print(hashlib.md5(d).hexdigest())' "$work/part1" "$work/part2")
	[ "$etag" = "\"$want-2\"" ] || fail "multipart ETag $etag, want \"$want-2\""

	step mastodon "HEAD with partNumber=1"
	aws s3api head-object --bucket "$b" --key "$vid" --part-number 1 >"$work/headpart.json" || fail "head-object --part-number 1"
	len=$(jq -r .ContentLength "$work/headpart.json")
	[ "$len" = "$part1" ] || fail "HEAD partNumber=1: ContentLength $len, want $part1 (the part's size)"
	pc=$(jq -r .PartsCount "$work/headpart.json")
	[ "$pc" = 2 ] || fail "HEAD partNumber=1: PartsCount $pc (x-amz-mp-parts-count), want 2"
	len=$(aws s3api head-object --bucket "$b" --key "$vid" | jq -r .ContentLength) || fail "aws s3api head-object failed (len)"
	[ "$len" = "$(stat -c %s "$work/big.bin")" ] || fail "HEAD: ContentLength $len, want $(stat -c %s "$work/big.bin")"

	step mastodon "anonymous ranged GETs (206)"
	code=$(http_code "$work/dl/range.bin" -D "$work/range.hdr" -H 'Range: bytes=16777000-16777499' "$endpoint/$b/$vid")
	[ "$code" = 206 ] || fail "anonymous ranged GET: HTTP $code, want 206"
	cmp -s "$work/dl/range.bin" <(tail -c +16777001 "$work/big.bin" | head -c 500) || fail "anonymous ranged GET across the part boundary: wrong bytes"
	grep -qi "^content-range: bytes 16777000-16777499/$(stat -c %s "$work/big.bin")" "$work/range.hdr" || fail "ranged GET: bad Content-Range: $(grep -i content-range "$work/range.hdr")"
	code=$(http_code "$work/dl/suffix.bin" -H 'Range: bytes=-1000' "$endpoint/$b/$vid")
	[ "$code" = 206 ] || fail "anonymous suffix-range GET: HTTP $code, want 206"
	cmp -s "$work/dl/suffix.bin" <(tail -c 1000 "$work/big.bin") || fail "suffix-range GET: wrong bytes"
	code=$(http_code /dev/null -H 'Range: bytes=999999999-' "$endpoint/$b/$vid")
	[ "$code" = 416 ] || fail "unsatisfiable range: HTTP $code, want 416"

	step mastodon "CopyObject then delete the source"
	dst=media_attachments/files/109/348/125/original/4f1e2d3c.png
	aws s3api copy-object --bucket "$b" --key "$dst" --copy-source "$b/$img" --acl public-read >/dev/null || fail "copy-object"
	aws s3api delete-object --bucket "$b" --key "$img" >/dev/null || fail "delete-object of the copy source"
	code=$(http_code /dev/null "$endpoint/$b/$img")
	[ "$code" = 404 ] || [ "$code" = 403 ] || fail "anonymous GET of the deleted source: HTTP $code, want 404 (or 403)"
	code=$(http_code "$work/dl/copied.png" -D "$work/copied.hdr" "$endpoint/$b/$dst")
	[ "$code" = 200 ] || fail "anonymous GET of the public-read copy: HTTP $code, want 200"
	same "$work/media.png" "$work/dl/copied.png" "copied object"
	grep -qi '^content-type: image/png' "$work/copied.hdr" || fail "copy did not keep Content-Type (metadata directive COPY)"

	step mastodon "DeleteObjects of 300 keys"
	mkdir -p "$work/many/cache/accounts/avatars"
	for i in $(seq -w 1 300); do printf '%s\n' "$i" >"$work/many/cache/accounts/avatars/$i.png"; done
	aws s3 sync "$work/many" "s3://$b/" >/dev/null || fail "uploading 300 small objects"
	n=$(aws s3api list-objects-v2 --no-paginate --bucket "$b" --prefix cache/ --max-keys 1000 | jq '.KeyCount') || fail "aws s3api list-objects-v2 failed (n)"
	[ "$n" = 300 ] || fail "list-objects-v2 counts $n keys under cache/, want 300"
	n=$(aws s3api list-objects-v2 --no-paginate --bucket "$b" --prefix cache/ --max-keys 100 | jq -r '.IsTruncated, (.Contents|length)' | tr '\n' ' ') || fail "aws s3api list-objects-v2 failed (n)"
	[ "$n" = "true 100 " ] || fail "list-objects-v2 --max-keys 100 over 300 keys: IsTruncated/count '$n', want 'true 100'"
	aws s3api list-objects-v2 --no-paginate --bucket "$b" --prefix cache/ | jq '{Objects: [.Contents[] | {Key}], Quiet: false}' >"$work/delete.json"
	n=$(aws s3api delete-objects --bucket "$b" --delete "file://$work/delete.json" | jq '(.Deleted // [] | length), (.Errors // [] | length)' | tr '\n' ' ') || fail "aws s3api delete-objects failed (n)"
	[ "$n" = "300 0 " ] || fail "delete-objects of 300 keys: deleted/errors '$n', want '300 0'"
	n=$(aws s3api list-objects-v2 --no-paginate --bucket "$b" --prefix cache/ | jq '.KeyCount') || fail "aws s3api list-objects-v2 failed (n)"
	[ "$n" = 0 ] || fail "$n keys left under cache/ after delete-objects"
	# Quiet mode: a successful batch delete reports nothing (only errors).
	aws s3 sync "$work/many" "s3://$b/" >/dev/null || fail "re-uploading 300 small objects"
	aws s3api list-objects-v2 --no-paginate --bucket "$b" --prefix cache/ | jq '{Objects: [.Contents[] | {Key}], Quiet: true}' >"$work/delete.json"
	# (awscli prints nothing at all for an empty result, hence jq -s)
	n=$(aws s3api delete-objects --bucket "$b" --delete "file://$work/delete.json" | jq -s '.[0] // {} | (.Deleted // [] | length), (.Errors // [] | length)' | tr '\n' ' ') || fail "aws s3api delete-objects failed (n)"
	[ "$n" = "0 0 " ] || fail "quiet delete-objects: deleted/errors entries '$n', want '0 0'"
	n=$(aws s3api list-objects-v2 --no-paginate --bucket "$b" --prefix cache/ | jq '.KeyCount') || fail "aws s3api list-objects-v2 failed (n)"
	[ "$n" = 0 ] || fail "$n keys left under cache/ after quiet delete-objects"

	step mastodon "presigned GET (awscli) of a private object"
	url=$(aws s3 presign "s3://$b/private/secret.bin" --expires-in 300) || fail "aws s3 presign"
	code=$(http_code "$work/dl/presigned.bin" "$url")
	[ "$code" = 200 ] || fail "presigned GET: HTTP $code, want 200: $(head -c 300 "$work/dl/presigned.bin")"
	same "$work/small.txt" "$work/dl/presigned.bin" "presigned GET"
	code=$(http_code /dev/null "${url/Signature=/Signature=0}")
	[ "$code" = 403 ] || fail "presigned GET with a tampered signature: HTTP $code, want 403"

	step mastodon "presigned GET with response-content-disposition (aws-sdk-go-v2)"
	disp='attachment; filename="4f1e2d3c.png"'
	url=$("$work/presign" -endpoint "$endpoint" -access-key "$AK" -secret-key "$SK" -bucket "$b" -key "$dst" \
		-response-content-disposition "$disp" -expires 5m) || fail "presign with response-content-disposition"
	code=$(http_code "$work/dl/disp.png" -D "$work/disp.hdr" "$url")
	[ "$code" = 200 ] || fail "presigned GET with response-content-disposition: HTTP $code, want 200: $(head -c 300 "$work/dl/disp.png")"
	same "$work/media.png" "$work/dl/disp.png" "presigned GET with response-content-disposition"
	got=$(grep -i '^content-disposition:' "$work/disp.hdr" | sed -E 's/^[^:]*: *//; s/\r$//') || fail "no header in response failed (got)"
	[ "$got" = "$disp" ] || fail "Content-Disposition is '$got', want '$disp'"
	code=$(http_code /dev/null "${url/response-content-disposition=attachment/response-content-disposition=inline}")
	[ "$code" = 403 ] || fail "presigned URL with an altered response-content-disposition: HTTP $code, want 403"
	url=$("$work/presign" -endpoint "$endpoint" -access-key "$AK" -secret-key "$SK" -bucket "$b" -key private/secret.bin -expires 1s) ||
		fail "presign with 1 s expiry"
	sleep 2
	code=$(http_code "$work/expired.xml" "$url")
	[ "$code" = 403 ] || fail "expired presigned URL: HTTP $code, want 403"

	step mastodon "cleanup: delete everything, remove bucket"
	aws s3 rm --recursive "s3://$b/" >/dev/null || fail "aws s3 rm --recursive"
	aws s3api delete-bucket --bucket "$b" >/dev/null || fail "delete-bucket"
fi

# --- restic (minio-go inside: its PUTs over http are STREAMING-AWS4-HMAC-SHA256-PAYLOAD,
# checked with a logging proxy) --------------------------------------------------
if [[ " $only " == *" restic "* ]]; then
	export RESTIC_PASSWORD=e2e-restic-password RESTIC_CACHE_DIR=$work/restic-cache
	repo="s3:$endpoint/e2e-restic"
	rs() { restic -r "$repo" --quiet "$@"; }
	step restic "init (creates the bucket), two backups"
	rs init >/dev/null || fail "restic init on $repo"
	rs backup --host e2e "$work/tree" >/dev/null || fail "restic backup of the tree"
	rs backup --host e2e "$work/big.bin" >/dev/null || fail "restic backup of big.bin"
	n=$(rs snapshots --json | jq length) || fail "restic snapshots"
	[ "$n" = 2 ] || fail "restic snapshots: $n, want 2"
	step restic "check --read-data, restore, compare"
	rs check --read-data >/dev/null 2>"$work/restic-check.log" || fail "restic check --read-data: $(tail -3 "$work/restic-check.log")"
	rs restore latest --path "$work/big.bin" --target "$work/dl/restic-big" >/dev/null || fail "restic restore big.bin"
	same "$work/big.bin" "$work/dl/restic-big$work/big.bin" "restic restore of big.bin"
	snap=$(rs snapshots --json --path "$work/tree" | jq -r '.[0].short_id') || fail "restic snapshots --path"
	rs restore "$snap" --target "$work/dl/restic-tree" >/dev/null || fail "restic restore of the tree"
	same_tree "$work/tree" "$work/dl/restic-tree$work/tree" "restic restore of the tree"
	step restic "forget --prune, check"
	rs forget --keep-last 1 --prune >/dev/null || fail "restic forget --prune"
	rs check >/dev/null 2>"$work/restic-check.log" || fail "restic check after prune: $(tail -3 "$work/restic-check.log")"
fi

# --- more of the protocol, and bad input ------------------------------------
if [[ " $only " == *" more "* ]]; then
	b=e2e-more
	aws s3api create-bucket --bucket "$b" >/dev/null || fail "create-bucket $b"
	step more "metadata, Content-Type/-Disposition/Cache-Control kept; copy with REPLACE"
	aws s3 cp "$work/small.txt" "s3://$b/meta.txt" --metadata 'color=blue,Mixed-Case=Yes' --content-type 'text/plain; charset=utf-8' \
		--content-disposition 'inline; filename="a.txt"' --cache-control 'max-age=60' >/dev/null || fail "aws s3 cp with metadata"
	aws s3api head-object --bucket "$b" --key meta.txt >"$work/meta.json" || fail "head-object meta.txt"
	got=$(jq -r '[.Metadata.color, .Metadata["mixed-case"], .ContentType, .ContentDisposition, .CacheControl] | join("|")' "$work/meta.json")
	[ "$got" = 'blue|Yes|text/plain; charset=utf-8|inline; filename="a.txt"|max-age=60' ] || fail "head-object after put with metadata: '$got'"
	aws s3api copy-object --bucket "$b" --key meta2.txt --copy-source "$b/meta.txt" --metadata-directive REPLACE \
		--metadata shape=round --content-type text/x-replaced >/dev/null || fail "copy-object REPLACE"
	got=$(aws s3api head-object --bucket "$b" --key meta2.txt | jq -r '[(.Metadata | keys | join(",")), .Metadata.shape, .ContentType] | join("|")') || fail "head-object meta2.txt"
	[ "$got" = 'shape|round|text/x-replaced' ] || fail "copy with metadata-directive REPLACE: '$got', want 'shape|round|text/x-replaced'"

	step more "conditional GETs (presigned URL + If-None-Match/If-Match)"
	etag=$(jq -r .ETag "$work/meta.json")
	url=$(aws s3 presign "s3://$b/meta.txt" --expires-in 300) || fail "aws s3 presign"
	code=$(http_code /dev/null -H "If-None-Match: $etag" "$url")
	[ "$code" = 304 ] || fail "GET with If-None-Match: <current etag>: HTTP $code, want 304"
	code=$(http_code /dev/null -H 'If-Match: "0123"' "$url")
	[ "$code" = 412 ] || fail "GET with a wrong If-Match: HTTP $code, want 412"
	code=$(http_code /dev/null -H 'If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT' "$url")
	[ "$code" = 200 ] || fail "GET with an old If-Modified-Since: HTTP $code, want 200"
	code=$(http_code /dev/null -H "If-Modified-Since: $(date -u -d '+1 day' '+%a, %d %b %Y %H:%M:%S GMT')" "$url")
	[ "$code" = 304 ] || fail "GET with a future If-Modified-Since: HTTP $code, want 304"

	step more "ListObjects v1 with delimiter, v2 start-after"
	for k in a/1 a/2 b/1 c; do printf '%s' "$k" | aws s3 cp - "s3://$b/list/$k" >/dev/null || fail "put list/$k"; done
	got=$(aws s3api list-objects --no-paginate --bucket "$b" --prefix list/ --delimiter / | jq -r '[(.CommonPrefixes // [] | map(.Prefix) | join(",")), (.Contents // [] | map(.Key) | join(","))] | join("|")') ||
		fail "list-objects v1"
	[ "$got" = 'list/a/,list/b/|list/c' ] || fail "list-objects v1 delimiter: '$got', want 'list/a/,list/b/|list/c'"
	got=$(aws s3api list-objects-v2 --no-paginate --bucket "$b" --prefix list/ --start-after list/a/2 | jq -r '.Contents | map(.Key) | join(",")') ||
		fail "list-objects-v2 start-after"
	[ "$got" = 'list/b/1,list/c' ] || fail "list-objects-v2 start-after: '$got'"

	step more "versioning: versions, delete marker, GET by version"
	aws s3api put-bucket-versioning --bucket "$b" --versioning-configuration Status=Enabled || fail "put-bucket-versioning"
	[ "$(aws s3api get-bucket-versioning --bucket "$b" | jq -r .Status)" = Enabled ] || fail "get-bucket-versioning not Enabled"
	printf 'one' >"$work/one.txt"
	printf 'two' >"$work/two.txt"
	v1=$(aws s3api put-object --bucket "$b" --key ver.txt --body "$work/one.txt" | jq -r .VersionId) || fail "put v1"
	v2=$(aws s3api put-object --bucket "$b" --key ver.txt --body "$work/two.txt" | jq -r .VersionId) || fail "put v2"
	[ -n "$v1" ] && [ "$v1" != null ] && [ "$v1" != "$v2" ] || fail "versioned PUTs returned version ids '$v1' and '$v2'"
	n=$(aws s3api list-object-versions --bucket "$b" --prefix ver.txt | jq '.Versions | length') || fail "list-object-versions"
	[ "$n" = 2 ] || fail "list-object-versions: $n versions, want 2"
	aws s3api get-object --bucket "$b" --key ver.txt --version-id "$v1" "$work/dl/v1" >/dev/null || fail "get-object --version-id v1"
	[ "$(cat "$work/dl/v1")" = one ] || fail "GET by version id v1 returned '$(cat "$work/dl/v1")'"
	aws s3api delete-object --bucket "$b" --key ver.txt >"$work/dm.json" || fail "delete-object (versioned)"
	[ "$(jq -r .DeleteMarker "$work/dm.json")" = true ] || fail "delete in a versioned bucket: $(cat "$work/dm.json"), want a delete marker"
	dmid=$(jq -r .VersionId "$work/dm.json")
	if aws s3api head-object --bucket "$b" --key ver.txt >/dev/null 2>&1; then fail "HEAD after a delete marker succeeded"; fi
	aws s3api delete-object --bucket "$b" --key ver.txt --version-id "$dmid" >/dev/null || fail "delete the delete marker"
	aws s3api get-object --bucket "$b" --key ver.txt "$work/dl/v2" >/dev/null || fail "GET after removing the delete marker"
	[ "$(cat "$work/dl/v2")" = two ] || fail "current version after removing the delete marker is '$(cat "$work/dl/v2")', want 'two'"
	aws s3api put-bucket-versioning --bucket "$b" --versioning-configuration Status=Suspended || fail "suspend versioning"

	step more "CORS preflight and GET with Origin"
	cat >"$work/cors.json" <<'EOF'
{"CORSRules": [{"AllowedOrigins": ["https://mastodon.example"], "AllowedMethods": ["GET", "HEAD"], "AllowedHeaders": ["*"], "MaxAgeSeconds": 3000}]}
EOF
	aws s3api put-bucket-cors --bucket "$b" --cors-configuration "file://$work/cors.json" || fail "put-bucket-cors"
	[ "$(aws s3api get-bucket-cors --bucket "$b" | jq -r '.CORSRules[0].AllowedOrigins[0]')" = https://mastodon.example ] || fail "get-bucket-cors"
	aws s3api put-object --bucket "$b" --key pub.txt --body "$work/small.txt" --acl public-read >/dev/null || fail "put public object"
	code=$(http_code /dev/null -D "$work/cors.hdr" -X OPTIONS -H 'Origin: https://mastodon.example' -H 'Access-Control-Request-Method: GET' "$endpoint/$b/pub.txt")
	[ "$code" = 200 ] || fail "CORS preflight from an allowed origin: HTTP $code, want 200"
	grep -qi '^access-control-allow-origin: https://mastodon.example' "$work/cors.hdr" || fail "CORS preflight: no Access-Control-Allow-Origin"
	code=$(http_code /dev/null -X OPTIONS -H 'Origin: https://evil.example' -H 'Access-Control-Request-Method: GET' "$endpoint/$b/pub.txt")
	[ "$code" = 403 ] || fail "CORS preflight from another origin: HTTP $code, want 403"
	code=$(http_code /dev/null -D "$work/cors2.hdr" -H 'Origin: https://mastodon.example' "$endpoint/$b/pub.txt")
	[ "$code" = 200 ] && grep -qi '^access-control-allow-origin: https://mastodon.example' "$work/cors2.hdr" ||
		fail "anonymous GET with Origin: HTTP $code, Access-Control-Allow-Origin missing"

	step more "public-read bucket: anonymous list yes, private object no"
	aws s3api create-bucket --bucket "$b-pub" --acl public-read >/dev/null || fail "create-bucket --acl public-read"
	aws s3api put-object --bucket "$b-pub" --key private.txt --body "$work/small.txt" --acl private >/dev/null || fail "put private object"
	aws s3api put-object --bucket "$b-pub" --key noacl.txt --body "$work/small.txt" >/dev/null || fail "put object without ACL"
	code=$(http_code "$work/publist.xml" "$endpoint/$b-pub/")
	[ "$code" = 200 ] && grep -q '<Key>private.txt</Key>' "$work/publist.xml" || fail "anonymous list of a public-read bucket: HTTP $code"
	for k in private.txt noacl.txt; do
		code=$(http_code /dev/null "$endpoint/$b-pub/$k")
		[ "$code" = 403 ] || fail "anonymous GET of $k (not public) in a public-read bucket: HTTP $code, want 403"
	done
	aws s3 rm --recursive "s3://$b-pub/" >/dev/null && aws s3api delete-bucket --bucket "$b-pub" || fail "remove $b-pub"

	step more "virtual-host-style addressing"
	code=$(http_code "$work/dl/vhost.txt" -H "Host: $b.$vdomain:$port" "$endpoint/pub.txt")
	[ "$code" = 200 ] || fail "anonymous virtual-host GET (Host: $b.$vdomain): HTTP $code, want 200"
	same "$work/small.txt" "$work/dl/vhost.txt" "virtual-host GET"

	step more "multipart: list uploads, abort, upload-part-copy"
	uid=$(aws s3api create-multipart-upload --bucket "$b" --key mp.bin | jq -r .UploadId) || fail "create-multipart-upload"
	n=$(aws s3api list-multipart-uploads --bucket "$b" | jq -s '[.[0].Uploads[]? | select(.UploadId == "'"$uid"'")] | length') || fail "list-multipart-uploads"
	[ "$n" = 1 ] || fail "list-multipart-uploads does not show the upload"
	aws s3api abort-multipart-upload --bucket "$b" --key mp.bin --upload-id "$uid" || fail "abort-multipart-upload"
	n=$(aws s3api list-multipart-uploads --bucket "$b" | jq -s '[.[0].Uploads[]? | select(.UploadId == "'"$uid"'")] | length') || fail "list-multipart-uploads"
	[ "$n" = 0 ] || fail "aborted upload still listed"
	aws s3 cp "$work/big.bin" "s3://$b/src.bin" >/dev/null || fail "upload copy source"
	uid=$(aws s3api create-multipart-upload --bucket "$b" --key pc.bin | jq -r .UploadId) || fail "create-multipart-upload"
	e1=$(aws s3api upload-part-copy --bucket "$b" --key pc.bin --upload-id "$uid" --part-number 1 --copy-source "$b/src.bin" \
		--copy-source-range bytes=0-5242879 | jq -r .CopyPartResult.ETag) || fail "upload-part-copy 1"
	e2=$(aws s3api upload-part-copy --bucket "$b" --key pc.bin --upload-id "$uid" --part-number 2 --copy-source "$b/src.bin" \
		--copy-source-range bytes=10000000-10000999 | jq -r .CopyPartResult.ETag) || fail "upload-part-copy 2"
	jq -n --arg e1 "$e1" --arg e2 "$e2" '{Parts: [{ETag: $e1, PartNumber: 1}, {ETag: $e2, PartNumber: 2}]}' >"$work/parts.json"
	aws s3api complete-multipart-upload --bucket "$b" --key pc.bin --upload-id "$uid" --multipart-upload "file://$work/parts.json" >/dev/null ||
		fail "complete after upload-part-copy"
	aws s3api get-object --bucket "$b" --key pc.bin "$work/dl/pc.bin" >/dev/null || fail "get pc.bin"
	cmp -s "$work/dl/pc.bin" <(head -c 5242880 "$work/big.bin"; tail -c +10000001 "$work/big.bin" | head -c 1000) ||
		fail "object assembled with upload-part-copy has wrong bytes"

	step more "bad input: bad Content-MD5, wrong secret, unknown key, Expect: 100-continue refusal, truncated PUT, 1001-key delete"
	if out=$(aws s3api put-object --bucket "$b" --key badmd5 --body "$work/small.txt" --content-md5 'AAAAAAAAAAAAAAAAAAAAAA==' 2>&1); then
		fail "PUT with a wrong Content-MD5 succeeded"
	fi
	[[ "$out" == *BadDigest* ]] || fail "PUT with a wrong Content-MD5: want BadDigest, got: $out"
	if aws s3api head-object --bucket "$b" --key badmd5 >/dev/null 2>&1; then fail "PUT with a wrong Content-MD5 stored an object"; fi
	if out=$(AWS_SECRET_ACCESS_KEY=wrong-secret aws s3api put-object --bucket "$b" --key badsig --body "$work/small.txt" 2>&1); then
		fail "PUT signed with a wrong secret succeeded"
	fi
	[[ "$out" == *SignatureDoesNotMatch* ]] || fail "wrong secret: want SignatureDoesNotMatch, got: $out"
	if out=$(AWS_ACCESS_KEY_ID=AKIANOSUCHKEY0000000 aws s3api list-objects-v2 --bucket "$b" 2>&1); then
		fail "request with an unknown access key succeeded"
	fi
	[[ "$out" == *InvalidAccessKeyId* ]] || fail "unknown access key: want InvalidAccessKeyId, got: $out"
	if aws s3api head-object --bucket "$b" --key badsig >/dev/null 2>&1; then fail "PUT with a wrong signature stored an object"; fi
	# A client that waits for "100 Continue" must get an early error at once,
	# not after the server tried to drain a body that is never coming.
	got=$(/usr/bin/python3 - "127.0.0.1" "$port" "/$b/expect.bin" <<'EOF'
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
s.settimeout(5)
s.sendall(("PUT %s HTTP/1.1\r\nHost: %s:%s\r\nContent-Length: 123\r\nExpect: 100-continue\r\n\r\n" % (sys.argv[3], sys.argv[1], sys.argv[2])).encode())
try:
    print(s.recv(200).split(b"\r\n")[0].decode())
except socket.timeout:
    print("no answer within 5 s")
EOF
	)
	[[ "$got" == "HTTP/1.1 403"* ]] || fail "anonymous PUT with Expect: 100-continue to a private bucket: '$got', want an immediate 403"
	url=$("$work/presign" -method PUT -endpoint "$endpoint" -access-key "$AK" -secret-key "$SK" -bucket "$b" -key cut.bin) || fail "presign PUT"
	code=$(http_code /dev/null -T "$work/tree/sub/c.bin" "$url")
	[ "$code" = 200 ] || fail "presigned PUT: HTTP $code, want 200"
	aws s3api delete-object --bucket "$b" --key cut.bin >/dev/null || fail "delete cut.bin"
	# raw_put URL N: announce 200000 bytes, send N, close. N=200000 is the control.
	raw_put() {
		/usr/bin/python3 - "$1" "$2" <<'EOF'
import socket, sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
s = socket.create_connection((u.hostname, u.port))
s.sendall(("PUT %s?%s HTTP/1.1\r\nHost: %s\r\nContent-Length: 200000\r\nConnection: close\r\n\r\n" % (u.path, u.query, u.netloc)).encode())
s.sendall(b"x" * int(sys.argv[2]))
if int(sys.argv[2]) == 200000:
    print(s.recv(100).split(b" ")[1].decode())
s.close()
EOF
	}
	code=$(raw_put "$url" 200000) || fail "sending a raw PUT"
	[ "$code" = 200 ] || fail "raw presigned PUT of the whole body: HTTP $code, want 200"
	aws s3api head-object --bucket "$b" --key cut.bin >/dev/null || fail "raw presigned PUT of the whole body stored nothing"
	aws s3api delete-object --bucket "$b" --key cut.bin >/dev/null || fail "delete cut.bin"
	raw_put "$url" 100000 || fail "sending a truncated PUT"
	sleep 1
	if aws s3api head-object --bucket "$b" --key cut.bin >/dev/null 2>&1; then fail "a PUT cut off halfway left an object"; fi
	jq -n '{Objects: [range(1001) | {Key: "k\(.)"}]}' >"$work/del1001.json"
	if out=$(aws s3api delete-objects --bucket "$b" --delete "file://$work/del1001.json" 2>&1); then
		fail "DeleteObjects with 1001 keys succeeded (limit is 1000)"
	fi
	[[ "$out" == *MalformedXML* ]] || fail "DeleteObjects with 1001 keys: want MalformedXML, got: $out"

	step more "cleanup (all versions) and delete bucket"
	aws s3api list-object-versions --bucket "$b" | jq '{Objects: [(.Versions // [])[], (.DeleteMarkers // [])[] | {Key, VersionId}], Quiet: true}' >"$work/delall.json" ||
		fail "list-object-versions for cleanup"
	aws s3api delete-objects --bucket "$b" --delete "file://$work/delall.json" >/dev/null || fail "delete all versions"
	aws s3api delete-bucket --bucket "$b" || fail "delete-bucket $b (not empty?)"
fi

# --- policy: a public-read bucket policy (as PeerTube/Pixelfed/Mastodon guides
# set it when ACLs are off), read anonymously with curl, a Deny on a prefix,
# tags, and the access log line of a request ------------------------------------
if [[ " $only " == *" policy "* ]]; then
	b=e2e-policy
	printf 'policy e2e object\n' >"$work/policy.txt"
	step policy "bucket with ACLs off (BucketOwnerEnforced), objects private by ACL"
	aws s3api create-bucket --bucket "$b" --object-ownership BucketOwnerEnforced >/dev/null || fail "create-bucket $b with BucketOwnerEnforced"
	own=$(aws s3api get-bucket-ownership-controls --bucket "$b" | jq -r '.OwnershipControls.Rules[0].ObjectOwnership') || fail "get-bucket-ownership-controls"
	[ "$own" = BucketOwnerEnforced ] || fail "ownership controls: $own"
	if out=$(aws s3api put-object --bucket "$b" --key acl.txt --body "$work/policy.txt" --acl public-read 2>&1); then
		fail "public-read ACL accepted on a BucketOwnerEnforced bucket"
	fi
	[[ "$out" == *AccessControlListNotSupported* ]] || fail "public-read ACL under BucketOwnerEnforced: want AccessControlListNotSupported, got: $out"
	aws s3api put-object --bucket "$b" --key media/pic.bin --body "$work/tree/a.bin" --tagging "kind=avatar" >/dev/null || fail "put-object media/pic.bin"
	aws s3api put-object --bucket "$b" --key private/secret.txt --body "$work/policy.txt" >/dev/null || fail "put-object private/secret.txt"
	code=$(http_code "$work/dl/pol0" "$endpoint/$b/media/pic.bin")
	[ "$code" = 403 ] || fail "anonymous GET before the policy: HTTP $code, want 403"

	step policy "put-bucket-policy: public read, Deny on private/"
	cat >"$work/policy.json" <<JSON
{"Version":"2012-10-17","Statement":[
 {"Sid":"PublicRead","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::$b/*"},
 {"Sid":"NoPrivate","Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::$b/private/*"}]}
JSON
	aws s3api put-bucket-policy --bucket "$b" --policy "file://$work/policy.json" || fail "put-bucket-policy"
	pub=$(aws s3api get-bucket-policy-status --bucket "$b" | jq -r .PolicyStatus.IsPublic) || fail "get-bucket-policy-status"
	[ "$pub" = true ] || fail "policy status IsPublic=$pub, want true"
	code=$(http_code "$work/dl/pol1" "$endpoint/$b/media/pic.bin")
	[ "$code" = 200 ] || fail "anonymous GET under a public-read policy: HTTP $code, want 200"
	same "$work/tree/a.bin" "$work/dl/pol1" "anonymous GET under a public-read policy"
	code=$(http_code "$work/dl/pol2" "$endpoint/$b/private/secret.txt")
	[ "$code" = 403 ] || fail "anonymous GET of a denied prefix: HTTP $code, want 403"
	if aws s3api get-object --bucket "$b" --key private/secret.txt "$work/dl/pol3" >/dev/null 2>&1; then
		fail "the owner read private/secret.txt despite the policy's explicit Deny"
	fi
	code=$(http_code "$work/dl/pol4" "$endpoint/$b?list-type=2")
	[ "$code" = 403 ] || fail "anonymous listing under a GetObject-only policy: HTTP $code, want 403"
	code=$(http_code "$work/dl/pol5" -X PUT --data-binary @"$work/policy.txt" "$endpoint/$b/media/anon.txt")
	[ "$code" = 403 ] || fail "anonymous PUT under a read-only policy: HTTP $code, want 403"
	tags=$(aws s3api get-object-tagging --bucket "$b" --key media/pic.bin | jq -r '.TagSet[0].Key + "=" + .TagSet[0].Value') || fail "get-object-tagging"
	[ "$tags" = kind=avatar ] || fail "object tags: $tags"

	step policy "delete-bucket-policy: anonymous GET is 403 again"
	aws s3api delete-bucket-policy --bucket "$b" || fail "delete-bucket-policy"
	code=$(http_code "$work/dl/pol6" "$endpoint/$b/media/pic.bin")
	[ "$code" = 403 ] || fail "anonymous GET after the policy was deleted: HTTP $code, want 403"
	aws s3 rb --force "s3://$b" >/dev/null || fail "remove $b"
fi

# --- crash: SIGKILL the gateway mid-upload, restart on the same data dir ------
if [[ " $only " == *" crash "* ]] && [ -n "$gwpid" ]; then
	b=e2e-crash
	step crash "write objects, start a multipart upload, then SIGKILL during a slow PUT"
	aws s3api create-bucket --bucket "$b" >/dev/null || fail "create-bucket $b"
	aws s3 sync "$work/tree" "s3://$b/tree" >/dev/null || fail "sync before the crash"
	uid=$(aws s3api create-multipart-upload --bucket "$b" --key mp.bin | jq -r .UploadId) || fail "create-multipart-upload"
	e1=$(aws s3api upload-part --bucket "$b" --key mp.bin --upload-id "$uid" --part-number 1 --body "$work/part1" | jq -r .ETag) || fail "upload-part 1"
	url=$("$work/presign" -method PUT -endpoint "$endpoint" -access-key "$AK" -secret-key "$SK" -bucket "$b" -key inflight.bin) || fail "presign PUT"
	curl -s -m 60 -o /dev/null --limit-rate 2M -T "$work/big.bin" "$url" &
	curlpid=$!
	sleep 2
	kill -9 "$gwpid"
	wait "$gwpid" 2>/dev/null || true
	wait "$curlpid" 2>/dev/null || true
	# The gateway starts again on its data dir (the same port).
	e2e_local_gateway "$datdot" "$port" --data "$work/data" --key "$AK:$SK" --domain "$vdomain"
	step crash "after restart: objects intact, cut PUT absent, upload resumable"
	if aws s3api head-object --bucket "$b" --key inflight.bin >/dev/null 2>&1; then
		fail "a PUT killed halfway left an object inflight.bin after the restart"
	fi
	rm -rf "$work/dl/crash-tree"
	aws s3 sync "s3://$b/tree" "$work/dl/crash-tree" >/dev/null || fail "sync after the crash"
	same_tree "$work/tree" "$work/dl/crash-tree" "objects written before the crash"
	n=$(aws s3api list-parts --bucket "$b" --key mp.bin --upload-id "$uid" | jq '.Parts | length') || fail "list-parts after the restart"
	[ "$n" = 1 ] || fail "list-parts after the restart: $n parts, want 1"
	e2=$(aws s3api upload-part --bucket "$b" --key mp.bin --upload-id "$uid" --part-number 2 --body "$work/part2" | jq -r .ETag) || fail "upload-part 2 after the restart"
	jq -n --arg e1 "$e1" --arg e2 "$e2" '{Parts: [{ETag: $e1, PartNumber: 1}, {ETag: $e2, PartNumber: 2}]}' >"$work/parts.json"
	aws s3api complete-multipart-upload --bucket "$b" --key mp.bin --upload-id "$uid" --multipart-upload "file://$work/parts.json" >/dev/null ||
		fail "complete after the restart"
	aws s3 cp "s3://$b/mp.bin" "$work/dl/crash-mp.bin" >/dev/null || fail "get mp.bin"
	same "$work/big.bin" "$work/dl/crash-mp.bin" "multipart upload spanning a crash"
	aws s3 rb --force "s3://$b" >/dev/null || fail "remove $b"
fi

if [ "$failures" -gt 0 ]; then
	echo "s3-e2e: $failures steps failed" >&2
	exit 1
fi
echo "s3-e2e: all steps passed"
