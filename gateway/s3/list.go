package s3

import (
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/datdot/datdot/gateway/s3err"
	"github.com/datdot/datdot/gateway/s3xml"
	"github.com/datdot/datdot/gateway/store"
)

// listBatch is the most entries read from the store at a time. After a
// common prefix the walk seeks past it and reads a small batch first
// (batchAfterPrefix, doubling while no prefix interrupts), so that listing
// many prefixes does not decode a full batch per prefix.
const (
	listBatch        = 1000
	batchAfterPrefix = 8
)

func nextBatch(cur int, restarted bool) int {
	if restarted {
		return batchAfterPrefix
	}
	return min(cur*2, listBatch)
}

// skipPrefix returns a key marker past every valid-UTF-8 key that starts
// with p (UTF-8 never contains the byte 0xff). Keys stored before keys were
// checked may contain 0xff; walkKeys stays correct and finite for them.
func skipPrefix(p string) string { return p + "\xff" }

// errKeyOutOfOrder: the store listed a key before the position it was
// asked to list after.
var errKeyOutOfOrder = errors.New("listing: store returned a key out of order (a stored key is not valid UTF-8?)")

// validKey reports whether key may name an object: valid UTF-8, as S3
// requires.
func validKey(key string) bool { return utf8.ValidString(key) }

// urlEncode encodes a listing value for encoding-type=url.
func urlEncode(s string) string {
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' || c == '/' {
			sb.WriteByte(c)
			continue
		}
		sb.WriteString("%" + strings.ToUpper(strconv.FormatInt(int64(c)|0x100, 16)[1:]))
	}
	return sb.String()
}

// parseMaxKeys reads a max-keys style parameter: default 1000, capped at 1000.
func (q *request) parseMaxKeys(param string) (int, error) {
	v := q.q.Get(param)
	if v == "" {
		return 1000, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, s3err.InvalidArgument.With("Argument " + param + " must be an integer between 0 and 2147483647")
	}
	return min(n, 1000), nil
}

// listParams are the parameters every listing takes.
type listParams struct {
	prefix, delim, enc string
	max                int
	// encode applies encoding-type=url to a value of the response.
	encode func(string) string
}

// listParams reads prefix, delimiter, encoding-type and the page size
// parameter maxParam (max-keys, max-uploads).
func (q *request) listParams(maxParam string) (listParams, error) {
	lp := listParams{prefix: q.q.Get("prefix"), delim: q.q.Get("delimiter"), enc: q.q.Get("encoding-type")}
	switch lp.enc {
	case "":
		lp.encode = func(s string) string { return s }
	case "url":
		lp.encode = urlEncode
	default:
		return lp, s3err.InvalidEncodingType
	}
	var err error
	lp.max, err = q.parseMaxKeys(maxParam)
	return lp, err
}

// listing is the result of walking keys with a delimiter: objects,
// versions or uploads (T), and common prefixes.
type listing[T any] struct {
	entries   []T
	prefixes  []string
	truncated bool
	// nextKey and nextID mark the last entry or common prefix returned
	// (nextID is a version or upload id, "" for objects and prefixes).
	nextKey, nextID string
}

// walkKeys collects up to max entries and common prefixes after the marker
// (marker, markerID), in key order. fetch returns the next batch of entries
// after (after, afterID); keyID returns an entry's key and id ("" for
// objects). One walk serves objects, versions and uploads.
//
// The walk makes progress by construction: each entry a batch returns moves
// the position (after, afterID) strictly past that entry, either to the
// entry itself or to a point past its common prefix, whichever is greater,
// so a batch never returns the same entry twice and the walk ends after at
// most one fetch per stored entry, whatever bytes the keys contain.
func walkKeys[T any](prefix, delim, marker, markerID string, max int,
	fetch func(after, afterID string, limit int) ([]T, error), keyID func(T) (string, string)) (listing[T], error) {
	var out listing[T]
	if max == 0 {
		return out, nil
	}
	after, afterID := marker, markerID
	count := 0
	limit := listBatch
	lastPrefix := ""
	for {
		batch, err := fetch(after, afterID, limit)
		if err != nil {
			return out, err
		}
		restart := false
		for _, e := range batch {
			key, id := keyID(e)
			if key < after || key == after && (afterID == "" || id == afterID) {
				// The store answered an entry at or before the position
				// asked for: a key stored before keys were checked to be
				// UTF-8, whose record no longer spells its key. Fetching
				// again would return it again: end the walk with an error.
				return out, fmt.Errorf("%w: %q after %q", errKeyOutOfOrder, key, after)
			}
			if delim != "" && strings.HasPrefix(key, prefix) {
				if i := strings.Index(key[len(prefix):], delim); i >= 0 {
					cp := key[:len(prefix)+i+len(delim)]
					// Move past the prefix, or at least past this entry
					// (a key with 0xff after cp sorts after skipPrefix(cp)).
					if skip := skipPrefix(cp); skip > key {
						after, afterID, restart = skip, "", true
					} else {
						after, afterID = key, id
					}
					if cp <= marker || cp == lastPrefix {
						if restart {
							break
						}
						continue
					}
					if count == max {
						out.truncated = true
						return out, nil
					}
					out.prefixes = append(out.prefixes, cp)
					out.nextKey, out.nextID = cp, ""
					lastPrefix = cp
					count++
					if restart {
						break
					}
					continue
				}
			}
			if count == max {
				out.truncated = true
				return out, nil
			}
			out.entries = append(out.entries, e)
			out.nextKey, out.nextID = key, id
			after, afterID = key, id
			count++
		}
		if !restart && len(batch) < limit {
			return out, nil
		}
		limit = nextBatch(limit, restart)
	}
}

func (q *request) listObjects(version int) error {
	if _, err := q.loadBucket(permRead); err != nil {
		return err
	}
	lp, err := q.listParams("max-keys")
	if err != nil {
		return err
	}
	prefix, delim, enc, max, e := lp.prefix, lp.delim, lp.enc, lp.max, lp.encode
	marker := q.q.Get("marker")
	token := q.q.Get("continuation-token")
	startAfter := q.q.Get("start-after")
	if version == 2 {
		marker = startAfter
		if token != "" {
			raw, derr := base64.RawURLEncoding.DecodeString(token)
			if derr != nil {
				return s3err.InvalidArgument.With("The continuation token provided is incorrect")
			}
			marker = string(raw)
		}
	}
	l, err := walkKeys(prefix, delim, marker, "", max, func(after, _ string, limit int) ([]store.Object, error) {
		// A store may stop a transaction after a bounded number of reads
		// (store.ScanLimited): go on from where it stopped, in a new
		// transaction, until the batch is full or the keys end.
		var out []store.Object
		for {
			objs, err := q.s.cfg.Meta.ListObjects(q.ctx, q.bucket, store.ListQuery{Prefix: prefix, After: after, Limit: limit - len(out)})
			out = append(out, objs...)
			var sl *store.ScanLimited
			if !errors.As(err, &sl) {
				return out, err
			}
			if sl.After <= after {
				return out, fmt.Errorf("%w: scan stopped at %q after %q", errKeyOutOfOrder, sl.After, after)
			}
			if len(out) == limit {
				return out, nil
			}
			after = sl.After
		}
	}, func(o store.Object) (string, string) { return o.Key, "" })
	if err != nil {
		return err
	}
	res := s3xml.ListBucketResult{
		Xmlns: s3xml.NS, Name: q.bucket, Prefix: e(prefix), MaxKeys: max,
		Delimiter: e(delim), EncodingType: enc, IsTruncated: l.truncated,
	}
	fetchOwner := version == 1 || q.q.Get("fetch-owner") == "true"
	for _, o := range l.entries {
		x := s3xml.Object{Key: e(o.Key), LastModified: s3xml.Time(o.Modified), ETag: `"` + o.ETag + `"`, Size: o.Size, StorageClass: "STANDARD"}
		if fetchOwner {
			x.Owner = &s3xml.Owner{ID: o.Owner.ID, DisplayName: o.Owner.DisplayName}
		}
		for alg := range o.Checksums {
			x.ChecksumAlgorithm = append(x.ChecksumAlgorithm, alg)
		}
		if len(o.Checksums) > 0 {
			x.ChecksumType = o.ChecksumType
		}
		res.Contents = append(res.Contents, x)
	}
	for _, p := range l.prefixes {
		res.CommonPrefixes = append(res.CommonPrefixes, s3xml.CommonPrefix{Prefix: e(p)})
	}
	if version == 1 {
		res.Prefix = prefix // botocore decodes Prefix only in v2 listings
		m := e(marker)
		res.Marker = &m
		if l.truncated && delim != "" {
			res.NextMarker = e(l.nextKey)
		}
	} else {
		n := len(l.entries) + len(l.prefixes)
		res.KeyCount = &n
		if _, ok := q.q["continuation-token"]; ok {
			res.ContinuationToken = &token
		}
		res.StartAfter = e(startAfter)
		if l.truncated {
			res.NextContinuationToken = base64.RawURLEncoding.EncodeToString([]byte(l.nextKey))
		}
	}
	q.writeXML(res)
	return nil
}

// listVersions implements ListObjectVersions.
func (q *request) listVersions() error {
	b, err := q.loadBucket(permRead)
	if err != nil {
		return err
	}
	lp, err := q.listParams("max-keys")
	if err != nil {
		return err
	}
	prefix, delim, enc, max, e := lp.prefix, lp.delim, lp.enc, lp.max, lp.encode
	keyMarker, vidMarker := q.q.Get("key-marker"), q.q.Get("version-id-marker")
	if vidMarker != "" && keyMarker == "" {
		return s3err.InvalidArgument.With("A version-id marker cannot be specified without a key marker.")
	}
	res := s3xml.ListVersionsResult{
		Xmlns: s3xml.NS, Name: b.Name, Prefix: e(prefix), KeyMarker: e(keyMarker), VersionIDMarker: vidMarker,
		MaxKeys: max, Delimiter: e(delim), EncodingType: enc,
	}
	l, err := walkKeys(prefix, delim, keyMarker, vidMarker, max, func(after, afterID string, limit int) ([]store.Object, error) {
		return q.s.cfg.Meta.ListVersions(q.ctx, q.bucket, store.ListQuery{Prefix: prefix, After: after, AfterID: afterID, Limit: limit})
	}, func(o store.Object) (string, string) { return o.Key, o.VersionID })
	if err != nil {
		return err
	}
	for _, o := range l.entries {
		v := s3xml.Version{
			Key: e(o.Key), VersionID: o.VersionID, IsLatest: o.IsLatest, LastModified: s3xml.Time(o.Modified),
			Owner: &s3xml.Owner{ID: o.Owner.ID, DisplayName: o.Owner.DisplayName},
		}
		if o.DeleteMarker {
			v.XMLName.Local = "DeleteMarker"
		} else {
			v.XMLName.Local = "Version"
			v.ETag = `"` + o.ETag + `"`
			size := o.Size
			v.Size = &size
			v.StorageClass = "STANDARD"
			for alg := range o.Checksums {
				v.ChecksumAlgorithm = append(v.ChecksumAlgorithm, alg)
			}
			if len(o.Checksums) > 0 {
				v.ChecksumType = o.ChecksumType
			}
		}
		res.Versions = append(res.Versions, v)
	}
	for _, p := range l.prefixes {
		res.CommonPrefixes = append(res.CommonPrefixes, s3xml.CommonPrefix{Prefix: e(p)})
	}
	if res.IsTruncated = l.truncated; res.IsTruncated {
		res.NextKeyMarker = e(l.nextKey)
		res.NextVersionIDMarker = l.nextID
	}
	q.writeXML(res)
	return nil
}

// listUploads implements ListMultipartUploads.
func (q *request) listUploads() error {
	if _, err := q.loadBucket(permRead); err != nil {
		return err
	}
	lp, err := q.listParams("max-uploads")
	if err != nil {
		return err
	}
	prefix, delim, enc, max, e := lp.prefix, lp.delim, lp.enc, lp.max, lp.encode
	keyMarker, idMarker := q.q.Get("key-marker"), q.q.Get("upload-id-marker")
	if keyMarker == "" {
		idMarker = ""
	}
	res := s3xml.ListMultipartUploadsResult{
		Xmlns: s3xml.NS, Bucket: q.bucket, KeyMarker: e(keyMarker), UploadIDMarker: idMarker,
		Prefix: e(prefix), Delimiter: e(delim), MaxUploads: max, EncodingType: enc,
	}
	l, err := walkKeys(prefix, delim, keyMarker, idMarker, max, func(after, afterID string, limit int) ([]store.Upload, error) {
		return q.s.cfg.Meta.ListUploads(q.ctx, q.bucket, store.ListQuery{Prefix: prefix, After: after, AfterID: afterID, Limit: limit})
	}, func(u store.Upload) (string, string) { return u.Key, u.UploadID })
	if err != nil {
		return err
	}
	for _, u := range l.entries {
		res.Uploads = append(res.Uploads, s3xml.Upload{
			Key: e(u.Key), UploadID: u.UploadID, StorageClass: "STANDARD", Initiated: s3xml.Time(u.Initiated),
			Initiator:         s3xml.Owner{ID: u.Owner.ID, DisplayName: u.Owner.DisplayName},
			Owner:             s3xml.Owner{ID: u.Owner.ID, DisplayName: u.Owner.DisplayName},
			ChecksumAlgorithm: u.ChecksumAlgorithm,
		})
	}
	for _, p := range l.prefixes {
		res.CommonPrefixes = append(res.CommonPrefixes, s3xml.CommonPrefix{Prefix: e(p)})
	}
	if res.IsTruncated = l.truncated; res.IsTruncated {
		res.NextKeyMarker, res.NextUploadIDMarker = e(l.nextKey), l.nextID
	}
	q.writeXML(res)
	return nil
}

// sortedAlgs returns the algorithm names of a checksum map in order.
func sortedAlgs(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
