package sigv4

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// AWS Signature Version 2 is legacy, but still what some clients produce:
// boto3's generate_presigned_url and awscli v1's "aws s3 presign" make V2
// query-string URLs unless configured for s3v4, and s3cmd can be set to V2.
// It is accepted for header and presigned authentication, with the same
// skew and expiry limits as V4.

// subResources are the query parameters that are part of a V2
// CanonicalizedResource (AWS's list plus what SDKs sign).
var subResources = map[string]bool{
	"accelerate": true, "acl": true, "analytics": true, "cors": true, "delete": true,
	"encryption": true, "intelligent-tiering": true, "inventory": true, "legal-hold": true,
	"lifecycle": true, "location": true, "logging": true, "metrics": true, "notification": true,
	"object-lock": true, "ownershipControls": true, "partNumber": true, "policy": true,
	"policyStatus": true, "publicAccessBlock": true, "replication": true, "requestPayment": true,
	"response-cache-control": true, "response-content-disposition": true,
	"response-content-encoding": true, "response-content-language": true,
	"response-content-type": true, "response-expires": true, "restore": true, "retention": true,
	"select": true, "select-type": true, "tagging": true, "torrent": true, "uploadId": true,
	"uploads": true, "versionId": true, "versioning": true, "versions": true, "website": true,
}

// v2Resources returns the CanonicalizedResource of r: the path as sent,
// prefixed with the bucket for a virtual-hosted request, followed by the
// sorted sub-resources (a one-element list, for checkV2).
func (v *Verifier) v2Resources(r *http.Request, query []queryParam) []string {
	var sub []queryParam
	for _, p := range query {
		if subResources[p.key] {
			sub = append(sub, p)
		}
	}
	sort.SliceStable(sub, func(i, j int) bool { return sub[i].key < sub[j].key })
	var sb strings.Builder
	for i, p := range sub {
		if i == 0 {
			sb.WriteByte('?')
		} else {
			sb.WriteByte('&')
		}
		sb.WriteString(p.key)
		if p.value != "" {
			sb.WriteByte('=')
			sb.WriteString(p.value)
		}
	}
	suffix := sb.String()

	// The resource is the path exactly as sent. Decoded or re-encoded
	// forms are not accepted: a decoded path is the raw path of another
	// key ("/b/a%2520b" decodes to "/b/a%20b", the raw path of key "a b"),
	// so a signature for one key would open another.
	raw := requestPath(r)
	if raw == "" {
		raw = "/"
	}
	prefix := ""
	if b, ok := v.virtualHostBucket(r.Host); ok {
		prefix = "/" + b
	}
	return []string{prefix + raw + suffix}
}

// virtualHostBucket extracts the bucket of a virtual-hosted request from
// its Host, given the configured base domains.
func (v *Verifier) virtualHostBucket(host string) (string, bool) {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.ToLower(h)
	for _, d := range v.domains {
		if b, ok := strings.CutSuffix(h, "."+d); ok && b != "" {
			return b, true
		}
	}
	return "", false
}

// v2AmzHeaders is the CanonicalizedAmzHeaders part of a V2 StringToSign.
func v2AmzHeaders(r *http.Request) string {
	var names []string
	for k := range r.Header {
		l := strings.ToLower(k)
		if strings.HasPrefix(l, "x-amz-") {
			names = append(names, l)
		}
	}
	sort.Strings(names)
	var sb strings.Builder
	for _, n := range names {
		sb.WriteString(n)
		sb.WriteByte(':')
		// V2 trims values but, unlike V4, keeps inner runs of spaces.
		vs := r.Header.Values(n)
		for i, val := range vs {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(strings.TrimSpace(val))
		}
		sb.WriteByte('\n')
	}
	return sb.String()
}

func v2StringToSign(r *http.Request, date, amz, resource string) string {
	return r.Method + "\n" + r.Header.Get("Content-Md5") + "\n" + r.Header.Get("Content-Type") + "\n" +
		date + "\n" + amz + resource
}

// checkV2 reports whether any candidate string to sign matches the
// base64 HMAC-SHA1 signature sig, returning the first candidate for error
// reports.
func checkV2(secret, sig string, candidates []string) (bool, string) {
	got, err := base64.StdEncoding.DecodeString(sig)
	ok := false
	for _, sts := range candidates {
		m := hmac.New(sha1.New, []byte(secret))
		m.Write([]byte(sts))
		if err == nil && hmac.Equal(m.Sum(nil), got) {
			ok = true
		}
	}
	return ok, candidates[0]
}

func errV2Mismatch(accessKey, sts, sig string) *Error {
	e := errSignature()
	e.Extra = []Field{{"AWSAccessKeyId", accessKey}, {"StringToSign", sts}, {"SignatureProvided", sig}}
	return e
}

// authV2Header checks "Authorization: AWS AccessKey:Signature".
func (v *Verifier) authV2Header(r *http.Request, query []queryParam, a string) (*Result, error) {
	cred := strings.TrimSpace(strings.TrimPrefix(a, "AWS "))
	accessKey, sig, ok := strings.Cut(cred, ":")
	if !ok || accessKey == "" || sig == "" {
		return nil, errInvalidArgument("AWS authorization header is invalid.  Expected AwsAccessKeyId:signature")
	}
	secret, ok := v.creds.SecretKey(accessKey)
	if !ok {
		e := newErr(ErrCodeInvalidAccessKeyID, http.StatusForbidden, "The AWS Access Key Id you provided does not exist in our records.")
		e.Extra = []Field{{"AWSAccessKeyId", accessKey}}
		return nil, e
	}
	var t time.Time
	var err error
	amzDate := r.Header.Get("X-Amz-Date")
	date := r.Header.Get("Date")
	switch {
	case amzDate != "":
		t, err = parseHTTPDate(amzDate)
	case date != "":
		t, err = parseHTTPDate(date)
	default:
		return nil, errAccessDenied("AWS authentication requires a valid Date or x-amz-date header")
	}
	if err != nil {
		return nil, errAccessDenied("AWS authentication requires a valid Date or x-amz-date header")
	}
	if e := v.checkSkew(t); e != nil {
		return nil, e
	}
	// With x-amz-date the Date line is empty (AWS's rule); some signers
	// still put the Date header there.
	dates := []string{date}
	if amzDate != "" && date != "" {
		dates = []string{"", date}
	}
	amz := v2AmzHeaders(r)
	var cands []string
	for _, d := range dates {
		for _, res := range v.v2Resources(r, query) {
			cands = append(cands, v2StringToSign(r, d, amz, res))
		}
	}
	if ok, sts := checkV2(secret, sig, cands); !ok {
		return nil, errV2Mismatch(accessKey, sts, sig)
	}
	return v.v2Result(r, accessKey, false)
}

// authV2Query checks ?AWSAccessKeyId=...&Expires=...&Signature=....
func (v *Verifier) authV2Query(r *http.Request, query []queryParam) (*Result, error) {
	var accessKey, sig, exp string
	var rest []queryParam
	for _, p := range query {
		switch p.key {
		case "AWSAccessKeyId":
			accessKey = p.value
		case "Signature":
			sig = p.value
		case "Expires":
			exp = p.value
		default:
			rest = append(rest, p)
		}
	}
	if accessKey == "" || sig == "" || exp == "" {
		return nil, errAccessDenied("Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters")
	}
	secs, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return nil, errAccessDenied("Invalid date (should be seconds since epoch): " + exp)
	}
	secret, ok := v.creds.SecretKey(accessKey)
	if !ok {
		e := newErr(ErrCodeInvalidAccessKeyID, http.StatusForbidden, "The AWS Access Key Id you provided does not exist in our records.")
		e.Extra = []Field{{"AWSAccessKeyId", accessKey}}
		return nil, e
	}
	now := v.now()
	expires := time.Unix(secs, 0)
	if now.After(expires) {
		e := errAccessDenied("Request has expired")
		e.Extra = []Field{{"Expires", expires.UTC().Format(time.RFC3339)}, {"ServerTime", now.UTC().Format(time.RFC3339)}}
		return nil, e
	}
	// V2 URLs carry no signing time; the 7-day cap applies from now.
	if expires.Sub(now) > v.maxExpiry+v.maxSkew {
		return nil, errQueryParams("Expires must be less than a week (in seconds) from now")
	}
	amz := v2AmzHeaders(r)
	var cands []string
	for _, res := range v.v2Resources(r, rest) {
		cands = append(cands, v2StringToSign(r, exp, amz, res))
	}
	if ok, sts := checkV2(secret, sig, cands); !ok {
		return nil, errV2Mismatch(accessKey, sts, sig)
	}
	return v.v2Result(r, accessKey, true)
}

func (v *Verifier) v2Result(r *http.Request, accessKey string, presigned bool) (*Result, error) {
	mode, err := announcedPayloadMode(r)
	if err != nil {
		return nil, err
	}
	res := &Result{AccessKey: accessKey, Presigned: presigned, SigV2: true}
	if err := v.setupBody(r, res, mode, nil); err != nil {
		return nil, err
	}
	return res, nil
}

// parseHTTPDate parses the date formats clients put in Date and, for V2,
// x-amz-date: RFC 1123 with "GMT" or a numeric zone (s3cmd sends
// "+0000"), RFC 850, asctime, and ISO 8601 basic.
func parseHTTPDate(s string) (time.Time, error) {
	if t, err := http.ParseTime(s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.RFC1123Z, s); err == nil {
		return t.UTC(), nil
	}
	return time.Parse(iso8601Format, s)
}
