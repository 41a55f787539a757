package s3

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/datdot/datdot/gateway/s3err"
	"github.com/datdot/datdot/gateway/s3xml"
	"github.com/datdot/datdot/gateway/sigv4"
	"github.com/datdot/datdot/gateway/store"
)

// minPartSize is the smallest size of a part that is not the last one.
const minPartSize = 5 << 20

func (q *request) createUpload() error {
	b, err := q.loadBucket(permWrite)
	if err != nil {
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
	if err := q.checkUploadLimit(b); err != nil {
		return err
	}
	alg := strings.ToUpper(q.r.Header.Get("x-amz-checksum-algorithm"))
	if alg != "" {
		if _, ok := sigv4.NewChecksumHash(alg); !ok {
			return s3err.InvalidRequest.With("Checksum algorithm provided is unsupported.")
		}
	}
	ctype := strings.ToUpper(q.r.Header.Get("x-amz-checksum-type"))
	switch ctype {
	case "":
		if alg != "" {
			ctype = "COMPOSITE"
			if alg == "CRC64NVME" {
				ctype = "FULL_OBJECT"
			}
		}
	case "COMPOSITE", "FULL_OBJECT":
		if alg == "" {
			return s3err.InvalidRequest.With("The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.")
		}
	default:
		return s3err.InvalidRequest.With("Value for x-amz-checksum-type header is invalid.")
	}
	tags, err := q.headerTags()
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	lk, err := q.requestLock(b, now)
	if err != nil {
		return err
	}
	up := store.Upload{
		Bucket: q.bucket, Key: q.key, UploadID: newUploadID(), Initiated: now,
		Owner: owner, ACL: acl, Headers: hdr, Meta: meta, ChecksumAlgorithm: alg, ChecksumType: ctype,
		Tags: tags, Retention: lk.retention, LegalHold: lk.hold,
	}
	if err := q.s.cfg.Meta.CreateUpload(q.ctx, up); err != nil {
		return err
	}
	if alg != "" {
		q.w.Header().Set("x-amz-checksum-algorithm", alg)
		q.w.Header().Set("x-amz-checksum-type", ctype)
	}
	q.writeXML(s3xml.InitiateMultipartUploadResult{Xmlns: s3xml.NS, Bucket: q.bucket, Key: q.key, UploadID: up.UploadID})
	return nil
}

// newUploadID returns a fresh upload id: 16 hex digits of the time, so that
// ids sort by creation, and 16 random ones.
func newUploadID() string {
	var buf [8]byte
	rand.Read(buf[:])
	return fmt.Sprintf("%016x%s", uint64(time.Now().UnixNano()), hex.EncodeToString(buf[:]))
}

// partNumber reads the partNumber parameter.
func (q *request) partNumber() (int, error) {
	n, err := strconv.Atoi(q.q.Get("partNumber"))
	if err != nil || n < 1 || n > 10000 {
		return 0, s3err.InvalidArgument.With("Part number must be an integer between 1 and 10000, inclusive")
	}
	return n, nil
}

// loadUpload checks access to the bucket and that the upload exists.
func (q *request) loadUpload() (store.Bucket, store.Upload, error) {
	b, err := q.loadBucket(permWrite)
	if err != nil {
		return b, store.Upload{}, err
	}
	up, err := q.s.cfg.Meta.GetUpload(q.ctx, q.bucket, q.key, q.q.Get("uploadId"))
	return b, up, err
}

func (q *request) uploadPart() error {
	n, err := q.partNumber()
	if err != nil {
		return err
	}
	ub, up, err := q.loadUpload()
	if err != nil {
		return err
	}
	if err := q.checkBodySize(); err != nil {
		return err
	}
	if err := q.checkBytesLimit(ub, q.auth.ContentLength); err != nil {
		return err
	}
	if ub.ObjectLock != nil && (up.Retention != nil || up.LegalHold != "" || ub.ObjectLock.Mode != "") && !q.hasBodyDigest() {
		return errLockChecksum.With("Content-MD5 OR x-amz-checksum- HTTP header is required for Put Part requests with Object Lock parameters")
	}
	var want []string
	if up.ChecksumAlgorithm != "" {
		want = []string{up.ChecksumAlgorithm}
	}
	part, err := q.storeBody(q.auth.ContentLength, want)
	if err != nil {
		return err
	}
	part.Number = n
	freed, err := q.s.cfg.Meta.PutPart(q.ctx, q.bucket, q.key, q.q.Get("uploadId"), part)
	if err != nil {
		q.s.reap.Discard(q.ctx, []store.BlobRef{part.Blob})
		return err
	}
	q.free(freed)
	h := q.w.Header()
	h.Set("ETag", `"`+part.ETag+`"`)
	for alg, v := range part.Checksums {
		h.Set("x-amz-checksum-"+strings.ToLower(alg), v)
	}
	q.w.WriteHeader(http.StatusOK)
	return nil
}

func (q *request) uploadPartCopy() error {
	n, err := q.partNumber()
	if err != nil {
		return err
	}
	ub, up, err := q.loadUpload()
	if err != nil {
		return err
	}
	var off, length int64
	_, src, unpin, err := q.loadCopySource(func(src *store.Object) (int64, int64, error) {
		off, length = 0, src.Size
		if rv := q.r.Header.Get("x-amz-copy-source-range"); rv != "" {
			spec, ok := strings.CutPrefix(rv, "bytes=")
			a, bb, ok2 := strings.Cut(spec, "-")
			first, err1 := strconv.ParseInt(a, 10, 64)
			last, err2 := strconv.ParseInt(bb, 10, 64)
			if !ok || !ok2 || err1 != nil || err2 != nil || first < 0 || last < first {
				return 0, 0, s3err.InvalidArgument.With("The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy")
			}
			if last >= src.Size {
				return 0, 0, s3err.InvalidRange.With("The requested range is not satisfiable")
			}
			off, length = first, last-first+1
		}
		// A part is at most 5 GiB, copied or not (issue 9 #7).
		if length > maxObjectSize {
			return 0, 0, s3err.InvalidRequest.With("The specified copy source is larger than the maximum allowable size for a copy source: 5368709120")
		}
		return off, length, nil
	})
	if err != nil {
		return err
	}
	defer unpin()
	if err := q.checkBytesLimit(ub, length); err != nil {
		return err
	}
	var algs []string
	if up.ChecksumAlgorithm != "" {
		algs = []string{up.ChecksumAlgorithm}
	}
	part, pieces, err := q.copyData(&src, off, length, algs)
	if err != nil {
		return err
	}
	own := false
	switch len(pieces) {
	case 0: // empty: no blob
	case 1: // a range of one source blob: shared
		part.Blob, part.Offset = pieces[0].Blob, pieces[0].Offset
	default:
		// A part is one blob: a range across several source parts is
		// copied into a new one.
		if part, err = q.copyBytes(&src, off, length, algs); err != nil {
			return err
		}
		own = true
	}
	part.Number = n
	freed, err := q.s.cfg.Meta.PutPart(q.ctx, q.bucket, q.key, up.UploadID, part)
	if err != nil {
		if own {
			q.s.reap.Discard(q.ctx, []store.BlobRef{part.Blob})
		}
		return err
	}
	q.free(freed)
	if src.VersionID != store.NullVersion {
		q.w.Header().Set("x-amz-copy-source-version-id", src.VersionID)
	}
	q.writeXML(s3xml.CopyPartResult{Xmlns: s3xml.NS, LastModified: s3xml.Time(part.Modified), ETag: `"` + part.ETag + `"`})
	return nil
}

func (q *request) completeUpload() error {
	uploadID := q.q.Get("uploadId")
	b, _, err := q.loadUpload()
	gone := errors.Is(err, store.ErrNoSuchUpload)
	if err != nil && !gone {
		return err
	}
	var body s3xml.CompleteMultipartUpload
	if err := q.decodeXML(&body); err != nil {
		return err
	}
	if len(body.Parts) == 0 {
		return s3err.MalformedXML.With("You must specify at least one part")
	}
	// A part listed twice in a row counts once, as its last entry.
	dedup := body.Parts[:0:0]
	for i, p := range body.Parts {
		if i > 0 && p.PartNumber < body.Parts[i-1].PartNumber {
			return s3err.InvalidPartOrder
		}
		if len(dedup) > 0 && dedup[len(dedup)-1].PartNumber == p.PartNumber {
			dedup[len(dedup)-1] = p
			continue
		}
		dedup = append(dedup, p)
	}
	body.Parts = dedup
	if gone {
		return q.completedAlready(b, uploadID, multipartETag(body.Parts))
	}
	build := func(up store.Upload, stored []store.Part) (store.Object, error) {
		byNum := make(map[int]store.Part, len(stored))
		for _, p := range stored {
			byNum[p.Number] = p
		}
		obj := store.Object{
			Key: q.key, Modified: time.Now().UTC(), Owner: up.Owner, ACL: up.ACL,
			Headers: up.Headers, Meta: up.Meta, Multipart: true, UploadID: up.UploadID, Tags: up.Tags,
			Retention: up.Retention, LegalHold: up.LegalHold,
		}
		if obj.Retention == nil {
			obj.Retention = defaultRetention(&b, obj.Modified)
		}
		var sums []string
		var sizes []int64
		etags := md5.New()
		var sumOfSums []byte
		for i, cp := range body.Parts {
			p, ok := byNum[cp.PartNumber]
			if !ok || strings.Trim(cp.ETag, `" `) != p.ETag {
				return obj, s3err.InvalidPart
			}
			if i < len(body.Parts)-1 && p.Size < minPartSize {
				return obj, s3err.EntityTooSmall
			}
			if up.ChecksumAlgorithm != "" {
				want := cp.Checksums.Map()[up.ChecksumAlgorithm]
				have := p.Checksums[up.ChecksumAlgorithm]
				if want != "" && have != "" && want != have {
					return obj, s3err.InvalidPart
				}
				raw, _ := base64.StdEncoding.DecodeString(have)
				sumOfSums = append(sumOfSums, raw...)
				sums, sizes = append(sums, have), append(sizes, p.Size)
			}
			raw, _ := hex.DecodeString(p.ETag)
			etags.Write(raw)
			obj.Size += p.Size
			obj.Parts = append(obj.Parts, p)
		}
		obj.ETag = hex.EncodeToString(etags.Sum(nil)) + "-" + strconv.Itoa(len(body.Parts))
		if up.ChecksumAlgorithm != "" && up.ChecksumType == "COMPOSITE" {
			h, _ := sigv4.NewChecksumHash(up.ChecksumAlgorithm)
			h.Write(sumOfSums)
			obj.Checksums = map[string]string{up.ChecksumAlgorithm: base64.StdEncoding.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(body.Parts))}
			obj.ChecksumType = "COMPOSITE"
		}
		if up.ChecksumAlgorithm != "" && up.ChecksumType == "FULL_OBJECT" {
			if v, ok := combineCRCs(up.ChecksumAlgorithm, sums, sizes); ok {
				obj.Checksums = map[string]string{up.ChecksumAlgorithm: v}
				obj.ChecksumType = "FULL_OBJECT"
			}
		}
		for alg, v := range obj.Checksums {
			if want := q.r.Header.Get("x-amz-checksum-" + strings.ToLower(alg)); want != "" && !sameChecksum(want, v, obj.ChecksumType) {
				return obj, s3err.BadDigest
			}
		}
		return obj, nil
	}
	obj, freed, err := q.s.cfg.Meta.CompleteUpload(q.ctx, q.bucket, q.key, uploadID, build, q.putCheck())
	if errors.Is(err, store.ErrNoSuchUpload) {
		// A concurrent complete of the same upload (a client retrying on
		// a timeout) won the race: answer with the object it made when the
		// part list is the same.
		return q.completedAlready(b, uploadID, multipartETag(body.Parts))
	}
	if err != nil {
		return err
	}
	q.free(freed)
	q.writeCompleted(obj)
	return nil
}

// completedAlready answers a CompleteMultipartUpload of an upload that is
// gone: success if it created the current object (with ETag etag, when
// etag is not ""), NoSuchUpload otherwise.
func (q *request) completedAlready(b store.Bucket, uploadID, etag string) error {
	if b.Name == "" {
		return s3err.NoSuchUpload
	}
	obj, err := q.s.cfg.Meta.GetObject(q.ctx, q.bucket, q.key, "")
	if err != nil || obj.UploadID != uploadID || etag != "" && obj.ETag != etag {
		return s3err.NoSuchUpload
	}
	q.writeCompleted(obj)
	return nil
}

func (q *request) writeCompleted(obj store.Object) {
	if obj.VersionID != store.NullVersion {
		q.w.Header().Set("x-amz-version-id", obj.VersionID)
	}
	res := s3xml.CompleteMultipartUploadResult{
		Xmlns: s3xml.NS, Location: q.objectURL(), Bucket: q.bucket, Key: q.key,
		ETag: `"` + obj.ETag + `"`, Checksums: s3xml.ChecksumsFrom(obj.Checksums), ChecksumType: obj.ChecksumType,
	}
	q.writeXML(res)
}

func (q *request) abortUpload() error {
	if _, err := q.loadBucket(permWrite); err != nil {
		return err
	}
	freed, err := q.s.cfg.Meta.AbortUpload(q.ctx, q.bucket, q.key, q.q.Get("uploadId"))
	if err != nil {
		return err
	}
	q.free(freed)
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (q *request) listParts() error {
	_, up, err := q.loadUpload()
	if err != nil {
		return err
	}
	max, err := q.parseMaxKeys("max-parts")
	if err != nil {
		return err
	}
	marker := 0
	if v := q.q.Get("part-number-marker"); v != "" {
		if marker, err = strconv.Atoi(v); err != nil || marker < 0 {
			return s3err.InvalidArgument.With("Argument part-number-marker must be an integer between 0 and 2147483647")
		}
	}
	parts, err := q.s.cfg.Meta.ListParts(q.ctx, q.bucket, q.key, up.UploadID)
	if err != nil {
		if errors.Is(err, store.ErrNoSuchUpload) {
			return s3err.NoSuchUpload
		}
		return err
	}
	res := s3xml.ListPartsResult{
		Xmlns: s3xml.NS, Bucket: q.bucket, Key: q.key, UploadID: up.UploadID,
		Initiator:        s3xml.Owner{ID: up.Owner.ID, DisplayName: up.Owner.DisplayName},
		Owner:            s3xml.Owner{ID: up.Owner.ID, DisplayName: up.Owner.DisplayName},
		StorageClass:     "STANDARD",
		PartNumberMarker: marker, MaxParts: max,
		ChecksumAlgorithm: up.ChecksumAlgorithm, ChecksumType: up.ChecksumType,
	}
	for _, p := range parts {
		if p.Number <= marker {
			continue
		}
		if len(res.Parts) == max {
			res.IsTruncated = true
			break
		}
		res.Parts = append(res.Parts, s3xml.Part{
			PartNumber: p.Number, LastModified: s3xml.Time(p.Modified), ETag: `"` + p.ETag + `"`, Size: p.Size,
			Checksums: s3xml.ChecksumsFrom(p.Checksums),
		})
		res.NextPartNumberMarker = p.Number
	}
	q.writeXML(res)
	return nil
}

// multipartETag is the ETag of the object a part list makes: the MD5 of the
// parts' binary MD5s, "-" and the number of parts ("" if an ETag in the
// list is not an MD5).
func multipartETag(parts []s3xml.CompletePart) string {
	h := md5.New()
	for _, p := range parts {
		raw, err := hex.DecodeString(strings.Trim(p.ETag, `" `))
		if err != nil || len(raw) != md5.Size {
			return ""
		}
		h.Write(raw)
	}
	return hex.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(parts))
}

// sameChecksum reports whether the checksum a client sent for a completed
// upload matches the object's. A composite checksum may be sent with its
// "-N" part count, as S3 returns it, or without it, as minio-go and AWS
// SDKs that compute the checksum of checksums themselves send it; S3
// accepts both.
func sameChecksum(sent, have, typ string) bool {
	if sent == have {
		return true
	}
	if typ != "COMPOSITE" {
		return false
	}
	base, _, ok := strings.Cut(have, "-")
	return ok && sent == base
}

// objectURL is the absolute URL of the object the request addresses, as
// the client addressed it (path-style or virtual-host-style).
func (q *request) objectURL() string {
	scheme := "http"
	if q.r.TLS != nil || strings.EqualFold(q.r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	return scheme + "://" + q.r.Host + q.r.URL.EscapedPath()
}
