package gateway_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
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
