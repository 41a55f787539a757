package sigv4

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsv4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

var negNow = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// signedReq returns a server-side request signed by aws-sdk-go-v2's signer
// at time at; edit may add headers before signing.
func signedReq(t *testing.T, method, target string, body []byte, payloadHash string, at time.Time, edit func(*http.Request)) *http.Request {
	t.Helper()
	req := sdkRequest(t, method, "127.0.0.1:9000", "/", "", body)
	path, q, _ := strings.Cut(target, "?")
	req.URL.Path, req.URL.RawPath, req.URL.RawQuery = path, s3Escape(path), q
	if payloadHash != "" {
		req.Header.Set("X-Amz-Content-Sha256", payloadHash)
	}
	if edit != nil {
		edit(req)
	}
	s := awsv4.NewSigner(func(o *awsv4.SignerOptions) { o.DisableURIPathEscaping = true })
	creds := aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecret}
	if err := s.SignHTTP(context.Background(), creds, req, payloadHash, "s3", testRegion, at); err != nil {
		t.Fatal(err)
	}
	return wire(t, req)
}

func negVerifier() *Verifier { return testVerifier(func() time.Time { return negNow }) }

func TestHeaderAuthErrors(t *testing.T) {
	v := negVerifier()
	base := func() *http.Request {
		return signedReq(t, "GET", "/bucket/key", nil, UnsignedPayload, negNow, nil)
	}
	if _, err := v.Authenticate(base()); err != nil {
		t.Fatalf("baseline: %v", err)
	}
	replaceAuth := func(from, to string) *http.Request {
		r := base()
		r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), from, to, 1))
		return r
	}
	cases := []struct {
		name string
		req  *http.Request
		code string
	}{
		{"no signature", replaceAuth(", Signature=", ", Sig="), ErrCodeAuthorizationHeaderMalformed},
		{"no credential", replaceAuth("Credential=", "Cred="), ErrCodeAuthorizationHeaderMalformed},
		{"short credential", replaceAuth("/us-east-1/s3/aws4_request", "/s3/aws4_request"), ErrCodeAuthorizationHeaderMalformed},
		{"wrong region", replaceAuth("/us-east-1/", "/eu-west-1/"), ErrCodeAuthorizationHeaderMalformed},
		{"wrong service", replaceAuth("/s3/", "/ec2/"), ErrCodeAuthorizationHeaderMalformed},
		{"wrong terminator", replaceAuth("aws4_request", "aws5_request"), ErrCodeAuthorizationHeaderMalformed},
		{"bad scope date", replaceAuth("/20260304/", "/2026034x/"), ErrCodeAuthorizationHeaderMalformed},
		{"scope date not request date", replaceAuth("/20260304/", "/20260303/"), ErrCodeAuthorizationHeaderMalformed},
		{"upper-case signed header", replaceAuth("SignedHeaders=host", "SignedHeaders=Host"), ErrCodeAuthorizationHeaderMalformed},
		{"unknown access key", replaceAuth("Credential="+testAccessKey, "Credential=NOSUCHKEY"), ErrCodeInvalidAccessKeyID},
		{"short signature", replaceAuth("Signature=", "Signature=00"), ErrCodeSignatureDoesNotMatch},
		{"non-hex signature", replaceAuth("Signature=", "Signature=zz"), ErrCodeSignatureDoesNotMatch},
		{"other key's signature", replaceAuth("Credential="+testAccessKey, "Credential=OTHERKEY"), ErrCodeSignatureDoesNotMatch},
		{"unsupported scheme", replaceAuth("AWS4-HMAC-SHA256", "Bearer"), ErrCodeAuthorizationHeaderMalformed},
		{"sigv4a", replaceAuth("AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256"), ErrCodeNotImplemented},
	}
	for _, c := range cases {
		_, err := v.Authenticate(c.req)
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		if e := err.(*Error); e.Code != c.code {
			t.Errorf("%s: %s (%s), want %s", c.name, e.Code, e.Message, c.code)
		}
	}

	// A V2 header with a wrong signature.
	r := base()
	r.Header.Set("Authorization", "AWS "+testAccessKey+":frJIUN8DYpKDtOLCwo//yllqDzg=")
	_, err := v.Authenticate(r)
	wantCode(t, err, ErrCodeSignatureDoesNotMatch)
	// Empty Authorization header.
	r = base()
	r.Header.Set("Authorization", "")
	_, err = v.Authenticate(r)
	wantCode(t, err, ErrCodeAuthorizationHeaderMalformed)
	// x-amz-user-agent may come unsigned (the PHP SDK does that).
	r = base()
	r.Header.Set("X-Amz-User-Agent", "aws-sdk-php/3.300")
	if _, err := v.Authenticate(r); err != nil {
		t.Errorf("unsigned x-amz-user-agent: %v", err)
	}
	// Header and query auth together.
	r = base()
	r.URL.RawQuery = "X-Amz-Algorithm=AWS4-HMAC-SHA256"
	_, err = v.Authenticate(r)
	wantCode(t, err, ErrCodeInvalidArgument)

	// Time.
	for _, d := range []time.Duration{-14 * time.Minute, 14 * time.Minute} {
		if _, err := v.Authenticate(signedReq(t, "GET", "/b/k", nil, UnsignedPayload, negNow.Add(d), nil)); err != nil {
			t.Errorf("skew %v: %v", d, err)
		}
	}
	for _, d := range []time.Duration{-16 * time.Minute, 16 * time.Minute} {
		_, err := v.Authenticate(signedReq(t, "GET", "/b/k", nil, UnsignedPayload, negNow.Add(d), nil))
		e := wantCode(t, err, ErrCodeRequestTimeTooSkewed)
		if e.Status != http.StatusForbidden {
			t.Errorf("skew status %d", e.Status)
		}
	}
	r = base()
	r.Header.Del("X-Amz-Date")
	_, err = v.Authenticate(r)
	wantCode(t, err, ErrCodeAccessDenied)
	r = base()
	r.Header.Set("X-Amz-Date", "yesterday")
	_, err = v.Authenticate(r)
	wantCode(t, err, ErrCodeAccessDenied)

	// Payload hash header.
	r = base()
	r.Header.Del("X-Amz-Content-Sha256")
	_, err = v.Authenticate(r)
	wantCode(t, err, ErrCodeInvalidRequest)
	_, err = v.Authenticate(signedReq(t, "GET", "/b/k", nil, "NOT-A-HASH", negNow, nil))
	wantCode(t, err, ErrCodeInvalidArgument)
	_, err = v.Authenticate(signedReq(t, "PUT", "/b/k", nil, streamingECDSA, negNow, nil))
	wantCode(t, err, ErrCodeNotImplemented)

	// An x-amz-* header added after signing.
	r = base()
	r.Header.Set("X-Amz-Acl", "public-read")
	_, err = v.Authenticate(r)
	e := wantCode(t, err, ErrCodeAccessDenied)
	if len(e.Extra) == 0 || e.Extra[0].Value != "x-amz-acl" {
		t.Errorf("extra %v", e.Extra)
	}
	// Any signed header changed.
	r = signedReq(t, "PUT", "/b/k", nil, UnsignedPayload, negNow, func(r *http.Request) { r.Header.Set("X-Amz-Acl", "private") })
	r.Header.Set("X-Amz-Acl", "public-read")
	_, err = v.Authenticate(r)
	wantCode(t, err, ErrCodeSignatureDoesNotMatch)
	// An escaped slash is not the same key as a slash.
	r = signedReq(t, "GET", "/b/a/b", nil, UnsignedPayload, negNow, nil)
	r.URL.RawPath = "/b/a%2Fb"
	_, err = v.Authenticate(r)
	wantCode(t, err, ErrCodeSignatureDoesNotMatch)
}

func presignURL(t *testing.T, target string, expires string, at time.Time) string {
	t.Helper()
	return presignMethod(t, "GET", target, expires, at)
}

func presignMethod(t *testing.T, method, target string, expires string, at time.Time) string {
	t.Helper()
	req := sdkRequest(t, method, "127.0.0.1:9000", "/", "", nil)
	path, q, _ := strings.Cut(target, "?")
	req.URL.Path, req.URL.RawPath = path, s3Escape(path)
	req.URL.RawQuery = q
	if expires != "" {
		if req.URL.RawQuery != "" {
			req.URL.RawQuery += "&"
		}
		req.URL.RawQuery += "X-Amz-Expires=" + expires
	}
	s := awsv4.NewSigner(func(o *awsv4.SignerOptions) { o.DisableURIPathEscaping = true })
	u, _, err := s.PresignHTTP(context.Background(), aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecret},
		req, UnsignedPayload, "s3", testRegion, at)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestPresignErrors(t *testing.T) {
	v := negVerifier()
	get := func(u string) error {
		_, err := v.Authenticate(httptest.NewRequest("GET", u, nil))
		return err
	}
	ok := presignURL(t, "/b/k", "3600", negNow.Add(-time.Minute))
	if err := get(ok); err != nil {
		t.Fatalf("baseline: %v", err)
	}
	if err := get(presignURL(t, "/b/k", "604800", negNow)); err != nil {
		t.Fatalf("a week: %v", err)
	}
	// Out of range is 403 (the ceph s3-tests, run against AWS, expect it);
	// not a number is malformed, 400 as AWS answers.
	for exp, status := range map[string]int{"604801": http.StatusForbidden, "-1": http.StatusForbidden, "soon": http.StatusBadRequest} {
		e := wantCode(t, get(presignURL(t, "/b/k", exp, negNow)), ErrCodeAuthorizationQueryParametersError)
		if e.Status != status {
			t.Errorf("X-Amz-Expires=%s: status %d, want %d", exp, e.Status, status)
		}
	}
	// An x-amz-* header the URL did not sign is refused; headers that only
	// describe the (verified) body are not.
	r := httptest.NewRequest("PUT", presignMethod(t, "PUT", "/b/k", "600", negNow), strings.NewReader("x"))
	r.Header.Set("X-Amz-Acl", "public-read")
	e := wantCode(t, func() error { _, err := v.Authenticate(r); return err }(), ErrCodeAccessDenied)
	if len(e.Extra) == 0 || e.Extra[0].Value != "x-amz-acl" {
		t.Errorf("extra %v", e.Extra)
	}
	r = httptest.NewRequest("PUT", presignMethod(t, "PUT", "/b/k", "600", negNow), strings.NewReader("x"))
	r.Header.Set("X-Amz-Checksum-Crc32", checksumOf(ChecksumCRC32, []byte("x")))
	r.Header.Set("X-Amz-Content-Sha256", UnsignedPayload)
	if _, err := v.Authenticate(r); err != nil {
		t.Errorf("body headers with a presigned URL: %v", err)
	}
	// X-Amz-Expires=0 is expired at once.
	wantCode(t, get(presignURL(t, "/b/k", "0", negNow)), ErrCodeAccessDenied)
	e = wantCode(t, get(presignURL(t, "/b/k", "3600", negNow.Add(-2*time.Hour))), ErrCodeAccessDenied)
	if e.Message != "Request has expired" {
		t.Errorf("expired message %q", e.Message)
	}
	e = wantCode(t, get(presignURL(t, "/b/k", "3600", negNow.Add(time.Hour))), ErrCodeAccessDenied)
	if e.Message != "Request is not valid yet" {
		t.Errorf("future message %q", e.Message)
	}
	drop := func(u, param string) string {
		i := strings.Index(u, param+"=")
		j := strings.IndexByte(u[i:], '&')
		if j < 0 {
			return u[:i-1]
		}
		return u[:i] + u[i+j+1:]
	}
	// Missing or unparsable parameters: 400, as AWS answers.
	malformed := []string{
		strings.Replace(ok, "X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Algorithm=AWS4-HMAC-SHA1", 1),
		strings.Replace(ok, "%2Fus-east-1%2F", "%2Feu-west-1%2F", 1),
		strings.Replace(ok, "X-Amz-Date=2026", "X-Amz-Date=2O26", 1),
	}
	for _, p := range []string{"X-Amz-Signature", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Credential"} {
		malformed = append(malformed, drop(ok, p))
	}
	for _, u := range malformed {
		if e := wantCode(t, get(u), ErrCodeAuthorizationQueryParametersError); e.Status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", u, e.Status)
		}
	}
	wantCode(t, get(strings.Replace(ok, "X-Amz-Credential="+testAccessKey, "X-Amz-Credential=NOSUCHKEY", 1)), ErrCodeInvalidAccessKeyID)
	i := strings.Index(ok, "X-Amz-Signature=") + len("X-Amz-Signature=")
	flipped := ok[:i] + map[bool]string{true: "1", false: "0"}[ok[i] == '0'] + ok[i+1:]
	wantCode(t, get(flipped), ErrCodeSignatureDoesNotMatch)
	wantCode(t, get("http://127.0.0.1:9000/b/k?AWSAccessKeyId="+testAccessKey+"&Expires="+strconv.FormatInt(negNow.Unix()+60, 10)+"&Signature=abc%3D"), ErrCodeSignatureDoesNotMatch)
}

// bodyReq signs a PUT with UNSIGNED-PAYLOAD (or mode) carrying body and
// the given extra headers, and authenticates it.
func bodyReq(t *testing.T, mode string, body []byte, hdr map[string]string) (*Result, error) {
	t.Helper()
	r := signedReq(t, "PUT", "/b/k", body, mode, negNow, func(r *http.Request) {
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
	})
	return negVerifier().Authenticate(r)
}

// bodyErr authenticates and reads the body, returning the first error.
func bodyErr(t *testing.T, mode string, body []byte, hdr map[string]string) error {
	t.Helper()
	res, err := bodyReq(t, mode, body, hdr)
	if err != nil {
		return err
	}
	_, err = io.ReadAll(res.Body)
	return err
}

func TestBodyErrors(t *testing.T) {
	body := []byte("the quick brown fox")
	sum := md5.Sum(body)
	goodMD5 := base64.StdEncoding.EncodeToString(sum[:])
	if err := bodyErr(t, UnsignedPayload, body, map[string]string{"Content-MD5": goodMD5}); err != nil {
		t.Fatalf("baseline: %v", err)
	}
	for _, bad := range []string{"", "not base64!", base64.StdEncoding.EncodeToString(sum[:15])} {
		wantCode(t, bodyErr(t, UnsignedPayload, body, map[string]string{"Content-MD5": bad}), ErrCodeInvalidDigest)
	}
	other := md5.Sum([]byte("x"))
	wantCode(t, bodyErr(t, UnsignedPayload, body, map[string]string{"Content-MD5": base64.StdEncoding.EncodeToString(other[:])}), ErrCodeBadDigest)

	for _, alg := range ChecksumAlgorithms() {
		h := ChecksumHeader(alg)
		if err := bodyErr(t, UnsignedPayload, body, map[string]string{h: checksumOf(alg, body)}); err != nil {
			t.Errorf("%s: %v", alg, err)
		}
		wantCode(t, bodyErr(t, UnsignedPayload, body, map[string]string{h: checksumOf(alg, body[1:])}), ErrCodeBadDigest)
		wantCode(t, bodyErr(t, UnsignedPayload, body, map[string]string{h: "bad"}), ErrCodeBadDigest)
		wantCode(t, bodyErr(t, UnsignedPayload, body, map[string]string{h: base64.StdEncoding.EncodeToString([]byte("toolongforanychecksumatallreally!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"))}), ErrCodeBadDigest)
	}
	wantCode(t, bodyErr(t, UnsignedPayload, body, map[string]string{
		"X-Amz-Checksum-Crc32": checksumOf(ChecksumCRC32, body), "X-Amz-Checksum-Sha1": checksumOf(ChecksumSHA1, body),
	}), ErrCodeInvalidRequest)
	wantCode(t, bodyErr(t, UnsignedPayload, body, map[string]string{"X-Amz-Checksum-Md5": "AAAAAAAAAAAAAAAAAAAAAA=="}), ErrCodeBadDigest)
	wantCode(t, bodyErr(t, UnsignedPayload, body, map[string]string{"X-Amz-Checksum-Blake3": "AAAAAAAAAAAAAAAAAAAAAA=="}), ErrCodeInvalidRequest)
	// Checksum algorithm headers that carry no value are not checksums.
	if err := bodyErr(t, UnsignedPayload, body, map[string]string{"X-Amz-Checksum-Algorithm": "CRC32", "X-Amz-Checksum-Type": "FULL_OBJECT"}); err != nil {
		t.Errorf("algorithm header: %v", err)
	}
	wantCode(t, bodyErr(t, UnsignedPayload, body, map[string]string{"X-Amz-Trailer": "x-amz-checksum-crc32"}), ErrCodeInvalidRequest)

	// CompleteMultipartUpload carries the object's checksum, not the
	// body's: it is left to the server and not reported.
	xmlBody := []byte("<CompleteMultipartUpload></CompleteMultipartUpload>")
	r := signedReq(t, "POST", "/b/k?uploadId=u1", xmlBody, UnsignedPayload, negNow, func(r *http.Request) {
		r.Header.Set("X-Amz-Checksum-Sha256", "Ok6Cs5b96ux6+MWQkJO7UBT5sKPBeXBLwvj/hK89smg=-1")
	})
	res, err := negVerifier().Authenticate(r)
	if err != nil {
		t.Fatalf("complete: %v", err)
	}
	if got, err := io.ReadAll(res.Body); err != nil || !bytes.Equal(got, xmlBody) || len(res.Checksums()) != 0 {
		t.Fatalf("complete: %q %v %v", got, err, res.Checksums())
	}

	// Signed streaming needs the decoded length.
	_, err = bodyReq(t, StreamingPayload, []byte("0;chunk-signature="+strings.Repeat("0", 64)+"\r\n\r\n"), nil)
	e := wantCode(t, err, ErrCodeMissingContentLength)
	if e.Status != http.StatusLengthRequired {
		t.Errorf("status %d", e.Status)
	}
	_, err = bodyReq(t, StreamingUnsignedTrailer, []byte("0\r\n\r\n"), map[string]string{"X-Amz-Decoded-Content-Length": "-3"})
	wantCode(t, err, ErrCodeInvalidArgument)

	// A plain body cut short by the client.
	res, err = bodyReq(t, UnsignedPayload, body, nil)
	if err != nil {
		t.Fatal(err)
	}
	res.payload.src = truncatingBody(body[:5])
	_, err = io.ReadAll(res.Body)
	wantCode(t, err, ErrCodeIncompleteBody)
	if res.MD5Hex() != "" || len(res.Checksums()) != 0 {
		t.Error("results reported for a truncated body")
	}

	// Anonymous requests cannot carry signed chunks.
	r = httptest.NewRequest("PUT", "http://127.0.0.1:9000/b/k", strings.NewReader("0\r\n\r\n"))
	r.Header.Set("X-Amz-Content-Sha256", StreamingPayload)
	r.Header.Set("X-Amz-Decoded-Content-Length", "0")
	_, err = negVerifier().Authenticate(r)
	wantCode(t, err, ErrCodeAccessDenied)
	// An anonymous request is reported as such, with its body checked.
	r = httptest.NewRequest("PUT", "http://127.0.0.1:9000/b/k", bytes.NewReader(body))
	r.Header.Set("Content-MD5", base64.StdEncoding.EncodeToString(other[:]))
	res, err = negVerifier().Authenticate(r)
	if err != nil || !res.Anonymous {
		t.Fatalf("anonymous: %+v %v", res, err)
	}
	_, err = io.ReadAll(res.Body)
	wantCode(t, err, ErrCodeBadDigest)
}

// unsignedTrailerBody frames data as aws-chunked with chunks of size n and
// the given trailer lines.
func unsignedTrailerBody(data []byte, n int, trailer string) []byte {
	var b bytes.Buffer
	for len(data) > 0 {
		c := min(n, len(data))
		b.WriteString(strings.ToLower(strconvHex(c)) + "\r\n")
		b.Write(data[:c])
		b.WriteString("\r\n")
		data = data[c:]
	}
	b.WriteString("0\r\n")
	b.WriteString(trailer)
	b.WriteString("\r\n")
	return b.Bytes()
}

func strconvHex(n int) string {
	const digits = "0123456789abcdef"
	if n == 0 {
		return "0"
	}
	var s []byte
	for n > 0 {
		s = append([]byte{digits[n%16]}, s...)
		n /= 16
	}
	return string(s)
}

func TestUnsignedTrailerErrors(t *testing.T) {
	data := testPayload(1000)
	crc := checksumOf(ChecksumCRC32, data)
	hdr := func(decoded string) map[string]string {
		m := map[string]string{"Content-Encoding": "aws-chunked", "X-Amz-Trailer": "x-amz-checksum-crc32"}
		if decoded != "" {
			m["X-Amz-Decoded-Content-Length"] = decoded
		}
		return m
	}
	good := unsignedTrailerBody(data, 300, "x-amz-checksum-crc32:"+crc+"\r\n")
	res, err := bodyReq(t, StreamingUnsignedTrailer, good, hdr("1000"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(res.Body)
	if err != nil || !bytes.Equal(got, data) || res.Checksums()[ChecksumCRC32] != crc {
		t.Fatalf("baseline: %d bytes, %v, %v", len(got), err, res.Checksums())
	}
	// Without x-amz-decoded-content-length (Transfer-Encoding: chunked).
	if err := bodyErr(t, StreamingUnsignedTrailer, good, hdr("")); err != nil {
		t.Fatalf("no decoded length: %v", err)
	}

	cases := []struct {
		name string
		body []byte
		hdr  map[string]string
		code string
	}{
		{"wrong crc", unsignedTrailerBody(data, 300, "x-amz-checksum-crc32:"+checksumOf(ChecksumCRC32, data[1:])+"\r\n"), hdr("1000"), ErrCodeBadDigest},
		{"invalid crc", unsignedTrailerBody(data, 300, "x-amz-checksum-crc32:zz\r\n"), hdr("1000"), ErrCodeBadDigest},
		{"missing trailer", unsignedTrailerBody(data, 300, ""), hdr("1000"), ErrCodeInvalidRequest},
		{"undeclared trailer", unsignedTrailerBody(data, 300, "x-amz-checksum-crc32:"+crc+"\r\nx-amz-checksum-sha1:"+checksumOf(ChecksumSHA1, data)+"\r\n"), hdr("1000"), ErrCodeInvalidRequest},
		{"shorter than declared", good, hdr("1001"), ErrCodeIncompleteBody},
		{"longer than declared", good, hdr("999"), ErrCodeInvalidRequest},
		{"bad chunk size", append([]byte("zz\r\n"), good...), hdr("1000"), ErrCodeInvalidRequest},
		{"huge chunk size", append([]byte("fffffffffffffffff\r\n"), good...), hdr("1000"), ErrCodeInvalidRequest},
		{"long chunk line", append([]byte("1;"+strings.Repeat("x", 5000)+"\r\n"), good...), hdr("1000"), ErrCodeInvalidRequest},
		{"endless chunk line", []byte("1;" + strings.Repeat("x", 100000)), hdr("1000"), ErrCodeInvalidRequest},
		{"chunk longer than its size", []byte("2\r\nabc\r\n0\r\n\r\n"), hdr("2"), ErrCodeInvalidRequest},
		{"malformed trailer", unsignedTrailerBody(data, 300, "no colon here\r\n"), hdr("1000"), ErrCodeInvalidRequest},
		{"empty body", nil, hdr("1000"), ErrCodeIncompleteBody},
	}
	for _, c := range cases {
		err := bodyErr(t, StreamingUnsignedTrailer, c.body, c.hdr)
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		if e, ok := err.(*Error); !ok || e.Code != c.code {
			t.Errorf("%s: %v, want %s", c.name, err, c.code)
		}
	}

	// Every truncation of the body is refused.
	for cut := 0; cut < len(good); cut++ {
		res, err := bodyReq(t, StreamingUnsignedTrailer, good[:cut], hdr(""))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadAll(res.Body); err == nil {
			t.Fatalf("truncated at %d of %d: accepted", cut, len(good))
		}
	}
}

// TestTruncatedUploadOverSocket sends a PUT whose body stops halfway and
// closes the connection: the handler must see IncompleteBody.
func TestTruncatedUploadOverSocket(t *testing.T) {
	got := make(chan error, 1)
	v := testVerifier(nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, err := v.Authenticate(r)
		if err == nil {
			_, err = io.ReadAll(res.Body)
		}
		got <- err
	}))
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = io.WriteString(conn, "PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"+strings.Repeat("a", 500))
	if err != nil {
		t.Fatal(err)
	}
	conn.(*net.TCPConn).CloseWrite()
	select {
	case err := <-got:
		wantCode(t, err, ErrCodeIncompleteBody)
	case <-time.After(10 * time.Second):
		t.Fatal("handler did not finish")
	}
}

// truncatingBody returns data and then io.ErrUnexpectedEOF, the way
// net/http's server body reports a client that hung up early.
func truncatingBody(data []byte) io.Reader {
	return io.MultiReader(bytes.NewReader(data), iotest.ErrReader(io.ErrUnexpectedEOF))
}
