package sigv4

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The examples below are AWS's published SigV4 test data for S3
// ("Signature Calculations for the Authorization Header", "Authenticating
// Requests: Using Query Parameters", "Transferring Payload in Multiple
// Chunks" and "Including Trailing Headers"), all with the example key pair
// AKIAIOSFODNN7EXAMPLE and the time 2013-05-24T00:00:00Z.
const (
	exampleAccessKey = "AKIAIOSFODNN7EXAMPLE"
	exampleSecret    = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	exampleScope     = "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"
)

var exampleTime = time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)

func exampleVerifier(now time.Time) *Verifier {
	return NewVerifier(Config{
		Credentials: StaticCredentials{exampleAccessKey: exampleSecret},
		Region:      "us-east-1",
		Now:         func() time.Time { return now },
	})
}

func authz(signedHeaders, sig string) string {
	return "AWS4-HMAC-SHA256 Credential=" + exampleScope + ",SignedHeaders=" + signedHeaders + ",Signature=" + sig
}

// readAll reads a Result body to the end and returns the data and the
// final error (nil on a clean EOF).
func readAll(t *testing.T, res *Result) ([]byte, error) {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	return b, err
}

func wantCode(t *testing.T, err error, code string) *Error {
	t.Helper()
	if err == nil {
		t.Fatalf("got success, want %s", code)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *sigv4.Error, want %s", err, err, code)
	}
	if e.Code != code {
		t.Fatalf("error code %s (%s), want %s", e.Code, e.Message, code)
	}
	return e
}

func TestAWSExampleGetObject(t *testing.T) {
	r := httptest.NewRequest("GET", "http://examplebucket.s3.amazonaws.com/test.txt", nil)
	r.Header.Set("Range", "bytes=0-9")
	r.Header.Set("X-Amz-Content-Sha256", emptySHA256)
	r.Header.Set("X-Amz-Date", "20130524T000000Z")
	r.Header.Set("Authorization", authz("host;range;x-amz-content-sha256;x-amz-date",
		"f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"))
	res, err := exampleVerifier(exampleTime).Authenticate(r)
	if err != nil {
		t.Fatal(err)
	}
	if res.AccessKey != exampleAccessKey || res.Anonymous || res.Presigned || res.Region != "us-east-1" {
		t.Fatalf("result %+v", res)
	}
	if b, err := readAll(t, res); err != nil || len(b) != 0 {
		t.Fatalf("body %q, %v", b, err)
	}

	// Any change to a signed element breaks it.
	r.Header.Set("Range", "bytes=0-10")
	_, err = exampleVerifier(exampleTime).Authenticate(r)
	wantCode(t, err, ErrCodeSignatureDoesNotMatch)
}

func TestAWSExamplePutObject(t *testing.T) {
	body := "Welcome to Amazon S3."
	r := httptest.NewRequest("PUT", "http://examplebucket.s3.amazonaws.com/test%24file.text", strings.NewReader(body))
	r.Header.Set("Date", "Fri, 24 May 2013 00:00:00 GMT")
	r.Header.Set("X-Amz-Date", "20130524T000000Z")
	r.Header.Set("X-Amz-Storage-Class", "REDUCED_REDUNDANCY")
	r.Header.Set("X-Amz-Content-Sha256", "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")
	r.Header.Set("Authorization", authz("date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
		"98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"))
	res, err := exampleVerifier(exampleTime).Authenticate(r)
	if err != nil {
		t.Fatal(err)
	}
	b, err := readAll(t, res)
	if err != nil || string(b) != body {
		t.Fatalf("body %q, %v", b, err)
	}
	if res.ContentLength != int64(len(body)) {
		t.Fatalf("ContentLength %d", res.ContentLength)
	}
	if res.MD5Hex() == "" {
		t.Fatal("no MD5 after EOF")
	}

	// Same signature, different body: the hash check fails at EOF.
	r = httptest.NewRequest("PUT", "http://examplebucket.s3.amazonaws.com/test%24file.text", strings.NewReader("Welcome to Amazon S4."))
	r.Header.Set("Date", "Fri, 24 May 2013 00:00:00 GMT")
	r.Header.Set("X-Amz-Date", "20130524T000000Z")
	r.Header.Set("X-Amz-Storage-Class", "REDUCED_REDUNDANCY")
	r.Header.Set("X-Amz-Content-Sha256", "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")
	r.Header.Set("Authorization", authz("date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
		"98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"))
	res, err = exampleVerifier(exampleTime).Authenticate(r)
	if err != nil {
		t.Fatal(err)
	}
	_, err = readAll(t, res)
	wantCode(t, err, ErrCodeXAmzContentSHA256Mismatch)
	if res.MD5Hex() != "" {
		t.Fatal("MD5 reported for a rejected body")
	}
}

func TestAWSExampleBucketQueries(t *testing.T) {
	for _, c := range []struct{ target, sig string }{
		{"/?lifecycle", "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"},
		{"/?max-keys=2&prefix=J", "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"},
		// The same query in another order canonicalises the same way.
		{"/?prefix=J&max-keys=2", "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"},
	} {
		r := httptest.NewRequest("GET", "http://examplebucket.s3.amazonaws.com"+c.target, nil)
		r.Header.Set("X-Amz-Content-Sha256", emptySHA256)
		r.Header.Set("X-Amz-Date", "20130524T000000Z")
		r.Header.Set("Authorization", authz("host;x-amz-content-sha256;x-amz-date", c.sig))
		if _, err := exampleVerifier(exampleTime).Authenticate(r); err != nil {
			t.Errorf("%s: %v", c.target, err)
		}
	}
}

const examplePresigned = "http://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256" +
	"&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request" +
	"&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host" +
	"&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"

func TestAWSExamplePresigned(t *testing.T) {
	r := httptest.NewRequest("GET", examplePresigned, nil)
	res, err := exampleVerifier(exampleTime.Add(time.Hour)).Authenticate(r)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Presigned || res.AccessKey != exampleAccessKey || res.PayloadMode != UnsignedPayload {
		t.Fatalf("result %+v", res)
	}
	// Valid up to the last second of X-Amz-Expires, expired after.
	r = httptest.NewRequest("GET", examplePresigned, nil)
	if _, err := exampleVerifier(exampleTime.Add(86400 * time.Second)).Authenticate(r); err != nil {
		t.Fatalf("at expiry: %v", err)
	}
	_, err = exampleVerifier(exampleTime.Add(86401 * time.Second)).Authenticate(r)
	e := wantCode(t, err, ErrCodeAccessDenied)
	if e.Message != "Request has expired" {
		t.Fatalf("message %q", e.Message)
	}
	// Tampering with a query parameter.
	r = httptest.NewRequest("GET", strings.Replace(examplePresigned, "test.txt", "test2.txt", 1), nil)
	_, err = exampleVerifier(exampleTime).Authenticate(r)
	wantCode(t, err, ErrCodeSignatureDoesNotMatch)
	r = httptest.NewRequest("GET", examplePresigned+"&response-content-type=text/html", nil)
	_, err = exampleVerifier(exampleTime).Authenticate(r)
	wantCode(t, err, ErrCodeSignatureDoesNotMatch)
}

// exampleChunkedBody frames 65536 + 1024 bytes of 'a' the way the AWS
// example does, with the given chunk signatures and trailer section.
func exampleChunkedBody(sigs [3]string, trailer string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "10000;chunk-signature=%s\r\n", sigs[0])
	b.Write(bytes.Repeat([]byte{'a'}, 65536))
	fmt.Fprintf(&b, "\r\n400;chunk-signature=%s\r\n", sigs[1])
	b.Write(bytes.Repeat([]byte{'a'}, 1024))
	fmt.Fprintf(&b, "\r\n0;chunk-signature=%s\r\n", sigs[2])
	b.WriteString(trailer)
	b.WriteString("\r\n")
	return b.Bytes()
}

var (
	exampleChunkSigs = [3]string{
		"ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
		"0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
		"b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
	}
	exampleTrailerChunkSigs = [3]string{
		"b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
		"1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
		"2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
	}
)

const (
	exampleSeed        = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
	exampleTrailerSeed = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
	exampleTrailer     = "x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n"
)

func exampleChunkedRequest(body []byte) *http.Request {
	r := httptest.NewRequest("PUT", "http://s3.amazonaws.com/examplebucket/chunkObject.txt", bytes.NewReader(body))
	r.Header.Set("X-Amz-Date", "20130524T000000Z")
	r.Header.Set("X-Amz-Storage-Class", "REDUCED_REDUNDANCY")
	r.Header.Set("X-Amz-Content-Sha256", StreamingPayload)
	r.Header.Set("Content-Encoding", "aws-chunked")
	r.Header.Set("X-Amz-Decoded-Content-Length", "66560")
	r.Header.Set("Authorization", authz(
		"content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class",
		exampleSeed))
	return r
}

func exampleTrailerRequest(body []byte) *http.Request {
	r := httptest.NewRequest("PUT", "http://s3.amazonaws.com/examplebucket/chunkObject.txt", bytes.NewReader(body))
	r.Header.Set("X-Amz-Date", "20130524T000000Z")
	r.Header.Set("X-Amz-Storage-Class", "REDUCED_REDUNDANCY")
	r.Header.Set("X-Amz-Content-Sha256", StreamingPayloadTrailer)
	r.Header.Set("Content-Encoding", "aws-chunked")
	r.Header.Set("X-Amz-Decoded-Content-Length", "66560")
	r.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32c")
	r.Header.Set("Authorization", authz(
		"content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer",
		exampleTrailerSeed))
	return r
}

func TestAWSExampleChunked(t *testing.T) {
	body := exampleChunkedBody(exampleChunkSigs, "")
	if len(body) != 66824 {
		t.Fatalf("framed length %d, AWS's example says 66824", len(body))
	}
	res, err := exampleVerifier(exampleTime).Authenticate(exampleChunkedRequest(body))
	if err != nil {
		t.Fatal(err)
	}
	if res.ContentLength != 66560 || res.ContentEncoding != "" || res.PayloadMode != StreamingPayload {
		t.Fatalf("result %+v", res)
	}
	got, err := readAll(t, res)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, bytes.Repeat([]byte{'a'}, 66560)) {
		t.Fatalf("decoded %d bytes", len(got))
	}

	// Each chunk signature matters.
	for i := range exampleChunkSigs {
		sigs := exampleChunkSigs
		sigs[i] = strings.Repeat("0", 64)
		res, err := exampleVerifier(exampleTime).Authenticate(exampleChunkedRequest(exampleChunkedBody(sigs, "")))
		if err != nil {
			t.Fatal(err)
		}
		_, err = readAll(t, res)
		wantCode(t, err, ErrCodeSignatureDoesNotMatch)
	}
	// A flipped data byte.
	bad := exampleChunkedBody(exampleChunkSigs, "")
	bad[40000] = 'b'
	res, err = exampleVerifier(exampleTime).Authenticate(exampleChunkedRequest(bad))
	if err != nil {
		t.Fatal(err)
	}
	_, err = readAll(t, res)
	wantCode(t, err, ErrCodeSignatureDoesNotMatch)
}

func TestAWSExampleChunkedTrailer(t *testing.T) {
	body := exampleChunkedBody(exampleTrailerChunkSigs, exampleTrailer)
	res, err := exampleVerifier(exampleTime).Authenticate(exampleTrailerRequest(body))
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAll(t, res)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 66560 {
		t.Fatalf("decoded %d bytes", len(got))
	}
	if c := res.Checksums(); c[ChecksumCRC32C] != "sOO8/Q==" {
		t.Fatalf("checksums %v", c)
	}

	// A changed trailer value fails the trailer signature.
	tampered := strings.Replace(exampleTrailer, "sOO8/Q==", "sOO8/A==", 1)
	res, err = exampleVerifier(exampleTime).Authenticate(exampleTrailerRequest(exampleChunkedBody(exampleTrailerChunkSigs, tampered)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = readAll(t, res)
	wantCode(t, err, ErrCodeSignatureDoesNotMatch)

	// The trailer cut off: never a success.
	cut := exampleChunkedBody(exampleTrailerChunkSigs, "x-amz-checksum-crc32c:sOO8")
	cut = cut[:len(cut)-2]
	res, err = exampleVerifier(exampleTime).Authenticate(exampleTrailerRequest(cut))
	if err != nil {
		t.Fatal(err)
	}
	_, err = readAll(t, res)
	wantCode(t, err, ErrCodeIncompleteBody)
}
