package s3

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/datdot/datdot/gateway/s3err"
	"github.com/datdot/datdot/gateway/store"
)

// responseOverrides are the query parameters that override response headers
// of GetObject, and the header each sets.
var responseOverrides = map[string]string{
	"response-content-type":        "Content-Type",
	"response-content-language":    "Content-Language",
	"response-expires":             "Expires",
	"response-cache-control":       "Cache-Control",
	"response-content-disposition": "Content-Disposition",
	"response-content-encoding":    "Content-Encoding",
}

// lookupObject loads the object a GET/HEAD-like request addresses and checks
// read access. A delete marker yields NoSuchKey (latest) or
// MethodNotAllowed (addressed by version), with x-amz-delete-marker set.
func (q *request) lookupObject(b store.Bucket, key, versionID string) (store.Object, error) {
	obj, err := q.s.cfg.Meta.GetObject(q.ctx, b.Name, key, versionID)
	if err != nil {
		if derr := q.denyMissing(b, key, err); derr != nil {
			return obj, derr
		}
		if errors.Is(err, store.ErrNoSuchKey) {
			if obj.DeleteMarker {
				q.w.Header().Set("x-amz-delete-marker", "true")
				q.w.Header().Set("x-amz-version-id", obj.VersionID)
			} else {
				q.w.Header().Set("x-amz-delete-marker", "false")
			}
		}
		return obj, q.objectErr(err)
	}
	if obj.DeleteMarker {
		q.w.Header().Set("x-amz-delete-marker", "true")
		q.w.Header().Set("x-amz-version-id", obj.VersionID)
		q.w.Header().Set("Last-Modified", httpDate(obj.Modified))
		return obj, s3err.MethodNotAllowed.With("The specified method is not allowed against this resource.")
	}
	if !q.canReadObject(b, &obj) {
		return obj, s3err.AccessDenied
	}
	return obj, nil
}

// checkConditions evaluates If-Match, If-Unmodified-Since, If-None-Match and
// If-Modified-Since in the order and with the precedence S3 uses.
func checkConditions(h http.Header, etag string, mod time.Time, prefix string) error {
	mod = mod.Truncate(time.Second)
	ifMatch := h.Get(prefix + "If-Match")
	if ifMatch != "" {
		if !etagMatches(ifMatch, etag) {
			return s3err.PreconditionFailed
		}
	} else if v := h.Get(prefix + "If-Unmodified-Since"); v != "" {
		if t, ok := parseHTTPTime(v); ok && mod.After(t) {
			return s3err.PreconditionFailed
		}
	}
	notModified := s3err.NotModified
	if prefix != "" {
		notModified = s3err.PreconditionFailed
	}
	if v := h.Get(prefix + "If-None-Match"); v != "" {
		if etagMatches(v, etag) {
			return notModified
		}
	} else if v := h.Get(prefix + "If-Modified-Since"); v != "" {
		if t, ok := parseHTTPTime(v); ok && !mod.After(t) {
			return notModified
		}
	}
	return nil
}

// parseRange parses a single "bytes=" range against size. ok is false when
// the header is absent or not a single syntactically valid range (S3 then
// serves the whole object); an unsatisfiable range returns InvalidRange.
func parseRange(v string, size int64) (start, length int64, ok bool, err error) {
	spec, found := strings.CutPrefix(strings.TrimSpace(v), "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false, nil
	}
	a, b, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false, nil
	}
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	if a == "" {
		n, perr := strconv.ParseInt(b, 10, 64)
		if perr != nil || n < 0 {
			return 0, 0, false, nil
		}
		if n == 0 || size == 0 {
			return 0, 0, false, s3err.InvalidRange
		}
		n = min(n, size)
		return size - n, n, true, nil
	}
	first, perr := strconv.ParseInt(a, 10, 64)
	if perr != nil || first < 0 {
		return 0, 0, false, nil
	}
	last := size - 1
	if b != "" {
		l, perr := strconv.ParseInt(b, 10, 64)
		if perr != nil || l < first {
			return 0, 0, false, nil
		}
		last = min(l, size-1)
	}
	if first >= size {
		return 0, 0, false, s3err.InvalidRange
	}
	return first, last - first + 1, true, nil
}

// getObject implements GetObject and HeadObject.
func (q *request) getObject(head bool) error {
	b, err := q.loadBucket("")
	if err != nil {
		return err
	}
	if q.has("partNumber") && q.r.Header.Get("Range") != "" {
		return s3err.InvalidRequest.With("Cannot specify both Range header and partNumber query parameter.")
	}
	var obj store.Object
	unpin := func() {}
	var start, length int64
	var partial bool
	for attempt := 0; ; attempt++ {
		if obj, err = q.lookupObject(b, q.key, q.versionID()); err != nil {
			return err
		}
		if start, length, partial, err = q.readSpan(&obj, head); err == nil {
			if head || length == 0 {
				break
			}
			var u func()
			if u, err = q.pinObject(b.Name, &obj); err == nil {
				unpin = u
				break
			}
		}
		if !errors.Is(err, errReplaced) {
			return err
		}
		if attempt == 3 {
			return err
		}
	}
	defer unpin()
	h := q.w.Header()
	overrides := map[string]string{}
	for p, hname := range responseOverrides {
		if v := q.q.Get(p); v != "" {
			overrides[hname] = v
		}
	}
	if len(overrides) > 0 && q.user == nil {
		return s3err.InvalidRequest.With("Request specific response headers cannot be used for anonymous GET requests.")
	}
	if partial && obj.Multipart && q.q.Get("partNumber") != "" {
		h.Set("x-amz-mp-parts-count", strconv.Itoa(obj.NumParts()))
	}

	// Open the data before any header is set: a blob that cannot be read
	// is then a clean 5xx, not a 200 whose body breaks off.
	var data io.ReadCloser
	if !head && length > 0 {
		if data, err = store.OpenObject(q.ctx, q.s.cfg.Blobs, &obj, start, length); err != nil {
			return err
		}
		defer data.Close()
		if start == 0 && length == obj.Size && !store.ReadsAuthenticated(q.s.cfg.Blobs, obj.Parts) {
			// A store that authenticates its reads (crypt) already
			// fails on any byte that differs from what was written,
			// which is what the stored CRC would catch.
			data = verifyWhole(&obj, data)
		}
	}
	q.objectHeaders(b, &obj)
	setTagCount(h, &obj)
	if partial {
		// Checksums describe the whole object (or one part), never a
		// byte range.
		for alg := range obj.Checksums {
			h.Del("x-amz-checksum-" + strings.ToLower(alg))
		}
		h.Del("x-amz-checksum-type")
		if pn, _ := strconv.Atoi(q.q.Get("partNumber")); pn > 0 && obj.Multipart && strings.EqualFold(q.r.Header.Get("x-amz-checksum-mode"), "ENABLED") {
			for alg, v := range obj.Parts[0].Checksums {
				h.Set("x-amz-checksum-"+strings.ToLower(alg), v)
			}
			if len(obj.Parts[0].Checksums) > 0 && obj.ChecksumType != "" {
				h.Set("x-amz-checksum-type", obj.ChecksumType)
			}
		}
	}
	for k, v := range overrides {
		h.Set(k, v)
	}
	h.Set("Content-Length", itoa(length))
	status := http.StatusOK
	if partial {
		h.Set("Content-Range", "bytes "+itoa(start)+"-"+itoa(start+length-1)+"/"+itoa(obj.Size))
		if q.r.Header.Get("Range") != "" || obj.Multipart {
			status = http.StatusPartialContent
		}
	}
	q.w.WriteHeader(status)
	if data == nil {
		return nil
	}
	if clientGone, err := sendData(q.w, data); err != nil {
		// Headers are gone; all that can be done is cut the connection.
		level := slog.LevelWarn
		if clientGone {
			level = slog.LevelDebug // the client hung up: normal
		}
		q.s.log.Log(q.ctx, level, "get object: send data", "bucket", q.bucket, "key", q.key, "err", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}

// readSpan works out the bytes a GET or HEAD of obj sends (a part, a
// Range, or everything) and loads the parts that hold them (none for a
// HEAD without partNumber): a version with 10,000 parts costs a Range GET
// the parts it spans, not all of them. The checks and their order are
// S3's: the part number, then the conditions, then the range. A version
// that went meanwhile is errReplaced.
func (q *request) readSpan(obj *store.Object, head bool) (start, length int64, partial bool, err error) {
	length = obj.Size
	loaded := false
	if pn := q.q.Get("partNumber"); pn != "" {
		n, perr := strconv.Atoi(pn)
		if perr != nil || n < 1 || n > 10000 {
			return 0, 0, false, s3err.InvalidArgument.With("Part number must be an integer between 1 and 10000, inclusive")
		}
		if !obj.Multipart {
			if n != 1 {
				return 0, 0, false, s3err.InvalidPart.With("The requested partnumber is not satisfiable")
			}
		} else {
			if n > obj.NumParts() {
				return 0, 0, false, s3err.InvalidPart.With("The requested partnumber is not satisfiable")
			}
			if err := q.loadParts(obj, store.PartsQuery{From: n - 1, To: n}); err != nil {
				return 0, 0, false, err
			}
			if len(obj.Parts) != 1 {
				return 0, 0, false, errReplaced
			}
			start, length, partial, loaded = obj.PartsAt, obj.Parts[0].Size, true, true
		}
	}
	h := q.w.Header()
	if err := checkConditions(q.r.Header, obj.ETag, obj.Modified, ""); err != nil {
		if err == s3err.NotModified {
			h.Set("ETag", `"`+obj.ETag+`"`)
			h.Set("Last-Modified", httpDate(obj.Modified))
		}
		return 0, 0, false, err
	}
	if rv := q.r.Header.Get("Range"); rv != "" && !partial {
		s, n, ok, rerr := parseRange(rv, obj.Size)
		if rerr != nil {
			h.Set("Content-Range", "bytes */"+itoa(obj.Size))
			return 0, 0, false, rerr
		}
		if ok {
			start, length, partial = s, n, true
		}
	}
	if !head && !loaded && length > 0 {
		if err := q.loadParts(obj, store.PartsQuery{Offset: start, Length: length}); err != nil {
			return 0, 0, false, err
		}
	}
	return start, length, partial, nil
}

// loadParts loads parts of obj; a version that is gone is errReplaced.
func (q *request) loadParts(obj *store.Object, pq store.PartsQuery) error {
	err := q.s.cfg.Meta.LoadParts(q.ctx, q.bucket, obj, pq)
	if errors.Is(err, store.ErrNoSuchVersion) {
		return errReplaced
	}
	return err
}

// objectHeaders sets the headers that describe an object.
func (q *request) objectHeaders(b store.Bucket, obj *store.Object) {
	h := q.w.Header()
	h.Set("ETag", `"`+obj.ETag+`"`)
	h.Set("Last-Modified", httpDate(obj.Modified))
	h.Set("Accept-Ranges", "bytes")
	if b.Versioning != store.VersioningOff || obj.VersionID != store.NullVersion {
		h.Set("x-amz-version-id", obj.VersionID)
	}
	ct := obj.Headers["Content-Type"]
	if ct == "" {
		ct = "binary/octet-stream"
	}
	h.Set("Content-Type", ct)
	for k, v := range obj.Headers {
		if k != "Content-Type" && v != "" {
			h.Set(k, v)
		}
	}
	for k, v := range obj.Meta {
		h["X-Amz-Meta-"+k] = []string{v}
	}
	q.setLockHeaders(b, obj)
	if strings.EqualFold(q.r.Header.Get("x-amz-checksum-mode"), "ENABLED") {
		for alg, v := range obj.Checksums {
			h.Set("x-amz-checksum-"+strings.ToLower(alg), v)
		}
		if obj.ChecksumType != "" && len(obj.Checksums) > 0 {
			h.Set("x-amz-checksum-type", obj.ChecksumType)
		}
	}
}
