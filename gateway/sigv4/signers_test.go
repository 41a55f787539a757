package sigv4

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsv4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/minio/minio-go/v7/pkg/signer"
)

// These tests sign requests with two independent client signers
// (aws-sdk-go-v2's and minio-go's), put them on the wire with
// http.Request.Write and parse them back with http.ReadRequest, as a server
// would receive them, and verify them with this package.

const (
	testAccessKey = "DATDOTTESTKEY0000001"
	testSecret    = "dat/dot+secret/key0000000000000000000000"
	testRegion    = "us-east-1"
)

func testVerifier(now func() time.Time) *Verifier {
	return NewVerifier(Config{
		Credentials: StaticCredentials{testAccessKey: testSecret, "OTHERKEY": "other-secret"},
		Region:      testRegion,
		Now:         now,
	})
}

// wire serialises a client request and parses it back as a server does.
func wire(t *testing.T, req *http.Request) *http.Request {
	t.Helper()
	var buf bytes.Buffer
	if err := req.Write(&buf); err != nil {
		t.Fatalf("write request: %v", err)
	}
	r, err := http.ReadRequest(bufio.NewReader(&buf))
	if err != nil {
		t.Fatalf("read request: %v", err)
	}
	return r
}

// s3Escape escapes an object key path the way the S3 SDKs do: everything
// but unreserved characters and '/'.
func s3Escape(p string) string {
	var sb strings.Builder
	awsEncode(&sb, p, true)
	return sb.String()
}

// sdkRequest builds a request as aws-sdk-go-v2's S3 serializers do: the
// path escaped by S3 rules in RawPath.
func sdkRequest(t *testing.T, method, host, path, rawQuery string, body []byte) *http.Request {
	t.Helper()
	u := &url.URL{Scheme: "http", Host: host, Path: path, RawPath: s3Escape(path), RawQuery: rawQuery}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u.String(), rd)
	if err != nil {
		t.Fatal(err)
	}
	req.URL = u
	return req
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

var oddKeys = []string{
	"/bucket/plain.txt",
	"/bucket/a b+c$d&e=f/ü~!'()*,;:@.txt",
	"/bucket/dir//double/slash/",
	"/bucket/percent%25literal%2Fslash",
	"/bucket/日本語/キー",
}

func TestAWSSDKSignerHeader(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	v := testVerifier(func() time.Time { return now })
	s := awsv4.NewSigner(func(o *awsv4.SignerOptions) { o.DisableURIPathEscaping = true })
	creds := aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecret}
	ctx := context.Background()

	for _, key := range oddKeys {
		for _, host := range []string{"127.0.0.1:9000", "bucket.s3.localhost:9000", "localhost"} {
			body := []byte("hello, " + key)
			req := sdkRequest(t, "PUT", host, key, "x-id=PutObject", body)
			hash := sha256Hex(body)
			req.Header.Set("X-Amz-Content-Sha256", hash)
			req.Header.Set("X-Amz-Meta-Note", "  spaced   out  value ")
			req.Header.Add("X-Amz-Meta-Multi", "one")
			req.Header.Add("X-Amz-Meta-Multi", "two")
			req.Header.Set("Content-Type", "text/plain")
			m := md5.Sum(body)
			req.Header.Set("Content-Md5", base64.StdEncoding.EncodeToString(m[:]))
			if err := s.SignHTTP(ctx, creds, req, hash, "s3", testRegion, now); err != nil {
				t.Fatal(err)
			}
			res, err := v.Authenticate(wire(t, req))
			if err != nil {
				t.Fatalf("%s %s: %v", host, key, err)
			}
			got, err := readAll(t, res)
			if err != nil || !bytes.Equal(got, body) {
				t.Fatalf("%s %s: body %q, %v", host, key, got, err)
			}
			if res.MD5Hex() != hex.EncodeToString(m[:]) || res.Checksums()[ContentMD5] != hex.EncodeToString(m[:]) {
				t.Fatalf("md5 %s, checksums %v", res.MD5Hex(), res.Checksums())
			}
		}
	}

	// Query strings with characters that need escaping, an empty value
	// and a repeated key.
	req := sdkRequest(t, "GET", "127.0.0.1:9000", "/bucket",
		"list-type=2&prefix=a%2Fb%20c%2Bd&delimiter=%2F&encoding-type=url&start-after=%E2%82%AC&versions", nil)
	req.Header.Set("X-Amz-Content-Sha256", UnsignedPayload)
	if err := s.SignHTTP(ctx, creds, req, UnsignedPayload, "s3", testRegion, now); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Authenticate(wire(t, req)); err != nil {
		t.Fatalf("list: %v", err)
	}

	// Signed with another secret.
	req = sdkRequest(t, "GET", "127.0.0.1:9000", "/bucket/k", "", nil)
	req.Header.Set("X-Amz-Content-Sha256", UnsignedPayload)
	bad := aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: "wrong"}
	// A fresh signer: the SDK caches signing keys per access key.
	if err := awsv4.NewSigner(func(o *awsv4.SignerOptions) { o.DisableURIPathEscaping = true }).SignHTTP(ctx, bad, req, UnsignedPayload, "s3", testRegion, now); err != nil {
		t.Fatal(err)
	}
	_, err := v.Authenticate(wire(t, req))
	e := wantCode(t, err, ErrCodeSignatureDoesNotMatch)
	if e.Status != http.StatusForbidden {
		t.Fatalf("status %d", e.Status)
	}
}

func TestAWSSDKSignerPresign(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	s := awsv4.NewSigner(func(o *awsv4.SignerOptions) { o.DisableURIPathEscaping = true })
	creds := aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecret}
	ctx := context.Background()

	for _, key := range oddKeys {
		q := url.Values{}
		q.Set("response-content-disposition", `attachment; filename="a b.png"`)
		q.Set("X-Amz-Expires", "3600")
		req := sdkRequest(t, "GET", "media.example.org", key, q.Encode(), nil)
		u, hdr, err := s.PresignHTTP(ctx, creds, req, UnsignedPayload, "s3", testRegion, now)
		if err != nil {
			t.Fatal(err)
		}
		get, err := http.NewRequest("GET", u, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, vs := range hdr {
			if k != "Host" {
				get.Header[k] = vs
			}
		}
		r := wire(t, get)
		res, err := testVerifier(func() time.Time { return now.Add(59 * time.Minute) }).Authenticate(r)
		if err != nil {
			t.Fatalf("%s: %v\n%s", key, err, u)
		}
		if !res.Presigned || res.AccessKey != testAccessKey {
			t.Fatalf("result %+v", res)
		}
		_, err = testVerifier(func() time.Time { return now.Add(61 * time.Minute) }).Authenticate(wire(t, get))
		wantCode(t, err, ErrCodeAccessDenied)
	}

	// A presigned PUT with a hoisted x-amz-acl header and a body.
	req := sdkRequest(t, "PUT", "127.0.0.1:9000", "/bucket/up.bin", "X-Amz-Expires=600", []byte("payload"))
	req.Header.Set("X-Amz-Acl", "public-read")
	u, hdr, err := s.PresignHTTP(ctx, creds, req, UnsignedPayload, "s3", testRegion, now)
	if err != nil {
		t.Fatal(err)
	}
	put, _ := http.NewRequest("PUT", u, strings.NewReader("payload"))
	for k, vs := range hdr {
		if k != "Host" {
			put.Header[k] = vs
		}
	}
	res, err := testVerifier(func() time.Time { return now }).Authenticate(wire(t, put))
	if err != nil {
		t.Fatalf("presigned put: %v\n%s", err, u)
	}
	if b, err := readAll(t, res); err != nil || string(b) != "payload" {
		t.Fatalf("body %q %v", b, err)
	}

	// Longer than a week.
	req = sdkRequest(t, "GET", "127.0.0.1:9000", "/bucket/k", "X-Amz-Expires=604801", nil)
	u, _, err = s.PresignHTTP(ctx, creds, req, UnsignedPayload, "s3", testRegion, now)
	if err != nil {
		t.Fatal(err)
	}
	get, _ := http.NewRequest("GET", u, nil)
	_, err = testVerifier(func() time.Time { return now }).Authenticate(wire(t, get))
	wantCode(t, err, ErrCodeAuthorizationQueryParametersError)
}

func TestMinioSignV4(t *testing.T) {
	v := testVerifier(nil)
	for _, key := range oddKeys {
		body := []byte("minio body for " + key)
		req := sdkRequest(t, "PUT", "127.0.0.1:9000", key, "uploadId=abc&partNumber=3", body)
		req.Header.Set("X-Amz-Content-Sha256", sha256Hex(body))
		req.Header.Set("X-Amz-Meta-Tag", "a  b")
		req.Header.Set("User-Agent", "MinIO (test)")
		req = signer.SignV4(*req, testAccessKey, testSecret, "", testRegion)
		res, err := v.Authenticate(wire(t, req))
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		if got, err := readAll(t, res); err != nil || !bytes.Equal(got, body) {
			t.Fatalf("body %q %v", got, err)
		}
	}
	// Virtual-host style: the bucket is in the Host header.
	req := sdkRequest(t, "GET", "photos.s3.example.org:8443", "/2026/cat.jpg", "", nil)
	req.Header.Set("X-Amz-Content-Sha256", emptySHA256)
	req = signer.SignV4(*req, testAccessKey, testSecret, "", testRegion)
	if _, err := v.Authenticate(wire(t, req)); err != nil {
		t.Fatalf("virtual host: %v", err)
	}
	// The same signature presented for another host fails.
	r := wire(t, req)
	r.Host = "videos.s3.example.org:8443"
	_, err := v.Authenticate(r)
	wantCode(t, err, ErrCodeSignatureDoesNotMatch)
}

func TestMinioPreSignV4(t *testing.T) {
	v := testVerifier(nil)
	for _, key := range oddKeys {
		q := url.Values{}
		q.Set("response-content-disposition", `inline; filename="x y.txt"`)
		req := sdkRequest(t, "GET", "127.0.0.1:9000", key, q.Encode(), nil)
		req = signer.PreSignV4(*req, testAccessKey, testSecret, "", testRegion, 600)
		res, err := v.Authenticate(wire(t, req))
		if err != nil {
			t.Fatalf("%s: %v (%s)", key, err, req.URL)
		}
		if !res.Presigned {
			t.Fatal("not presigned")
		}
	}
	req := sdkRequest(t, "GET", "127.0.0.1:9000", "/b/k", "", nil)
	req = signer.PreSignV4(*req, testAccessKey, testSecret, "", testRegion, 7*24*3600+1)
	_, err := v.Authenticate(wire(t, req))
	wantCode(t, err, ErrCodeAuthorizationQueryParametersError)
}

// sha256Hasher adapts a hash.Hash to the hasher minio-go's streaming
// signer takes.
type sha256Hasher struct{ hash.Hash }

func (sha256Hasher) Close() {}

func testPayload(n int) []byte {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

func checksumOf(alg string, b []byte) string {
	h, _ := NewChecksumHash(alg)
	h.Write(b)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

func TestMinioStreamingSignV4(t *testing.T) {
	v := testVerifier(nil)
	for _, n := range []int{0, 1, 65536, 65537, 200000} {
		body := testPayload(n)
		req := sdkRequest(t, "PUT", "127.0.0.1:9000", "/bucket/stream.bin", "", body)
		req = signer.StreamingSignV4(req, testAccessKey, testSecret, "", testRegion, int64(n), time.Now().UTC(), sha256Hasher{sha256.New()})
		r := wire(t, req)
		res, err := v.Authenticate(r)
		if err != nil {
			t.Fatalf("%d: %v", n, err)
		}
		if res.ContentLength != int64(n) || res.PayloadMode != StreamingPayload {
			t.Fatalf("result %+v", res)
		}
		got, err := readAll(t, res)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("%d: body %d bytes, %v", n, len(got), err)
		}
	}
}

func TestMinioStreamingSignV4Trailer(t *testing.T) {
	v := testVerifier(nil)
	for _, alg := range ChecksumAlgorithms() {
		body := testPayload(150000)
		req := sdkRequest(t, "PUT", "127.0.0.1:9000", "/bucket/stream.bin", "", body)
		req.Trailer = http.Header{}
		req.Trailer.Set(ChecksumHeader(alg), checksumOf(alg, body))
		req = signer.StreamingSignV4(req, testAccessKey, testSecret, "", testRegion, int64(len(body)), time.Now().UTC(), sha256Hasher{sha256.New()})
		res, err := v.Authenticate(wire(t, req))
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		got, err := readAll(t, res)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("%s: body %d bytes, %v", alg, len(got), err)
		}
		if c := res.Checksums(); c[alg] != checksumOf(alg, body) {
			t.Fatalf("%s: checksums %v", alg, c)
		}

		// A wrong checksum in a correctly signed trailer.
		req = sdkRequest(t, "PUT", "127.0.0.1:9000", "/bucket/stream.bin", "", body)
		req.Trailer = http.Header{}
		req.Trailer.Set(ChecksumHeader(alg), checksumOf(alg, []byte("something else")))
		req = signer.StreamingSignV4(req, testAccessKey, testSecret, "", testRegion, int64(len(body)), time.Now().UTC(), sha256Hasher{sha256.New()})
		res, err = v.Authenticate(wire(t, req))
		if err != nil {
			t.Fatal(err)
		}
		_, err = readAll(t, res)
		wantCode(t, err, ErrCodeBadDigest)
	}
}

func TestMinioUnsignedTrailer(t *testing.T) {
	v := testVerifier(nil)
	for _, n := range []int{1, 10, 65536, 200001} {
		body := testPayload(n)
		trailer := http.Header{}
		trailer.Set("X-Amz-Checksum-Crc32c", checksumOf(ChecksumCRC32C, body))
		// Signed request, unsigned payload with a trailing checksum.
		req := sdkRequest(t, "PUT", "127.0.0.1:9000", "/bucket/us.bin", "", body)
		req.Header.Set("X-Amz-Content-Sha256", StreamingUnsignedTrailer)
		req = signer.SignV4Trailer(*req, testAccessKey, testSecret, "", testRegion, trailer)
		res, err := v.Authenticate(wire(t, req))
		if err != nil {
			t.Fatalf("%d: %v", n, err)
		}
		got, err := readAll(t, res)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("%d: body %d bytes, %v", n, len(got), err)
		}
		if res.Checksums()[ChecksumCRC32C] != checksumOf(ChecksumCRC32C, body) {
			t.Fatalf("checksums %v", res.Checksums())
		}

		// Anonymous unsigned trailer (minio-go's UnsignedTrailer).
		req = sdkRequest(t, "PUT", "127.0.0.1:9000", "/bucket/us.bin", "", body)
		req.Header.Set("X-Amz-Content-Sha256", StreamingUnsignedTrailer)
		req = signer.UnsignedTrailer(*req, trailer)
		res, err = v.Authenticate(wire(t, req))
		if err != nil {
			t.Fatalf("anonymous %d: %v", n, err)
		}
		if !res.Anonymous {
			t.Fatal("not anonymous")
		}
		if got, err := readAll(t, res); err != nil || !bytes.Equal(got, body) {
			t.Fatalf("anonymous %d: body %d bytes, %v", n, len(got), err)
		}
	}

	// A wrong trailing checksum.
	body := testPayload(1000)
	trailer := http.Header{}
	trailer.Set("X-Amz-Checksum-Crc32", checksumOf(ChecksumCRC32, body[1:]))
	req := sdkRequest(t, "PUT", "127.0.0.1:9000", "/bucket/us.bin", "", body)
	req.Header.Set("X-Amz-Content-Sha256", StreamingUnsignedTrailer)
	req = signer.SignV4Trailer(*req, testAccessKey, testSecret, "", testRegion, trailer)
	res, err := v.Authenticate(wire(t, req))
	if err != nil {
		t.Fatal(err)
	}
	_, err = readAll(t, res)
	wantCode(t, err, ErrCodeBadDigest)
}

// TestPresignWithPayloadHashInQuery covers presigned URLs that carry
// X-Amz-Content-Sha256 in the query, as the JavaScript SDK v3 writes them
// (UNSIGNED-PAYLOAD), and with a hex digest the body must then match.
func TestPresignWithPayloadHashInQuery(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	v := testVerifier(func() time.Time { return now })
	body := []byte("presigned body")
	for _, hash := range []string{UnsignedPayload, sha256Hex(body)} {
		for _, sent := range [][]byte{body, []byte("presigned BODY")} { // same length: Content-Length is signed
			req := sdkRequest(t, "PUT", "127.0.0.1:9000", "/b/k", "X-Amz-Content-Sha256="+hash+"&X-Amz-Expires=60", body)
			s := awsv4.NewSigner(func(o *awsv4.SignerOptions) { o.DisableURIPathEscaping = true })
			u, _, err := s.PresignHTTP(context.Background(), aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecret},
				req, hash, "s3", testRegion, now)
			if err != nil {
				t.Fatal(err)
			}
			put, _ := http.NewRequest("PUT", u, bytes.NewReader(sent))
			res, err := v.Authenticate(wire(t, put))
			if err != nil {
				t.Fatalf("%s: %v", hash, err)
			}
			got, err := readAll(t, res)
			switch {
			case hash != UnsignedPayload && !bytes.Equal(sent, body):
				wantCode(t, err, ErrCodeXAmzContentSHA256Mismatch)
			case err != nil || !bytes.Equal(got, sent):
				t.Fatalf("%s: %q %v", hash, got, err)
			}
		}
	}
}
