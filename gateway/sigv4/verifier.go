// Package sigv4 authenticates S3 requests signed with AWS Signature
// Version 4 (Authorization header and presigned URLs; the legacy Version 2
// is accepted too, since some clients still presign with it) and decodes and
// verifies their bodies in every payload mode S3 clients use: unsigned,
// hex SHA-256, aws-chunked with chunk signatures (with or without a signed
// trailer) and aws-chunked unsigned with trailing checksums, plus
// Content-MD5 and the x-amz-checksum-* headers and trailers.
//
// Verification of the body happens while it is read: Result.Body returns
// an *Error instead of io.EOF when any check fails, so a caller that only
// commits what it stored after a clean io.EOF never keeps a bad upload.
package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Payload hash values of the x-amz-content-sha256 header.
const (
	UnsignedPayload           = "UNSIGNED-PAYLOAD"
	StreamingPayload          = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	StreamingPayloadTrailer   = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	StreamingUnsignedTrailer  = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
	streamingECDSA            = "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"
	streamingECDSATrailer     = "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER"
	algorithmHMAC             = "AWS4-HMAC-SHA256"
	emptySHA256               = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	iso8601Format             = "20060102T150405Z"
	yyyymmdd                  = "20060102"
	service                   = "s3"
	scopeTerminator           = "aws4_request"
	defaultMaxPresignExpiry   = 7 * 24 * time.Hour
	defaultMaxSkew            = 15 * time.Minute
	maxAuthorizationHeaderLen = 8 << 10
)

// CredentialStore looks up the secret key of an access key.
type CredentialStore interface {
	SecretKey(accessKey string) (secret string, ok bool)
}

// StaticCredentials is a CredentialStore over a fixed map of access key to
// secret key.
type StaticCredentials map[string]string

// SecretKey implements CredentialStore.
func (s StaticCredentials) SecretKey(accessKey string) (string, bool) {
	secret, ok := s[accessKey]
	return secret, ok
}

// Config configures a Verifier.
type Config struct {
	// Credentials resolves access keys. Required.
	Credentials CredentialStore
	// Region is the only region accepted in credential scopes; "" accepts
	// any region.
	Region string
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// MaxPresignExpiry caps X-Amz-Expires; 0 means 7 days, AWS's limit.
	MaxPresignExpiry time.Duration
	// MaxSkew is the allowed difference between the request's date and
	// Now; 0 means 15 minutes, AWS's limit.
	MaxSkew time.Duration
	// VirtualHostDomains are the base domains of virtual-hosted-style
	// requests ("s3.example.org" for "bucket.s3.example.org"). Only
	// Signature V2 needs them (its signed resource names the bucket);
	// V4 signs the Host header as it is.
	VirtualHostDomains []string
}

// Verifier authenticates requests. It is safe for concurrent use.
type Verifier struct {
	creds     CredentialStore
	region    string
	now       func() time.Time
	maxExpiry time.Duration
	maxSkew   time.Duration
	domains   []string

	// keys remembers derived signing keys (four HMACs each) by secret
	// and scope; a client signs every request of a day with the same.
	keysMu sync.Mutex
	keys   map[string][]byte
}

// maxKeys bounds Verifier.keys; when full it starts over.
const maxKeys = 256

// signingKey is signingKey, remembered.
func (v *Verifier) signingKey(secret, date, region, svc string) []byte {
	id := secret + "\x00" + date + "\x00" + region + "\x00" + svc
	v.keysMu.Lock()
	k, ok := v.keys[id]
	v.keysMu.Unlock()
	if ok {
		return k
	}
	k = signingKey(secret, date, region, svc)
	v.keysMu.Lock()
	if v.keys == nil || len(v.keys) >= maxKeys {
		v.keys = map[string][]byte{}
	}
	v.keys[id] = k
	v.keysMu.Unlock()
	return k
}

// NewVerifier returns a Verifier for cfg, filling in defaults.
func NewVerifier(cfg Config) *Verifier {
	v := &Verifier{
		creds:     cfg.Credentials,
		region:    cfg.Region,
		now:       cfg.Now,
		maxExpiry: cfg.MaxPresignExpiry,
		maxSkew:   cfg.MaxSkew,
	}
	for _, d := range cfg.VirtualHostDomains {
		d = strings.ToLower(strings.Trim(d, ". "))
		if h, _, err := net.SplitHostPort(d); err == nil {
			d = h
		}
		if d != "" {
			v.domains = append(v.domains, d)
		}
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.maxExpiry <= 0 {
		v.maxExpiry = defaultMaxPresignExpiry
	}
	if v.maxSkew <= 0 {
		v.maxSkew = defaultMaxSkew
	}
	if v.creds == nil {
		v.creds = StaticCredentials(nil)
	}
	return v
}

// Result is the outcome of a successful authentication.
type Result struct {
	// AccessKey is the access key that signed the request; "" when
	// Anonymous.
	AccessKey string
	// Anonymous is set when the request carried no authentication at all.
	Anonymous bool
	// Presigned is set for query-string (presigned URL) authentication.
	Presigned bool
	// SigV2 is set when the request was signed with the legacy AWS
	// Signature Version 2 (header or query string).
	SigV2 bool
	// Region is the region of the credential scope the client signed for.
	Region string
	// PayloadMode is the x-amz-content-sha256 mode in effect:
	// UNSIGNED-PAYLOAD, a hex SHA-256, or one of the STREAMING-* values.
	PayloadMode string
	// Body yields the decoded payload (aws-chunked framing removed) and
	// verifies it while it is read. Instead of io.EOF it returns an
	// *Error if the payload hash, a chunk or trailer signature, the
	// decoded length, Content-MD5 or an x-amz-checksum-* value does not
	// match, or if the body is truncated (IncompleteBody). Closing it
	// closes the request body.
	Body io.ReadCloser
	// ContentLength is the decoded length if known (x-amz-decoded-content-length,
	// else Content-Length for bodies that are not aws-chunked), -1 if unknown.
	ContentLength int64
	// ContentEncoding is the request's Content-Encoding with "aws-chunked"
	// removed: what the server should store as the object's encoding.
	ContentEncoding string
	// Checksums returns, once Body has been read to a clean io.EOF, the
	// verified checksums: algorithm (CRC32, CRC32C, SHA1, SHA256,
	// CRC64NVME, SHA512, XXHASH*, MD5) -> base64 value as sent, and
	// ContentMD5 -> hex digest if Content-MD5 was sent. Before that it returns an empty map.
	Checksums func() map[string]string

	payload *payloadReader
}

// MD5Hex returns the hex MD5 of the decoded body (the S3 ETag of a
// single-part object). It is valid once Body has returned io.EOF and ""
// before.
func (r *Result) MD5Hex() string {
	if r.payload == nil {
		return ""
	}
	return r.payload.md5Hex()
}

// BytesRead returns the number of decoded payload bytes read so far.
func (r *Result) BytesRead() int64 {
	if r.payload == nil {
		return 0
	}
	return r.payload.n
}

// authParams is what a header or query signature carries.
type authParams struct {
	accessKey     string
	date          string // yyyymmdd of the scope
	region        string
	service       string
	signedHeaders []string
	signature     string
}

// Authenticate checks the request's signature (SigV4 Authorization header
// or presigned query, or the legacy SigV2 forms of both) and returns the
// identity and a verifying body reader. A request without any authentication returns a Result with
// Anonymous set; the caller decides what anonymous requests may do.
// Every error is an *Error.
func (v *Verifier) Authenticate(r *http.Request) (*Result, error) {
	res, err := v.authenticate(r)
	if err != nil {
		return nil, err
	}
	return res, nil
}

func (v *Verifier) authenticate(r *http.Request) (*Result, error) {
	auth, hasAuth := r.Header["Authorization"]
	query := parseRawQuery(rawQuery(r))
	hasV4Query, hasV2Query := false, false
	for _, p := range query {
		switch p.key {
		case "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature":
			hasV4Query = true
		case "AWSAccessKeyId":
			hasV2Query = true
		}
	}
	if hasAuth && (hasV4Query || hasV2Query) {
		return nil, errInvalidArgument("Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified")
	}
	if hasAuth {
		a := strings.TrimSpace(strings.Join(auth, ","))
		switch {
		case a == "":
			return nil, errHeaderMalformed("The authorization header is malformed; the authorization header is empty.")
		case len(a) > maxAuthorizationHeaderLen:
			return nil, errHeaderMalformed("The authorization header is malformed; it is too long.")
		case strings.HasPrefix(a, algorithmHMAC+" "):
			return v.authHeader(r, query, a)
		case strings.HasPrefix(a, "AWS "):
			return v.authV2Header(r, query, a)
		case strings.HasPrefix(a, "AWS4-ECDSA-P256-SHA256"):
			return nil, newErr(ErrCodeNotImplemented, http.StatusNotImplemented, "SigV4a (AWS4-ECDSA-P256-SHA256) is not supported. Please use AWS4-HMAC-SHA256.")
		default:
			return nil, errHeaderMalformed("The authorization header is malformed; the authorization mechanism is not supported. Please use AWS4-HMAC-SHA256.")
		}
	}
	if hasV4Query {
		return v.authQuery(r, query)
	}
	if hasV2Query {
		return v.authV2Query(r, query)
	}
	// Anonymous: the body is still decoded and checked against whatever
	// digests came with it.
	mode := UnsignedPayload
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" {
		mode = h
	}
	if mode == StreamingPayload || mode == StreamingPayloadTrailer {
		return nil, errAccessDenied("A signed streaming payload requires a signed request.")
	}
	res := &Result{Anonymous: true}
	if err := v.setupBody(r, res, mode, nil); err != nil {
		return nil, err
	}
	return res, nil
}

func rawQuery(r *http.Request) string {
	if r.URL == nil {
		return ""
	}
	return r.URL.RawQuery
}

// parseAuthorization splits "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...".
func parseAuthorization(a string) (map[string]string, *Error) {
	rest := strings.TrimSpace(strings.TrimPrefix(a, algorithmHMAC))
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, val, ok := strings.Cut(part, "=")
		if !ok {
			return nil, errHeaderMalformed("The authorization header is malformed; the authorization component \"" + part + "\" is malformed.")
		}
		k = strings.TrimSpace(k)
		if _, dup := fields[k]; dup {
			return nil, errHeaderMalformed("The authorization header is malformed; the authorization component \"" + k + "\" appears twice.")
		}
		fields[k] = strings.TrimSpace(val)
	}
	for _, k := range []string{"Credential", "SignedHeaders", "Signature"} {
		if fields[k] == "" {
			return nil, errHeaderMalformed("The authorization header is malformed; the authorization header requires three components: Credential, SignedHeaders, and Signature.")
		}
	}
	return fields, nil
}

// parseCredential splits "AKID/20130524/us-east-1/s3/aws4_request". The
// returned message explains what is wrong; the caller picks the code.
func (v *Verifier) parseCredential(cred string, p *authParams) string {
	parts := strings.Split(cred, "/")
	if len(parts) < 5 {
		return "the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\"."
	}
	n := len(parts)
	// An access key cannot contain '/', but tolerate it: the scope is
	// always the last four parts.
	p.accessKey = strings.Join(parts[:n-4], "/")
	p.date, p.region, p.service = parts[n-4], parts[n-3], parts[n-2]
	term := parts[n-1]
	if p.accessKey == "" {
		return "the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\"."
	}
	if _, err := time.Parse(yyyymmdd, p.date); err != nil || len(p.date) != 8 {
		return "incorrect date format \"" + p.date + "\". This date in the credential must be in the format \"yyyyMMdd\"."
	}
	if p.region == "" {
		return "the region is empty."
	}
	if v.region != "" && p.region != v.region {
		return "the region '" + p.region + "' is wrong; expecting '" + v.region + "'"
	}
	if p.service != service {
		return "incorrect service \"" + p.service + "\". This endpoint belongs to \"s3\"."
	}
	if term != scopeTerminator {
		return "incorrect terminal \"" + term + "\". This endpoint uses \"aws4_request\"."
	}
	return ""
}

func parseSignedHeaders(s string) ([]string, bool) {
	if s == "" {
		return nil, false
	}
	hs := strings.Split(s, ";")
	for _, h := range hs {
		if h == "" || strings.ToLower(h) != h || strings.TrimSpace(h) != h {
			return nil, false
		}
	}
	return hs, true
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// validPayloadHash reports whether h is a value x-amz-content-sha256 may take.
func validPayloadHash(h string) bool {
	switch h {
	case UnsignedPayload, StreamingPayload, StreamingPayloadTrailer, StreamingUnsignedTrailer:
		return true
	}
	if len(h) != 64 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil
}

func errBadPayloadHash() *Error {
	return errInvalidArgument("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.")
}

func (v *Verifier) authHeader(r *http.Request, query []queryParam, a string) (*Result, error) {
	fields, e := parseAuthorization(a)
	if e != nil {
		return nil, e
	}
	var p authParams
	if msg := v.parseCredential(fields["Credential"], &p); msg != "" {
		e := errHeaderMalformed("The authorization header is malformed; " + msg)
		if v.region != "" && p.region != "" && p.region != v.region {
			e.Extra = append(e.Extra, Field{"Region", v.region})
		}
		return nil, e
	}
	hs, ok := parseSignedHeaders(fields["SignedHeaders"])
	if !ok {
		return nil, errHeaderMalformed("The authorization header is malformed; SignedHeaders must be a non-empty, semicolon-separated list of lower-case header names.")
	}
	p.signedHeaders = hs
	p.signature = fields["Signature"]

	secret, ok := v.creds.SecretKey(p.accessKey)
	if !ok {
		e := newErr(ErrCodeInvalidAccessKeyID, http.StatusForbidden, "The AWS Access Key Id you provided does not exist in our records.")
		e.Extra = []Field{{"AWSAccessKeyId", p.accessKey}}
		return nil, e
	}

	// Request time: x-amz-date, else Date.
	var t time.Time
	var amzDate string
	if d := r.Header.Get("X-Amz-Date"); d != "" {
		pt, err := time.Parse(iso8601Format, d)
		if err != nil {
			return nil, errAccessDenied("AWS authentication requires a valid Date or x-amz-date header")
		}
		t, amzDate = pt, d
	} else if d := r.Header.Get("Date"); d != "" {
		pt, err := parseHTTPDate(d)
		if err != nil {
			return nil, errAccessDenied("AWS authentication requires a valid Date or x-amz-date header")
		}
		t, amzDate = pt.UTC(), pt.UTC().Format(iso8601Format)
	} else {
		return nil, errAccessDenied("AWS authentication requires a valid Date or x-amz-date header")
	}
	if t.Format(yyyymmdd) != p.date {
		return nil, errHeaderMalformed("The authorization header is malformed; Invalid credential date \"" + p.date + "\". This date is not the same as X-Amz-Date: \"" + t.Format(yyyymmdd) + "\".")
	}
	if e := v.checkSkew(t); e != nil {
		return nil, e
	}
	if !containsString(hs, "host") {
		return nil, errAccessDenied("The host header must be signed.")
	}
	if unsigned := unsignedAmzHeaders(r, hs); len(unsigned) > 0 {
		e := errAccessDenied("There were headers present in the request which were not signed")
		e.Extra = []Field{{"HeadersNotSigned", strings.Join(unsigned, ", ")}}
		return nil, e
	}

	payloadHash := r.Header.Get("X-Amz-Content-Sha256")
	if payloadHash == "" {
		return nil, errInvalidRequest("Missing required header for this request: x-amz-content-sha256")
	}
	if payloadHash == streamingECDSA || payloadHash == streamingECDSATrailer {
		return nil, newErr(ErrCodeNotImplemented, http.StatusNotImplemented, "SigV4a streaming payloads are not supported.")
	}
	if !validPayloadHash(payloadHash) {
		return nil, errBadPayloadHash()
	}

	key := v.signingKey(secret, p.date, p.region, p.service)
	scope := p.date + "/" + p.region + "/" + p.service + "/" + scopeTerminator
	creq := canonicalRequest(r, query, "", hs, payloadHash)
	sts := stringToSign(amzDate, scope, creq)
	want := hmacSHA256(key, []byte(sts))
	if !signatureEqual(want, p.signature) {
		return nil, signatureMismatch(p.accessKey, sts, p.signature, creq)
	}

	res := &Result{AccessKey: p.accessKey, Region: p.region}
	seed := &chunkSigner{key: key, amzDate: amzDate, scope: scope, prev: hex.EncodeToString(want)}
	if err := v.setupBody(r, res, payloadHash, seed); err != nil {
		return nil, err
	}
	return res, nil
}

// unsignedAmzHeaders returns the x-amz-* headers present in r but not in
// the signed list (AWS rejects those for header authentication), except
// x-amz-user-agent, which some SDKs (PHP) send unsigned by design and which
// changes nothing the server does.
func unsignedAmzHeaders(r *http.Request, signed []string) []string {
	var out []string
	for name := range r.Header {
		l := strings.ToLower(name)
		if strings.HasPrefix(l, "x-amz-") && l != "x-amz-user-agent" && !containsString(signed, l) {
			out = append(out, l)
		}
	}
	sort.Strings(out)
	return out
}

// presignExempt reports whether an unsigned x-amz-* header may accompany
// a presigned URL: those that only describe the body, which is verified
// against them, or that change nothing.
func presignExempt(name string) bool {
	switch name {
	case "x-amz-user-agent", "x-amz-content-sha256", "x-amz-decoded-content-length",
		"x-amz-trailer", "x-amz-sdk-checksum-algorithm", "x-amz-date":
		return true
	}
	_, ok := checksumAlgFromHeader(name)
	return ok
}

func (v *Verifier) checkSkew(t time.Time) *Error {
	now := v.now()
	d := now.Sub(t)
	if d < 0 {
		d = -d
	}
	if d > v.maxSkew {
		e := newErr(ErrCodeRequestTimeTooSkewed, http.StatusForbidden, "The difference between the request time and the server's time is too large.")
		e.Extra = []Field{
			{"RequestTime", t.UTC().Format(iso8601Format)},
			{"ServerTime", now.UTC().Format(time.RFC3339)},
			{"MaxAllowedSkewMilliseconds", strconv.FormatInt(v.maxSkew.Milliseconds(), 10)},
		}
		return e
	}
	return nil
}

func (v *Verifier) authQuery(r *http.Request, query []queryParam) (*Result, error) {
	get := func(k string) (string, bool) {
		for _, p := range query {
			if p.key == k {
				return p.value, true
			}
		}
		return "", false
	}
	alg, _ := get("X-Amz-Algorithm")
	cred, okCred := get("X-Amz-Credential")
	sig, okSig := get("X-Amz-Signature")
	date, okDate := get("X-Amz-Date")
	shs, okSH := get("X-Amz-SignedHeaders")
	exp, okExp := get("X-Amz-Expires")
	if alg != algorithmHMAC {
		if alg == "AWS4-ECDSA-P256-SHA256" {
			return nil, newErr(ErrCodeNotImplemented, http.StatusNotImplemented, "SigV4a presigned URLs are not supported.")
		}
		return nil, errQueryMalformed("X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"")
	}
	if !okCred || !okSig || !okDate || !okSH || !okExp || sig == "" {
		return nil, errQueryMalformed("Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.")
	}
	var p authParams
	if msg := v.parseCredential(cred, &p); msg != "" {
		e := errQueryMalformed("Error parsing the X-Amz-Credential parameter; " + msg)
		if v.region != "" && p.region != "" && p.region != v.region {
			e.Extra = append(e.Extra, Field{"Region", v.region})
		}
		return nil, e
	}
	t, err := time.Parse(iso8601Format, date)
	if err != nil {
		return nil, errQueryMalformed("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
	}
	secs, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return nil, errQueryMalformed("X-Amz-Expires should be a number")
	}
	if secs < 0 {
		return nil, errQueryParams("X-Amz-Expires must be non-negative")
	}
	if max := int64(v.maxExpiry / time.Second); secs > max {
		return nil, errQueryParams("X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than " + strconv.FormatInt(max, 10) + " seconds")
	}
	hs, ok := parseSignedHeaders(shs)
	if !ok {
		return nil, errQueryMalformed("X-Amz-SignedHeaders must be a non-empty, semicolon-separated list of lower-case header names.")
	}
	if !containsString(hs, "host") {
		return nil, errAccessDenied("The host header must be signed.")
	}
	// An x-amz-* header the URL did not sign (x-amz-acl added to a
	// presigned PUT, say) would change what the signer allowed.
	var unsigned []string
	for _, h := range unsignedAmzHeaders(r, hs) {
		if !presignExempt(h) {
			unsigned = append(unsigned, h)
		}
	}
	if len(unsigned) > 0 {
		e := errAccessDenied("There were headers present in the request which were not signed")
		e.Extra = []Field{{"HeadersNotSigned", strings.Join(unsigned, ", ")}}
		return nil, e
	}
	p.signedHeaders, p.signature = hs, sig
	if t.Format(yyyymmdd) != p.date {
		return nil, errQueryMalformed("Error parsing the X-Amz-Credential parameter; Invalid credential date \"" + p.date + "\". This date is not the same as X-Amz-Date: \"" + t.Format(yyyymmdd) + "\".")
	}
	secret, ok := v.creds.SecretKey(p.accessKey)
	if !ok {
		e := newErr(ErrCodeInvalidAccessKeyID, http.StatusForbidden, "The AWS Access Key Id you provided does not exist in our records.")
		e.Extra = []Field{{"AWSAccessKeyId", p.accessKey}}
		return nil, e
	}
	now := v.now()
	if t.Sub(now) > v.maxSkew {
		return nil, errAccessDenied("Request is not valid yet")
	}
	expires := t.Add(time.Duration(secs) * time.Second)
	if now.After(expires) || secs == 0 {
		e := errAccessDenied("Request has expired")
		e.Extra = []Field{
			{"X-Amz-Expires", exp},
			{"Expires", expires.UTC().Format(time.RFC3339)},
			{"ServerTime", now.UTC().Format(time.RFC3339)},
		}
		return nil, e
	}

	// The payload hash signed into a presigned URL is UNSIGNED-PAYLOAD
	// unless the URL itself carries X-Amz-Content-Sha256.
	payloadHash := UnsignedPayload
	if h, ok := get("X-Amz-Content-Sha256"); ok {
		payloadHash = h
	}
	if !validPayloadHash(payloadHash) {
		return nil, errBadPayloadHash()
	}
	key := v.signingKey(secret, p.date, p.region, p.service)
	scope := p.date + "/" + p.region + "/" + p.service + "/" + scopeTerminator
	creq := canonicalRequest(r, query, "X-Amz-Signature", hs, payloadHash)
	sts := stringToSign(date, scope, creq)
	want := hmacSHA256(key, []byte(sts))
	if !signatureEqual(want, sig) {
		return nil, signatureMismatch(p.accessKey, sts, sig, creq)
	}

	// The body mode: what the URL signed, or an unsigned mode the request
	// announces in its header (a hex digest is then still checked).
	mode := payloadHash
	if mode == UnsignedPayload {
		var err error
		if mode, err = announcedPayloadMode(r); err != nil {
			return nil, err
		}
	}
	res := &Result{AccessKey: p.accessKey, Region: p.region, Presigned: true}
	seed := &chunkSigner{key: key, amzDate: date, scope: scope, prev: hex.EncodeToString(want)}
	if err := v.setupBody(r, res, mode, seed); err != nil {
		return nil, err
	}
	return res, nil
}

func signatureMismatch(accessKey, sts, provided, creq string) *Error {
	e := errSignature()
	e.Extra = []Field{
		{"AWSAccessKeyId", accessKey},
		{"StringToSign", sts},
		{"SignatureProvided", provided},
		{"CanonicalRequest", creq},
	}
	return e
}

// signatureEqual compares the computed signature with the hex one the
// client sent, in constant time.
func signatureEqual(want []byte, provided string) bool {
	got, err := hex.DecodeString(provided)
	if err != nil || len(got) != len(want) {
		return false
	}
	return hmac.Equal(want, got)
}

func hmacSHA256(key, data []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(data)
	return m.Sum(nil)
}

// signingKey derives the SigV4 signing key for a scope.
func signingKey(secret, date, region, svc string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), []byte(date))
	k = hmacSHA256(k, []byte(region))
	k = hmacSHA256(k, []byte(svc))
	return hmacSHA256(k, []byte(scopeTerminator))
}

func stringToSign(amzDate, scope, creq string) string {
	h := sha256.Sum256([]byte(creq))
	return algorithmHMAC + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(h[:])
}

// announcedPayloadMode is the body mode that a request whose signature does
// not cover the payload (presigned V4 URLs, SigV2) announces in
// X-Amz-Content-Sha256: UNSIGNED-PAYLOAD when absent, the unsigned trailer
// mode, or a hex SHA-256 that is then checked while the body is read.
func announcedPayloadMode(r *http.Request) (string, error) {
	h := r.Header.Get("X-Amz-Content-Sha256")
	switch {
	case h == "":
		return UnsignedPayload, nil
	case h == UnsignedPayload || h == StreamingUnsignedTrailer:
		return h, nil
	case len(h) == 64 && validPayloadHash(h):
		return h, nil
	}
	return "", errBadPayloadHash()
}
