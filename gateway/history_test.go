package gateway_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestHiddenHistoryInvisibleToS3: with the hidden history on, an
// unversioned bucket behaves for S3 clients exactly as without it:
// ListObjectVersions shows one null version per key and no delete
// markers, a deleted key is gone; the operator's restore brings back the
// overwritten and the deleted object through the same S3 API.
func TestHiddenHistoryInvisibleToS3(t *testing.T) {
	ctx := context.Background()
	g := startGateway(t)
	if err := g.meta.SetHistoryRetention(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	c := g.client(0, true)
	b := aws.String("hist")
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}); err != nil {
		t.Fatal(err)
	}
	put := func(k, body string) {
		t.Helper()
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String(k), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	get := func(k string) string {
		t.Helper()
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String(k)})
		if err != nil {
			return ""
		}
		defer out.Body.Close()
		data, _ := io.ReadAll(out.Body)
		return string(data)
	}
	put("a", "first")
	put("gone", "doomed")
	time.Sleep(2 * time.Millisecond)
	moment := time.Now()
	time.Sleep(2 * time.Millisecond)
	put("a", "second")
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String("gone")}); err != nil {
		t.Fatal(err)
	}
	lv, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: b})
	if err != nil {
		t.Fatal(err)
	}
	if len(lv.Versions) != 1 || len(lv.DeleteMarkers) != 0 || aws.ToString(lv.Versions[0].VersionId) != "null" || aws.ToString(lv.Versions[0].Key) != "a" {
		t.Fatalf("ListObjectVersions of an unversioned bucket shows hidden versions: %+v %+v", lv.Versions, lv.DeleteMarkers)
	}
	if got := get("gone"); got != "" {
		t.Fatalf("deleted object still reads %q", got)
	}
	if _, _, err := g.meta.RestoreAt(ctx, "hist", "", moment); err != nil {
		t.Fatal(err)
	}
	if a, gone := get("a"), get("gone"); a != "first" || gone != "doomed" {
		t.Fatalf("after restore: a=%q gone=%q", a, gone)
	}
	lv, _ = c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: b})
	if len(lv.Versions) != 2 || len(lv.DeleteMarkers) != 0 {
		t.Fatalf("after restore S3 sees %+v %+v", lv.Versions, lv.DeleteMarkers)
	}
}
