package gateway_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/datdot/datdot/gateway/store"
)

// TestListScanBound is issue 9 #9: a versioned bucket whose keys are
// mostly delete markers is listed in transactions that each read a bounded
// number of records (it was one unbounded read transaction), and the
// listing still returns every live key, page by page.
func TestListScanBound(t *testing.T) {
	g := startGateway(t)
	g.meta.ScanBound = 4
	c := g.client(0, true)
	b := aws.String("markers")
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}))
	must[*s3.PutBucketVersioningOutput](t)(c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: b,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}))
	live := map[string]bool{}
	for i := range 40 {
		k := fmt.Sprintf("k%03d", i)
		must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String(k), Body: bytes.NewReader([]byte("x"))}))
		if i%13 == 5 {
			live[k] = true
			continue
		}
		must[*s3.DeleteObjectOutput](t)(c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String(k)}))
	}
	// The store stops after 4 records.
	_, err := g.meta.ListObjects(ctx, "markers", store.ListQuery{Limit: 1000})
	var sl *store.ScanLimited
	if !errors.As(err, &sl) {
		t.Fatalf("store listing of 40 keys with bound 4: %v", err)
	}
	for _, max := range []int32{1, 2, 1000} {
		got := map[string]bool{}
		p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: b, MaxKeys: aws.Int32(max)})
		for p.HasMorePages() {
			page := must[*s3.ListObjectsV2Output](t)(p.NextPage(ctx))
			for _, o := range page.Contents {
				got[*o.Key] = true
			}
		}
		if len(got) != len(live) {
			t.Fatalf("max-keys %d: listed %v, want %v", max, got, live)
		}
		for k := range live {
			if !got[k] {
				t.Fatalf("max-keys %d: %s missing", max, k)
			}
		}
	}
}
