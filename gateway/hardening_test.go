package gateway_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/minio/minio-go/v7/pkg/signer"
)

// TestUnimplementedSubresources: a subresource the gateway does not
// implement answers 501 NotImplemented, never the object's bytes or a
// listing.
func TestUnimplementedSubresources(t *testing.T) {
	g := startGateway(t)
	c := g.client(0, true)
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("sub")}))
	const body = "object-bytes-that-must-not-leak"
	must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("sub"), Key: aws.String("k"), Body: strings.NewReader(body)}))
	for _, tc := range []struct{ method, path string }{
		{"GET", "/sub/k?legal-hold"}, {"GET", "/sub/k?retention"}, {"GET", "/sub/k?torrent"},
		{"POST", "/sub/k?restore"}, {"GET", "/sub/k?restore"}, {"POST", "/sub/k?select&select-type=2"},
		{"DELETE", "/sub/k?retention"}, {"PUT", "/sub/k?legal-hold"},
		{"GET", "/sub?analytics"}, {"GET", "/sub?inventory"}, {"GET", "/sub?metrics"},
		{"GET", "/sub?intelligent-tiering"}, {"PUT", "/sub?metrics&id=x"}, {"GET", "/sub?session"},
	} {
		code, resp := g.rawDo(t, tc.method, tc.path, nil, nil)
		if code != 501 || !strings.Contains(resp, "<Code>NotImplemented</Code>") || strings.Contains(resp, body) || strings.Contains(resp, "ListBucketResult") {
			t.Fatalf("%s %s: %d %s", tc.method, tc.path, code, resp)
		}
	}
	// The object is still there and still served by a plain GET.
	if code, resp := g.rawDo(t, "GET", "/sub/k", nil, nil); code != 200 || resp != body {
		t.Fatalf("plain GET: %d %q", code, resp)
	}
}

// TestSigV2RawPathOnly: a SigV2 presigned GET for key "a b" (path
// /b/a%20b) does not open key "a%20b" when the path is sent as /b/a%2520b,
// which decodes to the signed path.
func TestSigV2RawPathOnly(t *testing.T) {
	g := startGateway(t)
	c := g.client(0, true)
	b := aws.String("sigtwo")
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}))
	must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("a b"), Body: strings.NewReader("space")}))
	must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("a%20b"), Body: strings.NewReader("secret of a%20b")}))
	req, _ := http.NewRequest("GET", g.url+"/sigtwo/a%20b", nil)
	signed := signer.PreSignV2(*req, testKeys[0].AccessKey, testKeys[0].SecretKey, 600, false)
	get := func(u string) (int, string) {
		resp := must[*http.Response](t)(http.Get(u))
		defer resp.Body.Close()
		return resp.StatusCode, string(readAll(t, resp.Body))
	}
	if code, body := get(signed.URL.String()); code != 200 || body != "space" {
		t.Fatalf("presigned GET: %d %q", code, body)
	}
	tampered := *signed.URL
	tampered.RawPath, tampered.Path = "/sigtwo/a%2520b", "/sigtwo/a%20b"
	u := tampered.String()
	if !strings.Contains(u, "/sigtwo/a%2520b?") {
		t.Fatalf("test URL %s", u)
	}
	if code, body := get(u); code != 403 || !strings.Contains(body, "SignatureDoesNotMatch") {
		t.Fatalf("presigned GET of another key: %d %q", code, body)
	}
	// Other spellings of the same key are refused too (the signature covers
	// the path as sent).
	tampered.RawPath, tampered.Path = "/sigtwo/a+b", "/sigtwo/a+b"
	if code, _ := get(tampered.String()); code != 403 {
		t.Fatalf("presigned GET with a+b: %d", code)
	}
}
