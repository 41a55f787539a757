package s3

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/datdot/datdot/gateway/s3err"
	"github.com/datdot/datdot/gateway/s3xml"
	"github.com/datdot/datdot/gateway/sigv4"
	"github.com/datdot/datdot/gateway/store"
)

// hashingReader computes the MD5 and chosen checksums of what passes
// through it.
type hashingReader struct {
	r    io.Reader
	md5  hash.Hash
	sums map[string]hash.Hash
}

func newHashingReader(r io.Reader, algs []string) *hashingReader {
	h := &hashingReader{r: r, md5: md5.New(), sums: map[string]hash.Hash{}}
	for _, alg := range algs {
		if hh, ok := sigv4.NewChecksumHash(alg); ok {
			h.sums[strings.ToUpper(alg)] = hh
		}
	}
	return h
}

func (h *hashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	if n > 0 {
		h.md5.Write(p[:n])
		for _, s := range h.sums {
			s.Write(p[:n])
		}
	}
	return n, err
}

func (h *hashingReader) etag() string { return hex.EncodeToString(h.md5.Sum(nil)) }

func (h *hashingReader) checksums() map[string]string {
	if len(h.sums) == 0 {
		return nil
	}
	out := map[string]string{}
	for alg, s := range h.sums {
		out[alg] = base64.StdEncoding.EncodeToString(s.Sum(nil))
	}
	return out
}

// copySource is a parsed x-amz-copy-source header.
type copySource struct {
	bucket, key, versionID string
}

func parseCopySource(v string) (copySource, error) {
	var cs copySource
	path, rawQuery, _ := strings.Cut(v, "?")
	p, err := url.PathUnescape(path)
	if err != nil {
		return cs, s3err.InvalidArgument.With("Invalid copy source encoding")
	}
	p = strings.TrimPrefix(p, "/")
	cs.bucket, cs.key, _ = strings.Cut(p, "/")
	if cs.bucket == "" || cs.key == "" {
		return cs, s3err.InvalidArgument.With("Copy Source must mention the source bucket and key: sourcebucket/sourcekey")
	}
	if rawQuery != "" {
		qv, err := url.ParseQuery(rawQuery)
		if err != nil {
			return cs, s3err.InvalidArgument.With("Invalid copy source query")
		}
		cs.versionID = qv.Get("versionId")
		if _, ok := qv["versionId"]; ok && cs.versionID == "" {
			return cs, s3err.InvalidArgument.With("Version id cannot be the empty string")
		}
	}
	return cs, nil
}

// loadCopySource resolves x-amz-copy-source, checking read access and the
// x-amz-copy-source-if-* conditions, loads the parts that hold the bytes
// span returns (from the source's record; an error it returns is the
// request's) and pins them; the caller calls the returned unpin when done
// reading.
func (q *request) loadCopySource(span func(src *store.Object) (off, n int64, err error)) (copySource, store.Object, func(), error) {
	for attempt := 0; ; attempt++ {
		cs, obj, err := q.lookupCopySource()
		if err != nil {
			return cs, obj, nil, err
		}
		off, n, err := span(&obj)
		if err != nil {
			return cs, obj, nil, err
		}
		err = q.s.cfg.Meta.LoadParts(q.ctx, cs.bucket, &obj, store.PartsQuery{Offset: off, Length: n})
		if err == nil {
			var unpin func()
			if unpin, err = q.pinObject(cs.bucket, &obj); err == nil {
				return cs, obj, unpin, nil
			}
		} else if !errors.Is(err, store.ErrNoSuchVersion) {
			return cs, obj, nil, err
		}
		if attempt == 3 {
			return cs, obj, nil, errReplaced
		}
	}
}

func (q *request) lookupCopySource() (copySource, store.Object, error) {
	cs, err := parseCopySource(q.r.Header.Get("x-amz-copy-source"))
	if err != nil {
		return cs, store.Object{}, err
	}
	if len(cs.key) > 1024 {
		return cs, store.Object{}, s3err.KeyTooLong
	}
	sb, err := q.s.cfg.Meta.GetBucket(q.ctx, cs.bucket)
	if err != nil {
		return cs, store.Object{}, err
	}
	if exp := q.r.Header.Get("x-amz-source-expected-bucket-owner"); exp != "" && exp != sb.Owner.ID {
		return cs, store.Object{}, s3err.AccessDenied
	}
	obj, err := q.s.cfg.Meta.GetObject(q.ctx, cs.bucket, cs.key, cs.versionID)
	if err != nil {
		if derr := q.denyMissing(sb, cs.key, err); derr != nil {
			return cs, obj, derr
		}
		if cs.versionID != "" && cs.versionID != store.NullVersion && !validVersionID(cs.versionID) {
			return cs, obj, s3err.InvalidArgument.With("Invalid version id specified")
		}
		return cs, obj, err
	}
	if obj.DeleteMarker {
		return cs, obj, s3err.InvalidRequest.With("The source of a copy request may not specifically refer to a delete marker by version id.")
	}
	action := "s3:GetObject"
	if cs.versionID != "" {
		action = "s3:GetObjectVersion"
	}
	if !q.authorizeAs(sb, allowed(q.user, effectiveACL(sb, obj.ACL), permRead), action, "arn:aws:s3:::"+cs.bucket+"/"+cs.key) {
		return cs, obj, s3err.AccessDenied
	}
	if err := checkConditions(q.r.Header, obj.ETag, obj.Modified, "X-Amz-Copy-Source-"); err != nil {
		return cs, obj, err
	}
	return cs, obj, nil
}

// copyData prepares a copy of n bytes of src from off without copying
// them: pieces are the ranges of src's blobs that hold them (the copy
// shares those blobs), and part carries the copy's size, MD5 ETag and the
// checksums named by algs, computed by reading the data through. Reading
// also proves the source data intact: lost or short data fails the copy
// here instead of making a copy that cannot be read.
func (q *request) copyData(src *store.Object, off, n int64, algs []string) (store.Part, []store.Part, error) {
	rc, err := store.OpenObject(q.ctx, q.s.cfg.Blobs, src, off, n)
	if err != nil {
		return store.Part{}, nil, err
	}
	defer rc.Close()
	hr := newHashingReader(rc, algs)
	got, err := io.CopyBuffer(io.Discard, hr, make([]byte, 256<<10))
	if err != nil {
		return store.Part{}, nil, err
	}
	if got != n {
		return store.Part{}, nil, fmt.Errorf("copy source: read %d of %d bytes: %w", got, n, store.ErrDataShort)
	}
	now := time.Now().UTC()
	part := store.Part{Size: n, ETag: hr.etag(), Checksums: hr.checksums(), Modified: now}
	var pieces []store.Part
	start := src.PartsAt
	for _, p := range src.Parts {
		lo, hi := max(off, start), min(off+n, start+p.Size)
		if lo < hi {
			pieces = append(pieces, store.Part{Size: hi - lo, Blob: p.Blob, Offset: p.Offset + lo - start, ETag: part.ETag, Modified: now})
		}
		start += p.Size
	}
	return part, pieces, nil
}

// copyBytes copies n bytes of src from off into a new blob.
func (q *request) copyBytes(src *store.Object, off, n int64, algs []string) (store.Part, error) {
	rc, err := store.OpenObject(q.ctx, q.s.cfg.Blobs, src, off, n)
	if err != nil {
		return store.Part{}, err
	}
	defer rc.Close()
	hr := newHashingReader(rc, algs)
	ref, err := store.WriteBlob(q.ctx, q.s.cfg.Blobs, hr, n, nil)
	if err != nil {
		return store.Part{}, err
	}
	return store.Part{Size: ref.Size, Blob: ref, ETag: hr.etag(), Checksums: hr.checksums(), Modified: time.Now().UTC()}, nil
}

func (q *request) copyObject() error {
	b, err := q.loadBucket(permWrite)
	if err != nil {
		return err
	}
	cs, src, unpin, err := q.loadCopySource(func(src *store.Object) (int64, int64, error) {
		if src.Size > maxObjectSize {
			return 0, 0, nil // refused below
		}
		return 0, src.Size, nil
	})
	if err != nil {
		return err
	}
	defer unpin()
	directive := strings.ToUpper(q.r.Header.Get("x-amz-metadata-directive"))
	if directive != "" && directive != "COPY" && directive != "REPLACE" {
		return s3err.InvalidArgument.With("Unknown metadata directive.")
	}
	if cs.bucket == q.bucket && cs.key == q.key && directive != "REPLACE" && cs.versionID == "" &&
		q.r.Header.Get("x-amz-storage-class") == "" && q.r.Header.Get("x-amz-checksum-algorithm") == "" {
		return s3err.InvalidRequest.With("This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
	}
	if src.Size > maxObjectSize {
		return s3err.InvalidRequest.With("The specified copy source is larger than the maximum allowable size for a copy source: 5368709120")
	}
	if err := q.checkBytesLimit(b, src.Size); err != nil {
		return err
	}
	hdr, meta := src.Headers, src.Meta
	if directive == "REPLACE" {
		if hdr, meta, err = q.requestMeta(); err != nil {
			return err
		}
	}
	switch td := strings.ToUpper(q.r.Header.Get("x-amz-tagging-directive")); td {
	case "", "COPY":
		q.newTags = src.Tags
	case "REPLACE":
		if q.newTags, err = q.headerTags(); err != nil {
			return err
		}
	default:
		return s3err.InvalidArgument.With("Unknown tagging directive.")
	}
	owner, acl, err := q.newObjectACL(b)
	if err != nil {
		return err
	}
	// The copy's object lock is its own (headers or the bucket's default),
	// never the source's.
	if q.newLock, err = q.requestLock(b, time.Now().UTC()); err != nil {
		return err
	}
	var algs []string
	if a := q.r.Header.Get("x-amz-checksum-algorithm"); a != "" {
		if _, ok := sigv4.NewChecksumHash(a); !ok {
			return s3err.InvalidRequest.With("Checksum algorithm provided is unsupported.")
		}
		algs = []string{strings.ToUpper(a)}
	} else if src.ChecksumType == "FULL_OBJECT" || !src.Multipart {
		algs = sortedAlgs(src.Checksums)
	}
	part, pieces, err := q.copyData(&src, 0, src.Size, algs)
	if err != nil {
		return err
	}
	if pieces == nil {
		pieces = []store.Part{} // an empty object: no blob
	}
	obj, err := q.putSinglePart(part, pieces, owner, acl, hdr, meta, nil)
	if err != nil {
		return err
	}
	h := q.w.Header()
	if b.Versioning != store.VersioningOff {
		h.Set("x-amz-version-id", obj.VersionID)
	}
	if src.VersionID != store.NullVersion || cs.versionID != "" {
		h.Set("x-amz-copy-source-version-id", src.VersionID)
	}
	res := s3xml.CopyObjectResult{Xmlns: s3xml.NS, LastModified: s3xml.Time(obj.Modified), ETag: `"` + obj.ETag + `"`}
	res.ChecksumCRC32 = obj.Checksums["CRC32"]
	res.ChecksumCRC32C = obj.Checksums["CRC32C"]
	res.ChecksumSHA1 = obj.Checksums["SHA1"]
	res.ChecksumSHA256 = obj.Checksums["SHA256"]
	q.writeXML(res)
	return nil
}
