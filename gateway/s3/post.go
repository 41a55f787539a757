package s3

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/datdot/datdot/gateway/s3err"
	"github.com/datdot/datdot/gateway/s3xml"
	"github.com/datdot/datdot/gateway/sigv4"
	"github.com/datdot/datdot/gateway/store"
)

// Browser POST uploads (PostObject): an HTML form posts multipart/form-data
// to the bucket's URL. Its fields before the "file" field carry the key
// (${filename} is replaced by the uploaded file's name), the ACL, the
// stored headers, x-amz-meta-*, tagging, object lock and checksums, the
// redirect or status to answer with, and — unless the bucket lets anyone
// write — a policy (base64 JSON with an expiration and conditions) signed
// with SigV4 or V2. The policy is checked as S3 checks it: not expired,
// every condition met (exact match, starts-with, content-length-range on
// the file's size), and every form field named by a condition (except the
// signature fields, file, policy, x-ignore-* and checksums). The file is
// streamed into a blob, never held in memory; fields after it are ignored.

// postSigner verifies the signature of a POST form's policy
// (sigv4.Verifier).
type postSigner interface {
	VerifyPost(sigv4.PostSignature) (string, error)
}

// Limits of a POST form: the fields before the file, and the policy.
const (
	maxPostFields = 1 << 20
	maxPolicyDoc  = 64 << 10
)

// postFieldsExempt are the form fields no policy condition needs to name.
var postFieldsExempt = map[string]bool{
	"file": true, "policy": true, "signature": true, "x-amz-signature": true, "awsaccesskeyid": true,
}

// postHeaderFields are form fields that stand for request headers of a PUT.
var postHeaderFields = map[string]string{
	"acl": "X-Amz-Acl", "content-type": "Content-Type", "cache-control": "Cache-Control",
	"content-disposition": "Content-Disposition", "content-encoding": "Content-Encoding",
	"content-language": "Content-Language", "expires": "Expires",
	"x-amz-storage-class": "X-Amz-Storage-Class", "x-amz-website-redirect-location": "X-Amz-Website-Redirect-Location",
	"x-amz-object-lock-mode": "X-Amz-Object-Lock-Mode", "x-amz-object-lock-retain-until-date": "X-Amz-Object-Lock-Retain-Until-Date",
	"x-amz-object-lock-legal-hold": "X-Amz-Object-Lock-Legal-Hold",
	"x-amz-server-side-encryption": "X-Amz-Server-Side-Encryption",
}

// POST form errors, with AWS's codes.
var (
	errMalformedPOST = &s3err.Error{Code: "MalformedPOSTRequest", Status: http.StatusBadRequest,
		Message: "The body of your POST request is not well-formed multipart/form-data."}
	errPostPreData = &s3err.Error{Code: "MaxPostPreDataLengthExceeded", Status: http.StatusBadRequest,
		Message: "Your POST request fields preceding the upload file were too large."}
)

func postPolicyError(msg string) error {
	return s3err.AccessDenied.With("Invalid according to Policy: " + msg)
}

func invalidPolicyDoc(msg string) error {
	return &s3err.Error{Code: "InvalidPolicyDocument", Status: http.StatusBadRequest, Message: "Invalid Policy: " + msg}
}

// postForm is a parsed POST form up to its file.
type postForm struct {
	fields   map[string]string // lower-case names
	file     *multipart.Part
	filename string
}

// readPostForm reads the form's fields up to the file.
func readPostForm(body io.Reader, boundary string) (*postForm, error) {
	mr := multipart.NewReader(body, boundary)
	f := &postForm{fields: map[string]string{}}
	total := 0
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return nil, s3err.InvalidArgument.With("POST requires exactly one file upload per request.")
		}
		if err != nil {
			return nil, errMalformedPOST
		}
		name := strings.ToLower(p.FormName())
		if name == "file" {
			f.file, f.filename = p, p.FileName()
			return f, nil
		}
		v, err := io.ReadAll(io.LimitReader(p, int64(maxPostFields-total+1)))
		if err != nil {
			var se s3Error
			if errors.As(err, &se) {
				return nil, err
			}
			return nil, errMalformedPOST
		}
		total += len(name) + len(v)
		if total > maxPostFields {
			return nil, errPostPreData
		}
		if _, dup := f.fields[name]; !dup {
			f.fields[name] = string(v)
		}
	}
}

// postCondition is one condition of a POST policy.
type postCondition struct {
	op       string // eq, starts-with, content-length-range
	field    string // lower case, without $
	value    string
	min, max int64
}

// parsePostPolicy decodes and validates a POST policy document.
func parsePostPolicy(b64 string, now time.Time) ([]postCondition, error) {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) > maxPolicyDoc {
		return nil, invalidPolicyDoc("Policy document is not valid base64 or too large.")
	}
	var doc map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, invalidPolicyDoc("Policy document is not valid JSON.")
	}
	expRaw, ok := doc["expiration"]
	if !ok {
		return nil, invalidPolicyDoc("Policy missing expiration.")
	}
	var exp string
	if err := json.Unmarshal(expRaw, &exp); err != nil {
		return nil, invalidPolicyDoc("Invalid 'expiration' value.")
	}
	t, ok := parseLockTime(exp)
	if !ok {
		return nil, invalidPolicyDoc("Invalid 'expiration' value: '" + exp + "'")
	}
	condRaw, ok := doc["conditions"]
	if !ok {
		return nil, invalidPolicyDoc("Policy missing conditions.")
	}
	var items []json.RawMessage
	if err := json.Unmarshal(condRaw, &items); err != nil {
		return nil, invalidPolicyDoc("Invalid 'conditions' value: it must be a list.")
	}
	var out []postCondition
	for _, it := range items {
		c, err := parsePostCondition(it)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if !now.Before(t) {
		return nil, postPolicyError("Policy expired.")
	}
	return out, nil
}

func parsePostCondition(it json.RawMessage) (postCondition, error) {
	var c postCondition
	it = bytes.TrimSpace(it)
	if len(it) > 0 && it[0] == '{' {
		var m map[string]any
		if err := json.Unmarshal(it, &m); err != nil || len(m) != 1 {
			return c, invalidPolicyDoc("Invalid simple condition: " + string(it))
		}
		for k, v := range m {
			s, ok := v.(string)
			if !ok {
				return c, invalidPolicyDoc("Invalid simple condition value: " + string(it))
			}
			c.op, c.field, c.value = "eq", strings.ToLower(strings.TrimPrefix(k, "$")), s
		}
		return c, nil
	}
	var arr []any
	d := json.NewDecoder(bytes.NewReader(it))
	d.UseNumber()
	if err := d.Decode(&arr); err != nil || len(arr) == 0 {
		return c, invalidPolicyDoc("Invalid condition: " + string(it))
	}
	op, _ := arr[0].(string)
	c.op = strings.ToLower(op)
	switch c.op {
	case "eq", "starts-with":
		if len(arr) != 3 {
			return c, invalidPolicyDoc("Condition '" + op + "' needs a field and a value: " + string(it))
		}
		f, ok1 := arr[1].(string)
		v, ok2 := arr[2].(string)
		if !ok1 || !ok2 || !strings.HasPrefix(f, "$") {
			return c, invalidPolicyDoc("Invalid condition: " + string(it))
		}
		c.field, c.value = strings.ToLower(f[1:]), v
	case "content-length-range":
		if len(arr) != 3 {
			return c, invalidPolicyDoc("content-length-range needs a minimum and a maximum: " + string(it))
		}
		lo, err1 := policyInt(arr[1])
		hi, err2 := policyInt(arr[2])
		if err1 != nil || err2 != nil || lo < 0 || hi < lo {
			return c, invalidPolicyDoc("Invalid content-length-range: " + string(it))
		}
		c.min, c.max = lo, hi
	default:
		return c, invalidPolicyDoc("Invalid condition: " + string(it))
	}
	return c, nil
}

func policyInt(v any) (int64, error) {
	switch x := v.(type) {
	case json.Number:
		return strconv.ParseInt(x.String(), 10, 64)
	case string:
		return strconv.ParseInt(x, 10, 64)
	}
	return 0, fmt.Errorf("not a number")
}

// checkPostConditions checks the fields against the policy: every
// condition holds and every field (bucket included) is named by one.
func checkPostConditions(conds []postCondition, fields map[string]string) error {
	covered := map[string]bool{}
	for _, c := range conds {
		if c.op == "content-length-range" {
			continue
		}
		covered[c.field] = true
		v := fields[c.field]
		switch c.op {
		case "eq":
			if v != c.value {
				return postPolicyError(fmt.Sprintf(`Policy Condition failed: ["eq", "$%s", "%s"]`, c.field, c.value))
			}
		case "starts-with":
			vals := []string{v}
			if c.field == "content-type" {
				vals = strings.Split(v, ",")
			}
			for _, x := range vals {
				if !strings.HasPrefix(strings.TrimSpace(x), c.value) {
					return postPolicyError(fmt.Sprintf(`Policy Condition failed: ["starts-with", "$%s", "%s"]`, c.field, c.value))
				}
			}
		}
	}
	for name := range fields {
		if postFieldsExempt[name] || strings.HasPrefix(name, "x-ignore-") || strings.HasPrefix(name, "x-amz-checksum-") || covered[name] {
			continue
		}
		return postPolicyError("Extra input fields: " + name)
	}
	return nil
}

// lengthRange returns the policy's content-length-range (or 0 and the
// largest object).
func lengthRange(conds []postCondition) (int64, int64) {
	lo, hi := int64(0), int64(maxObjectSize)
	for _, c := range conds {
		if c.op == "content-length-range" {
			lo, hi = max(lo, c.min), min(hi, c.max)
		}
	}
	return lo, hi
}

// postObject implements PostObject.
func (q *request) postObject(boundary string) error {
	form, err := readPostForm(q.body(), boundary)
	if err != nil {
		return err
	}
	fields := form.fields
	key := fields["key"]
	if key == "" {
		return s3err.InvalidArgument.With("Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.")
	}
	key = strings.ReplaceAll(key, "${filename}", form.filename)
	fields["key"] = key // conditions see the key as stored
	if len(key) > 1024 {
		return s3err.KeyTooLong
	}
	if !validKey(key) || strings.IndexByte(key, 0) >= 0 {
		return s3err.InvalidArgument.With("Invalid object key.")
	}
	q.key = key
	lo, hi := int64(0), int64(maxObjectSize)
	if _, signed := fields["policy"]; signed || fields["awsaccesskeyid"] != "" || fields["x-amz-credential"] != "" {
		ps, ok := q.s.cfg.Auth.(postSigner)
		if !ok {
			return s3err.AccessDenied
		}
		access, err := ps.VerifyPost(sigv4.PostSignature{
			Policy: fields["policy"], Algorithm: fields["x-amz-algorithm"], Credential: fields["x-amz-credential"],
			Date: fields["x-amz-date"], Signature: fields["x-amz-signature"],
			AccessKeyID: fields["awsaccesskeyid"], SignatureV2: fields["signature"],
		})
		if err != nil {
			return err
		}
		conds, err := parsePostPolicy(fields["policy"], time.Now())
		if err != nil {
			return err
		}
		withBucket := map[string]string{"bucket": q.bucket}
		for k, v := range fields {
			if k != "bucket" {
				withBucket[k] = v
			}
		}
		if err := checkPostConditions(conds, withBucket); err != nil {
			return err
		}
		if fields["bucket"] != "" && fields["bucket"] != q.bucket {
			return postPolicyError(`Policy Condition failed: ["eq", "$bucket", "` + fields["bucket"] + `"]`)
		}
		lo, hi = lengthRange(conds)
		u, ok := q.s.cfg.Users[access]
		if !ok {
			u = store.Owner{ID: access, DisplayName: access}
		}
		q.user = &u
	}
	// The form's fields stand for the headers of a PUT.
	hdr := http.Header{}
	for name, v := range fields {
		if h, ok := postHeaderFields[name]; ok {
			hdr.Set(h, v)
		} else if strings.HasPrefix(name, "x-amz-meta-") || strings.HasPrefix(name, "x-amz-checksum-") {
			hdr.Set(name, v)
		}
	}
	if o := q.r.Header.Get("Origin"); o != "" {
		hdr.Set("Origin", o)
	}
	q.r.Header = hdr
	if sc := hdr.Get("X-Amz-Storage-Class"); sc != "" && !storageClasses[sc] {
		return s3err.InvalidStorageClass
	}
	if sse := hdr.Get("X-Amz-Server-Side-Encryption"); sse != "" && sse != "AES256" {
		return s3err.NotImplemented.With("Server-side encryption " + sse + " is not supported.")
	}

	b, err := q.loadBucket(permWrite)
	if err != nil {
		return err
	}
	if err := q.checkBytesLimit(b, 0); err != nil {
		return err
	}
	meta := map[string]string{}
	std := map[string]string{}
	size := 0
	for name, v := range fields {
		if m, ok := strings.CutPrefix(name, "x-amz-meta-"); ok {
			meta[m] = v
			size += len(m) + len(v)
		}
	}
	if size > maxMetaSize {
		return s3err.MetadataTooLarge
	}
	for _, h := range storedHeaders {
		if v := hdr.Get(h); v != "" {
			std[h] = v
		}
	}
	owner, acl, err := q.newObjectACL(b)
	if err != nil {
		return err
	}
	if t, ok := fields["tagging"]; ok && t != "" {
		var doc s3xml.Tagging
		if err := s3xml.Decode(strings.NewReader(t), &doc); err != nil {
			return s3err.MalformedXML
		}
		if q.newTags, err = checkTags(doc.TagSet.Tags, maxObjectTags); err != nil {
			return err
		}
	}
	if q.newLock, err = q.requestLock(b, time.Now().UTC()); err != nil {
		return err
	}
	// Checksums sent as fields are verified against the file.
	var algs []string
	want := map[string]string{}
	for name, v := range fields {
		if a, ok := strings.CutPrefix(name, "x-amz-checksum-"); ok && a != "algorithm" {
			alg := strings.ToUpper(a)
			if _, ok := sigv4.NewChecksumHash(alg); !ok {
				return s3err.InvalidRequest.With("Checksum algorithm provided is unsupported.")
			}
			algs = append(algs, alg)
			want[alg] = v
		}
	}
	hr := newHashingReader(&cappedReader{r: form.file, left: hi}, algs)
	ref, err := store.WriteBlob(q.ctx, q.s.cfg.Blobs, hr, -1, func() error {
		for alg, v := range hr.checksums() {
			if want[alg] != v {
				return s3err.BadDigest
			}
		}
		return nil
	})
	if errors.Is(err, s3err.EntityTooLarge) {
		return s3err.EntityTooLarge
	}
	if err != nil {
		return err
	}
	if ref.Size < lo {
		q.s.reap.Discard(q.ctx, []store.BlobRef{ref})
		return s3err.EntityTooSmall
	}
	part := store.Part{Size: ref.Size, Blob: ref, Modified: time.Now().UTC(), ETag: hr.etag(), Checksums: hr.checksums()}
	obj, err := q.putSinglePart(part, nil, owner, acl, std, meta, nil)
	if err != nil {
		return err
	}
	return q.postAnswer(fields, obj)
}

// postAnswer sends the answer a POST form asked for: a redirect
// (success_action_redirect, or the older redirect), a 201 with a
// PostResponse document, a 200, or by default 204.
func (q *request) postAnswer(fields map[string]string, obj store.Object) error {
	h := q.w.Header()
	etag := `"` + obj.ETag + `"`
	h.Set("ETag", etag)
	if obj.VersionID != store.NullVersion {
		h.Set("x-amz-version-id", obj.VersionID)
	}
	location := strings.TrimSuffix(q.objectURL(), "/") + "/" + strings.TrimPrefix((&url.URL{Path: q.key}).EscapedPath(), "/")
	h.Set("Location", location)
	redirect := fields["success_action_redirect"]
	if redirect == "" {
		redirect = fields["redirect"]
	}
	if u, err := url.Parse(redirect); redirect != "" && err == nil && u.Scheme != "" {
		sep := "?"
		if u.RawQuery != "" {
			sep = "&"
		}
		target := redirect + sep + "bucket=" + url.QueryEscape(q.bucket) + "&key=" + url.QueryEscape(q.key) + "&etag=" + url.QueryEscape(etag)
		h.Set("Location", target)
		q.w.WriteHeader(http.StatusSeeOther)
		return nil
	}
	switch fields["success_action_status"] {
	case "200":
		q.w.WriteHeader(http.StatusOK)
	case "201":
		q.w.Header().Set("Content-Type", "application/xml")
		out, _ := xml.Marshal(s3xml.PostResponse{Location: location, Bucket: q.bucket, Key: q.key, ETag: etag})
		q.w.WriteHeader(http.StatusCreated)
		q.w.Write([]byte(xml.Header))
		q.w.Write(out)
	default:
		q.w.WriteHeader(http.StatusNoContent)
	}
	return nil
}

// formBoundary returns the boundary of a multipart/form-data request.
func formBoundary(r *http.Request) (string, bool) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return "", false
	}
	return params["boundary"], true
}
