package s3

import (
	"encoding/base64"
	"sort"
	"strconv"
	"strings"

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

// skipPrefix returns a key marker past every key that starts with p (keys
// are UTF-8, which never contains the byte 0xff).
func skipPrefix(p string) string { return p + "\xff" }

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

// listing is the result of walking keys with a delimiter.
type listing struct {
	objects   []store.Object
	prefixes  []string
	truncated bool
	next      string // last key or common prefix returned
}

// walkKeys collects up to max keys and common prefixes after marker.
// fetch returns the next batch of entries after a key marker.
func walkKeys(prefix, delim, marker string, max int, fetch func(after string, limit int) ([]store.Object, error)) (listing, error) {
	var out listing
	if max == 0 {
		return out, nil
	}
	after := marker
	count := 0
	limit := listBatch
	for {
		batch, err := fetch(after, limit)
		if err != nil {
			return out, err
		}
		restart := false
		for _, o := range batch {
			if delim != "" {
				if i := strings.Index(o.Key[len(prefix):], delim); i >= 0 {
					cp := o.Key[:len(prefix)+i+len(delim)]
					after = skipPrefix(cp)
					restart = true
					if cp <= marker {
						break
					}
					if count == max {
						out.truncated = true
						return out, nil
					}
					out.prefixes = append(out.prefixes, cp)
					out.next = cp
					count++
					break
				}
			}
			if count == max {
				out.truncated = true
				return out, nil
			}
			out.objects = append(out.objects, o)
			out.next = o.Key
			after = o.Key
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
	prefix, delim := q.q.Get("prefix"), q.q.Get("delimiter")
	enc := q.q.Get("encoding-type")
	if enc != "" && enc != "url" {
		return s3err.InvalidEncodingType
	}
	max, err := q.parseMaxKeys("max-keys")
	if err != nil {
		return err
	}
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
	l, err := walkKeys(prefix, delim, marker, max, func(after string, limit int) ([]store.Object, error) {
		return q.s.cfg.Meta.ListObjects(q.ctx, q.bucket, store.ListQuery{Prefix: prefix, After: after, Limit: limit})
	})
	if err != nil {
		return err
	}
	e := func(s string) string { return s }
	if enc == "url" {
		e = urlEncode
	}
	res := s3xml.ListBucketResult{
		Xmlns: s3xml.NS, Name: q.bucket, Prefix: e(prefix), MaxKeys: max,
		Delimiter: e(delim), EncodingType: enc, IsTruncated: l.truncated,
	}
	fetchOwner := version == 1 || q.q.Get("fetch-owner") == "true"
	for _, o := range l.objects {
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
			res.NextMarker = e(l.next)
		}
	} else {
		n := len(l.objects) + len(l.prefixes)
		res.KeyCount = &n
		if _, ok := q.q["continuation-token"]; ok {
			res.ContinuationToken = &token
		}
		res.StartAfter = e(startAfter)
		if l.truncated {
			res.NextContinuationToken = base64.RawURLEncoding.EncodeToString([]byte(l.next))
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
	prefix, delim := q.q.Get("prefix"), q.q.Get("delimiter")
	enc := q.q.Get("encoding-type")
	if enc != "" && enc != "url" {
		return s3err.InvalidEncodingType
	}
	max, err := q.parseMaxKeys("max-keys")
	if err != nil {
		return err
	}
	keyMarker, vidMarker := q.q.Get("key-marker"), q.q.Get("version-id-marker")
	if vidMarker != "" && keyMarker == "" {
		return s3err.InvalidArgument.With("A version-id marker cannot be specified without a key marker.")
	}
	e := func(s string) string { return s }
	if enc == "url" {
		e = urlEncode
	}
	res := s3xml.ListVersionsResult{
		Xmlns: s3xml.NS, Name: b.Name, Prefix: e(prefix), KeyMarker: e(keyMarker), VersionIDMarker: vidMarker,
		MaxKeys: max, Delimiter: e(delim), EncodingType: enc,
	}
	after, afterID := keyMarker, vidMarker
	count, limit := 0, listBatch
	lastKey, lastVID := "", ""
walk:
	for max > 0 {
		batch, err := q.s.cfg.Meta.ListVersions(q.ctx, q.bucket, store.ListQuery{Prefix: prefix, After: after, AfterID: afterID, Limit: limit})
		if err != nil {
			return err
		}
		restart := false
		for _, o := range batch {
			if delim != "" {
				if i := strings.Index(o.Key[len(prefix):], delim); i >= 0 {
					cp := o.Key[:len(prefix)+i+len(delim)]
					after, afterID, restart = skipPrefix(cp), "", true
					if cp <= keyMarker {
						break
					}
					if count == max {
						res.IsTruncated = true
						break walk
					}
					res.CommonPrefixes = append(res.CommonPrefixes, s3xml.CommonPrefix{Prefix: e(cp)})
					lastKey, lastVID = cp, ""
					count++
					break
				}
			}
			if count == max {
				res.IsTruncated = true
				break walk
			}
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
			lastKey, lastVID = o.Key, o.VersionID
			after, afterID = o.Key, o.VersionID
			count++
		}
		if !restart && len(batch) < limit {
			break
		}
		limit = nextBatch(limit, restart)
	}
	if res.IsTruncated {
		res.NextKeyMarker = e(lastKey)
		res.NextVersionIDMarker = lastVID
	}
	q.writeXML(res)
	return nil
}

// listUploads implements ListMultipartUploads.
func (q *request) listUploads() error {
	if _, err := q.loadBucket(permRead); err != nil {
		return err
	}
	prefix, delim := q.q.Get("prefix"), q.q.Get("delimiter")
	enc := q.q.Get("encoding-type")
	if enc != "" && enc != "url" {
		return s3err.InvalidEncodingType
	}
	max, err := q.parseMaxKeys("max-uploads")
	if err != nil {
		return err
	}
	keyMarker, idMarker := q.q.Get("key-marker"), q.q.Get("upload-id-marker")
	if keyMarker == "" {
		idMarker = ""
	}
	e := func(s string) string { return s }
	if enc == "url" {
		e = urlEncode
	}
	res := s3xml.ListMultipartUploadsResult{
		Xmlns: s3xml.NS, Bucket: q.bucket, KeyMarker: e(keyMarker), UploadIDMarker: idMarker,
		Prefix: e(prefix), Delimiter: e(delim), MaxUploads: max, EncodingType: enc,
	}
	after, afterID := keyMarker, idMarker
	count, limit := 0, listBatch
walk:
	for max > 0 {
		batch, err := q.s.cfg.Meta.ListUploads(q.ctx, q.bucket, store.ListQuery{Prefix: prefix, After: after, AfterID: afterID, Limit: limit})
		if err != nil {
			return err
		}
		restart := false
		for _, u := range batch {
			if delim != "" {
				if i := strings.Index(u.Key[len(prefix):], delim); i >= 0 {
					cp := u.Key[:len(prefix)+i+len(delim)]
					after, afterID, restart = skipPrefix(cp), "", true
					if cp <= keyMarker {
						break
					}
					if count == max {
						res.IsTruncated = true
						break walk
					}
					res.CommonPrefixes = append(res.CommonPrefixes, s3xml.CommonPrefix{Prefix: e(cp)})
					res.NextKeyMarker, res.NextUploadIDMarker = e(cp), ""
					count++
					break
				}
			}
			if count == max {
				res.IsTruncated = true
				break walk
			}
			res.Uploads = append(res.Uploads, s3xml.Upload{
				Key: e(u.Key), UploadID: u.UploadID, StorageClass: "STANDARD", Initiated: s3xml.Time(u.Initiated),
				Initiator:         s3xml.Owner{ID: u.Owner.ID, DisplayName: u.Owner.DisplayName},
				Owner:             s3xml.Owner{ID: u.Owner.ID, DisplayName: u.Owner.DisplayName},
				ChecksumAlgorithm: u.ChecksumAlgorithm,
			})
			res.NextKeyMarker, res.NextUploadIDMarker = e(u.Key), u.UploadID
			after, afterID = u.Key, u.UploadID
			count++
		}
		if !restart && len(batch) < limit {
			break
		}
		limit = nextBatch(limit, restart)
	}
	if !res.IsTruncated {
		res.NextKeyMarker, res.NextUploadIDMarker = "", ""
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
