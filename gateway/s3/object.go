package s3

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/datdot/datdot/gateway/s3err"
	"github.com/datdot/datdot/gateway/sigv4"
	"github.com/datdot/datdot/gateway/store"
)

// storedHeaders are the standard headers kept with an object.
var storedHeaders = []string{"Content-Type", "Cache-Control", "Content-Disposition", "Content-Encoding", "Content-Language", "Expires", "X-Amz-Website-Redirect-Location"}

// maxMetaSize is AWS's limit on the size of user metadata.
const maxMetaSize = 2 << 10

// requestMeta collects the stored headers and x-amz-meta-* of a request.
func (q *request) requestMeta() (map[string]string, map[string]string, error) {
	hdr := map[string]string{}
	for _, h := range storedHeaders {
		if v, ok := q.r.Header[h]; ok {
			hdr[h] = strings.Join(v, ",")
		}
	}
	if q.auth != nil {
		if q.auth.ContentEncoding != "" {
			hdr["Content-Encoding"] = strings.Join(trimAll(strings.Split(q.auth.ContentEncoding, ",")), ", ")
		} else {
			delete(hdr, "Content-Encoding")
		}
	}
	meta := map[string]string{}
	size := 0
	for k, v := range q.r.Header {
		name, ok := strings.CutPrefix(strings.ToLower(k), "x-amz-meta-")
		if !ok {
			continue
		}
		val := strings.Join(v, ",")
		meta[name] = val
		size += len(name) + len(val)
	}
	if size > maxMetaSize {
		return nil, nil, s3err.MetadataTooLarge
	}
	return hdr, meta, nil
}

// versionID returns the versionId query parameter.
func (q *request) versionID() string { return q.q.Get("versionId") }

// objectErr maps store errors of object lookups.
func (q *request) objectErr(err error) error {
	if errors.Is(err, store.ErrNoSuchVersion) {
		v := q.versionID()
		if v != store.NullVersion && !validVersionID(v) {
			return s3err.InvalidArgument.With("Invalid version id specified")
		}
	}
	return err
}

func validVersionID(v string) bool {
	if len(v) != 32 {
		return false
	}
	return strings.Trim(v, "0123456789abcdef") == ""
}

// putCheck implements the conditional-write headers If-Match and
// If-None-Match of PutObject and CompleteMultipartUpload.
func (q *request) putCheck() store.PutCheck {
	ifMatch := q.r.Header.Get("If-Match")
	ifNone := q.r.Header.Get("If-None-Match")
	if ifMatch == "" && ifNone == "" {
		return nil
	}
	return func(cur *store.Object) error {
		if ifNone != "" && cur != nil && etagMatches(ifNone, cur.ETag) {
			return s3err.PreconditionFailed
		}
		if ifMatch != "" {
			if cur == nil {
				return s3err.NoSuchKey
			}
			if !etagMatches(ifMatch, cur.ETag) {
				return s3err.PreconditionFailed
			}
		}
		return nil
	}
}

func (q *request) putObject() error {
	b, err := q.loadBucket(permWrite)
	if err != nil {
		return err
	}
	if err := q.checkBodySize(); err != nil {
		return err
	}
	if err := q.checkBytesLimit(b, q.auth.ContentLength); err != nil {
		return err
	}
	hdr, meta, err := q.requestMeta()
	if err != nil {
		return err
	}
	owner, acl, err := q.newObjectACL(b)
	if err != nil {
		return err
	}
	if q.newTags, err = q.headerTags(); err != nil {
		return err
	}
	if q.newLock, err = q.requestLock(b, time.Now().UTC()); err != nil {
		return err
	}
	if q.newLock.any() && !q.hasBodyDigest() {
		return errLockChecksum
	}
	t0 := time.Now()
	part, err := q.storeBody(q.auth.ContentLength, nil)
	if err != nil {
		return err
	}
	t1 := time.Now()
	obj, err := q.putSinglePart(part, nil, owner, acl, hdr, meta, q.putCheck())
	if err != nil {
		return err
	}
	q.s.log.Debug("put stages", "body_ms", float64(t1.Sub(t0).Microseconds())/1000, "meta_ms", float64(time.Since(t1).Microseconds())/1000)
	h := q.w.Header()
	h.Set("ETag", `"`+obj.ETag+`"`)
	if obj.VersionID != store.NullVersion {
		h.Set("x-amz-version-id", obj.VersionID)
	}
	for alg, v := range obj.Checksums {
		h.Set("x-amz-checksum-"+strings.ToLower(alg), v)
	}
	if obj.ChecksumType != "" {
		h.Set("x-amz-checksum-type", obj.ChecksumType)
	}
	q.w.WriteHeader(http.StatusOK)
	return nil
}

// checkBodySize refuses a PUT or UploadPart body of unknown length that is
// not chunked, or one declared larger than maxObjectSize.
func (q *request) checkBodySize() error {
	if q.auth.ContentLength < 0 && len(q.r.TransferEncoding) == 0 {
		return s3err.MissingContentLength
	}
	if q.auth.ContentLength > maxObjectSize {
		return s3err.EntityTooLarge
	}
	return nil
}

// putSinglePart commits an object of one part (PUT, copy) as the new
// version of the request's key and frees the blobs it replaced. A copy's
// data may be pieces of its source's blobs: pieces, when not nil, are the
// object's parts and part only gives its size, ETag and checksums.
func (q *request) putSinglePart(part store.Part, pieces []store.Part, owner store.Owner, acl store.ACL, hdr, meta map[string]string, check store.PutCheck) (store.Object, error) {
	// A new blob written for this object goes if the commit fails; pieces
	// of a copy's source are the source's.
	ownBlob := pieces == nil
	if ownBlob {
		pieces = []store.Part{part}
	}
	obj := store.Object{
		Key: q.key, Size: part.Size, ETag: part.ETag, Modified: part.Modified,
		Owner: owner, ACL: acl, Headers: hdr, Meta: meta,
		Checksums: part.Checksums, Parts: pieces, Tags: q.newTags,
	}
	applyLock(&obj, q.newLock)
	if len(obj.Checksums) > 0 {
		obj.ChecksumType = "FULL_OBJECT"
	}
	obj, freed, err := q.s.cfg.Meta.PutObject(q.ctx, q.bucket, obj, check)
	if err != nil {
		if ownBlob {
			q.s.reap.Discard(q.ctx, []store.BlobRef{part.Blob})
		}
		return obj, err
	}
	q.free(freed)
	return obj, nil
}

// maxObjectSize is the largest single PUT (AWS: 5 GiB).
const maxObjectSize = 5 << 30

// storeBody streams the verified request body into a new blob and returns
// it as a part (number 0) with its MD5 ETag and verified checksums, plus the
// checksums of algorithms in want that the client did not send. On any
// error no blob is left.
func (q *request) storeBody(size int64, want []string) (store.Part, error) {
	src := q.body()
	var capped *cappedReader
	if size < 0 {
		// Length unknown until the end (chunked bodies): stop at the
		// largest object size instead of filling the disk.
		capped = &cappedReader{r: src, left: maxObjectSize}
		src = capped
	}
	var hr *hashingReader
	if len(want) > 0 {
		hr = newHashingReader(src, want)
		src = hr
	}
	ref, err := store.WriteBlob(q.ctx, q.s.cfg.Blobs, src, size, func() error {
		if q.auth.MD5Hex() == "" {
			return s3err.IncompleteBody
		}
		return nil
	})
	if err != nil {
		if capped != nil && capped.over {
			return store.Part{}, s3err.EntityTooLarge
		}
		return store.Part{}, err
	}
	p := store.Part{Size: ref.Size, Blob: ref, Modified: time.Now().UTC()}
	p.ETag = q.auth.MD5Hex()
	sums := q.auth.Checksums()
	for alg, v := range sums {
		if alg == sigv4.ContentMD5 {
			continue
		}
		if p.Checksums == nil {
			p.Checksums = map[string]string{}
		}
		p.Checksums[alg] = v
	}
	if hr != nil {
		for alg, v := range hr.checksums() {
			if p.Checksums == nil {
				p.Checksums = map[string]string{}
			}
			if _, ok := p.Checksums[alg]; !ok {
				p.Checksums[alg] = v
			}
		}
	}
	return p, nil
}

// cappedReader fails once more than left bytes were read.
type cappedReader struct {
	r    io.Reader
	left int64
	over bool
}

func (c *cappedReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		c.over = true
		return 0, s3err.EntityTooLarge
	}
	return n, err
}

// deleteObject implements DeleteObject.
func (q *request) deleteObject() error {
	b, err := q.loadBucket(permWrite)
	if err != nil {
		return err
	}
	res, err := q.deleteOne(b, q.key, q.versionID())
	if err != nil {
		return err
	}
	h := q.w.Header()
	if res.DeleteMarker {
		h.Set("x-amz-delete-marker", "true")
	}
	if res.VersionID != "" && (b.Versioning != store.VersioningOff || q.versionID() != "") {
		h.Set("x-amz-version-id", res.VersionID)
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// deleteOne deletes a key or one version of it; deleting what does not
// exist succeeds, as in S3.
func (q *request) deleteOne(b store.Bucket, key, versionID string) (store.DeleteResult, error) {
	if versionID != "" && versionID != store.NullVersion && !validVersionID(versionID) {
		return store.DeleteResult{}, s3err.InvalidArgument.With("Invalid version id specified")
	}
	if versionID != "" && b.ObjectLock != nil {
		// A version that object lock protects stays.
		defer q.s.keyLocks.lock(b.Name, key)()
		if err := q.checkDeleteLock(b, key, versionID); err != nil {
			return store.DeleteResult{}, err
		}
	}
	res, freed, err := q.s.cfg.Meta.DeleteObject(q.ctx, b.Name, key, versionID)
	if errors.Is(err, store.ErrNoSuchVersion) || errors.Is(err, store.ErrNoSuchKey) {
		return store.DeleteResult{VersionID: versionID}, nil
	}
	if err != nil {
		return res, err
	}
	q.free(freed)
	return res, nil
}

// sendData streams an object's data from rc into w. clientGone is true
// when the error came from writing to the client (it hung up).
func sendData(w io.Writer, rc io.Reader) (clientGone bool, err error) {
	cw := &clientWriter{w: w}
	_, err = store.CopyBuffered(cw, onlyReader{rc})
	return cw.err != nil, err
}

// clientWriter remembers a write error.
type clientWriter struct {
	w   io.Writer
	err error
}

func (c *clientWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if err != nil {
		c.err = err
	}
	return n, err
}

// onlyReader hides WriterTo so that store.CopyBuffered goes through
// clientWriter.
type onlyReader struct{ io.Reader }

func httpDate(t time.Time) string { return t.UTC().Format(http.TimeFormat) }

// etagMatches compares an If-Match style header (a list, or *) with an
// unquoted ETag.
func etagMatches(header, etag string) bool {
	for _, v := range strings.Split(header, ",") {
		v = strings.TrimSpace(v)
		v = strings.TrimPrefix(v, "W/")
		if v == "*" || strings.Trim(v, `"`) == etag {
			return true
		}
	}
	return false
}

func parseHTTPTime(v string) (time.Time, bool) {
	t, err := http.ParseTime(v)
	if err != nil {
		return t, false
	}
	return t, true
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
