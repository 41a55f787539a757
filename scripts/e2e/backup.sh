#!/usr/bin/env bash
# backup.sh: the seed's disaster, played on a real local chain with real
# hoster processes (one shared chain, three hosters, k=2 m=1 volumes).
#
#   - `datdot gateway init` makes the master secret (a 24-word phrase,
#     shown once) and the chain account derived from it; the account is
#     funded and pays for every order;
#   - a Mastodon-shaped bucket is written through awscli: public-read
#     media under accounts/avatars/, media_attachments/files/, cache/, a
#     CORS configuration; then the metadata log reports everything
#     shipped to the hosters;
#   - the gateway machine's whole home is deleted;
#   - `datdot gateway recover` on a new, empty home, with only the phrase
#     and the chain endpoint, rebuilds the bucket: every object reads back
#     byte-identical (read from the hosters: the new gateway has no copy of
#     the data), ACLs and CORS are the same, anonymous GETs of public media
#     work, and the network backend's usage records are rebuilt from the
#     recovered metadata at the new gateway's first start, which runs
#     with --erasure-k 1 --erasure-m 2 (the 2+1 volumes read with their
#     orders' layout, a new object goes to a 1-of-3 order; each volume is
#     shaped from its hosters at the first compaction pass), the chain
#     account's orders are swept for volumes nothing references and the
#     sweep ends with every object still readable; `recover
#     --fetch-data` also copies the data cores (measured);
#   - an operator's mass delete (`aws s3 rm --recursive`) and a later write
#     are undone with `datdot gateway restore --at`: the deleted media are
#     back byte-identical, the later object is gone from the listing but
#     kept as a hidden version (`datdot gateway versions`), and S3's
#     ListObjectVersions of the unversioned bucket shows no hidden version.
#
# Every wait polls for a condition with a generous timeout; nothing depends
# on timing or block counts. All processes are stopped on exit.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/e2e.sh"
e2e_init backup-e2e curl aws cmp
AWS=/usr/bin/aws
[ -x "$AWS" ] || AWS=$(command -v aws)

export LOCALNET_EPOCH_BLOCKS=5 LOCALNET_UNBONDING_BLOCKS=10
e2e_chain
e2e_hosters 3

gwport="$(free_port)"
gw="http://127.0.0.1:$gwport"
export AWS_ACCESS_KEY_ID=AKIABACKUP AWS_SECRET_ACCESS_KEY=backup-secret AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
aws() { "$AWS" --endpoint-url "$gw" "$@"; }
start_gateway() { # DATA [more flags, e.g. another --erasure-k/-m]
	"$datdot_bin" gateway --listen "127.0.0.1:$gwport" --data "$1" --key "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
		--backend network --erasure-k 2 --erasure-m 1 --cache-bytes 0 \
		--chain.grpc "$grpc" --chain.rpc "$rpc" --chain.keyring-dir "$1/keyring" --chain.keyring-backend test --chain.key gateway \
		--order.max-price 1000 --order.epochs 100000 --order.deposit 100000000udot "${@:2}" >>"$work/gw.log" 2>&1 &
	gwpid=$!
	until_ok 120 "gateway answers" curl -s -o /dev/null "$gw/"
}
stop_gateway() { stop_pid "$gwpid" TERM; gwpid=""; }

say "datdot gateway init: the master secret as a phrase, the derived chain account"
"$datdot_bin" gateway init --data "$work/gw" --keep-versions 720h >"$work/init.out"
grep -q "WRITE THIS PHRASE DOWN" "$work/init.out" || fail "init showed no warning"
# The operator writes the phrase down: it is all that survives the disaster.
"$datdot_bin" gateway export-key --data "$work/gw" | sed -n '3,6p' >"$work/phrase.txt"
[ "$(wc -w <"$work/phrase.txt")" = 24 ] || fail "export-key did not show a 24-word phrase: $(cat "$work/phrase.txt")"
account="$("$datdot_bin" gateway export-key --data "$work/gw" --address)"
grep -q "$account" "$work/init.out" || fail "init and export-key disagree on the account"
out="$(chaind tx bank send alice "$account" 2000000000udot --fees 1000udot -y -o json)"
[ "$(jq -r .code <<<"$out")" = 0 ] || fail "funding refused: $out"
funded() { [ "$(chaind q bank balance "$account" udot -o json | jq -r .balance.amount)" -gt 0 ]; }
until_ok 120 "the gateway's account is funded" funded

say "a Mastodon-shaped bucket through awscli"
start_gateway "$work/gw"
aws s3 mb s3://mastodon >/dev/null || fail "make bucket"
cat >"$work/cors.json" <<'JSON'
{"CORSRules":[{"AllowedOrigins":["https://social.example"],"AllowedMethods":["GET","HEAD"],"AllowedHeaders":["*"],"MaxAgeSeconds":3000}]}
JSON
aws s3api put-bucket-cors --bucket mastodon --cors-configuration "file://$work/cors.json" || fail "put CORS"
# The bucket's content as a tree of files named by key ($work/tree).
tree="$work/tree"
add() { mkdir -p "$(dirname "$tree/$1")"; head -c "$2" /dev/urandom >"$tree/$1"; }
for a in 1 2 3; do add "accounts/avatars/000/000/00$a/original/avatar.png" $((20000 + a * 1000)); done
for m in 1 2 3 4 5; do
	add "media_attachments/files/109/000/00$m/original/photo.jpg" $((60000 + m * 7000))
	add "media_attachments/files/109/000/00$m/small/photo.jpg" $((8000 + m * 100))
done
add "media_attachments/files/109/000/099/original/video.mp4" 9000000
for c in 1 2 3; do add "cache/preview_cards/images/000/000/00$c/original/card.png" 15000; done
aws s3 cp --only-show-errors --recursive --acl public-read "$tree" s3://mastodon/ || fail "upload the bucket"
# One avatar is overwritten, one cache entry deleted (hidden versions).
add "accounts/avatars/000/000/001/original/avatar.png" 23456
aws s3 cp --only-show-errors --acl public-read "$tree/accounts/avatars/000/000/001/original/avatar.png" s3://mastodon/accounts/avatars/000/000/001/original/avatar.png
aws s3 rm --only-show-errors s3://mastodon/cache/preview_cards/images/000/000/003/original/card.png
rm -r "$tree/cache/preview_cards/images/000/000/003"
stored="$(find "$tree" -type f -exec cat {} + | wc -c)"
acl_keys=(accounts/avatars/000/000/001/original/avatar.png media_attachments/files/109/000/099/original/video.mp4 cache/preview_cards/images/000/000/002/original/card.png)

check_all() { # every object reads back identical; ACLs, anonymous GET and CORS as written
	local k
	rm -rf "$work/dl"
	aws s3 cp --only-show-errors --recursive s3://mastodon/ "$work/dl/" || fail "download the bucket"
	diff -r "$tree" "$work/dl" >/dev/null || fail "the bucket reads back different: $(diff -rq "$tree" "$work/dl" | head -5)"
	for k in "${acl_keys[@]}"; do
		aws s3api get-object-acl --bucket mastodon --key "$k" | jq -S '.Grants | sort_by(.Permission)' >"$work/acl.now"
		jq -e 'map(select(.Grantee.URI == "http://acs.amazonaws.com/groups/global/AllUsers" and .Permission == "READ")) | length == 1' "$work/acl.now" >/dev/null || fail "$k is not public-read: $(cat "$work/acl.now")"
	done
	k="media_attachments/files/109/000/001/small/photo.jpg"
	curl -sf -o "$work/anon" "$gw/mastodon/$k" || fail "anonymous GET of public $k"
	cmp -s "$work/anon" "$tree/$k" || fail "anonymous GET of $k differs"
	aws s3api get-bucket-cors --bucket mastodon | jq -S . >"$work/cors.now"
	jq -e '.CORSRules[0].AllowedOrigins == ["https://social.example"] and .CORSRules[0].MaxAgeSeconds == 3000' "$work/cors.now" >/dev/null || fail "CORS differs: $(cat "$work/cors.now")"
}
check_all
aws s3api list-object-versions --bucket mastodon | jq -S '[.Versions[]? | {Key, VersionId, IsLatest, ETag, Size}]' >"$work/versions.before"

say "the metadata log has everything on the hosters"
written="$(date +%s.%N)"
logged() { # a sync after the last write left nothing pending and everything shipped
	local s="$work/gw/metalog/status.json"
	[ -f "$s" ] || return 1
	jq -e --argjson t "$written" '(.synced | sub("\\.[0-9]+Z$"; "Z") | fromdate) > $t and .pending == 0 and .shipped == .length and .length > 0 and (.error // "") == ""' "$s"
}
until_ok 120 "metadata log shipped after the last write" logged
gens="$(jq -r .gen "$work/gw/metalog/status.json")"
metalog_bytes="$(jq -r .bytes "$work/gw/metalog/status.json")"

say "disaster: the gateway machine's whole home is deleted"
stop_pid "$gwpid" KILL; gwpid=""
rm -rf "$work/gw"

say "datdot gateway recover on a new, empty home with only the phrase and the chain"
t0="$(date +%s.%N)"
"$datdot_bin" gateway recover --master-secret-file "$work/phrase.txt" --home "$work/gw2" \
	--chain.grpc "$grpc" --chain.rpc "$rpc" >"$work/recover.json" 2>"$work/recover.log" || { cat "$work/recover.log" >&2; fail "recover"; }
t1="$(date +%s.%N)"
jq -e '.buckets == 1' "$work/recover.json" >/dev/null || fail "recover stats: $(cat "$work/recover.json")"
[ "$(cat "$work/gw2/master.key" | tr -d '\n' | wc -c)" = 64 ] || fail "recover did not keep the master secret"
# The first start runs its maintenance (compaction) passes every 2 s, and
# the new machine runs with another erasure layout (1+2): the old 2+1
# volumes and log are read with their orders' layout, new ones take 1+2.
start_gateway "$work/gw2" --erasure-k 1 --erasure-m 2 --maintenance-interval 2s --compact.min-age 1s
# The network backend's usage records (not in the log) are rebuilt from
# the recovered metadata at this first start, so compaction works there.
grep -Eq 'usage records rebuilt from the metadata.*volumes=[1-9]' "$work/gw.log" || fail "the recovered gateway did not rebuild its usage records: $(grep -i usage "$work/gw.log" | tail -3)"
# Recovered without the data: the volumes' shapes come from their
# hosters at the first compaction pass; the account's orders are swept
# for orphans (volumes nothing references) and the sweep ends without
# giving up an order the recovered metadata needs (check_all after it).
until_ok 120 "the recovered volumes shaped from their hosters" grep -q "volume shaped from its hosters" "$work/gw.log"
until_ok 180 "the sweep of orphan orders done" grep -q "orphan orders: sweep done" "$work/gw.log"
echo "   $(grep -c 'volume shaped from its hosters' "$work/gw.log") volumes shaped from their hosters; sweep: $(grep -o 'orphan orders: sweep done.*' "$work/gw.log" | head -1)"
check_all
stop_gateway
start_gateway "$work/gw2" --erasure-k 1 --erasure-m 2
check_all
aws s3api list-object-versions --bucket mastodon | jq -S '[.Versions[]? | {Key, VersionId, IsLatest, ETag, Size}]' >"$work/versions.after"
cmp -s "$work/versions.before" "$work/versions.after" || fail "versions differ after recovery"
head -c 40000 /dev/urandom >"$work/after.png"
aws s3 cp --only-show-errors "$work/after.png" s3://mastodon/cache/after-recover.png || fail "PUT on the 1+2 gateway"
aws s3 cp --only-show-errors s3://mastodon/cache/after-recover.png "$work/after.dl" && cmp -s "$work/after.png" "$work/after.dl" || fail "the 1+2 object reads back different"
aws s3 rm --only-show-errors s3://mastodon/cache/after-recover.png || fail "delete the 1+2 object"
chaind q storage orders-by-owner "$account" -o json >"$work/orders.json"
jq -e '[.orders[] | select(.erasure_k == 1 and (.cores | length) == 3)] | length >= 1' "$work/orders.json" >/dev/null || fail "no 1-of-3 order after the restart with 1+2: $(jq -c '[.orders[] | {id, erasure_k, erasure_n}]' "$work/orders.json")"
jq -e '[.orders[] | select(.erasure_k == 2 and (.cores | length) == 3)] | length >= 1' "$work/orders.json" >/dev/null || fail "the 2+1 orders are gone"
echo "   measured: metadata of $stored stored bytes recovered in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}') s (the command; $(jq -r '.took_ns / 1e9' "$work/recover.json") s inside), $(jq -r .log_bytes "$work/recover.json") bytes of the metadata log read (generation $gens, $metalog_bytes stream bytes); object data is read from the hosters on demand (--cache-bytes 0)"

say "recover --fetch-data: a full local copy of the data cores (measured)"
"$datdot_bin" gateway recover --master-secret-file "$work/phrase.txt" --home "$work/gw3" --fetch-data \
	--chain.grpc "$grpc" --chain.rpc "$rpc" >"$work/recover3.json" 2>>"$work/recover.log" || fail "recover --fetch-data"
jq -e --argjson s "$stored" '.volumes >= 1 and .data_bytes >= $s' "$work/recover3.json" >/dev/null || fail "fetch-data stats: $(cat "$work/recover3.json")"
[ "$(find "$work/gw3/network/volumes" -name header | wc -l)" -ge 2 ] || fail "no data core copied"
echo "   measured: full copy read $(jq -r '.log_bytes + .data_bytes' "$work/recover3.json") bytes from hosters in $(jq -r '.took_ns / 1e9' "$work/recover3.json") s, $(awk -v r="$(jq -r '.log_bytes + .data_bytes' "$work/recover3.json")" -v s="$stored" 'BEGIN{printf "%.3f", r/s}') bytes read per byte stored"
rm -rf "$work/gw3"

say "an operator's mass delete and a later write, undone with restore --at"
before_delete="$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)"
until_ok 10 "the clock moved past the moment" test "$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)" \> "$before_delete"
aws s3 rm --only-show-errors --recursive s3://mastodon/media_attachments/ || fail "mass delete"
head -c 30000 /dev/urandom >"$work/late.png"
aws s3 cp --only-show-errors "$work/late.png" s3://mastodon/cache/late.png || fail "late PUT"
[ -z "$(aws s3 ls --recursive s3://mastodon/media_attachments/)" ] || fail "mass delete left media"
aws s3api list-object-versions --bucket mastodon | jq -e '[.Versions[]?, .DeleteMarkers[]?] | all(.VersionId == "null") and (map(.Key) | index("media_attachments/files/109/000/001/small/photo.jpg") == null)' >/dev/null \
	|| fail "ListObjectVersions of the unversioned bucket shows hidden versions"
stop_gateway
"$datdot_bin" gateway versions --data "$work/gw2" --bucket mastodon --prefix media_attachments/files/109/000/001/ --json >"$work/hidden.json"
[ "$(jq -s '[.[] | select(.state == "hidden")] | length' "$work/hidden.json")" = 2 ] || fail "versions: $(cat "$work/hidden.json")"
"$datdot_bin" gateway restore --data "$work/gw2" --bucket mastodon --at "$before_delete" | tee "$work/restore.out"
start_gateway "$work/gw2" --erasure-k 1 --erasure-m 2
check_all
if aws s3api head-object --bucket mastodon --key cache/late.png >/dev/null 2>&1; then fail "the later object is still current"; fi
stop_gateway
"$datdot_bin" gateway versions --data "$work/gw2" --bucket mastodon --prefix cache/late.png --json >"$work/late.json"
jq -s -e 'length == 1 and .[0].state == "hidden"' "$work/late.json" >/dev/null || fail "the later object was not kept: $(cat "$work/late.json")"
echo "backup-e2e: all steps passed"
