package gateway_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/datdot/datdot/gateway"
	"github.com/datdot/datdot/gateway/config"
	s3srv "github.com/datdot/datdot/gateway/s3"
	"github.com/datdot/datdot/gateway/store"
	"github.com/datdot/datdot/gateway/store/local"
)

// startGatewayOpts starts a gateway with Options over a local store and
// returns the S3 server for its upkeep.
func startGatewayOpts(t *testing.T, opts gateway.Options) (*testGateway, *s3srv.Server) {
	t.Helper()
	dir := t.TempDir()
	meta, blobs, err := local.Open(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Config{Region: "us-east-1", Keys: testKeys, Domains: []string{testDomain}}
	h, srv := gateway.NewHandlerWith(cfg, opts, meta, blobs, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ts := httptest.NewServer(h)
	t.Cleanup(func() { ts.Close(); meta.Close() })
	return &testGateway{t: t, srv: ts, url: ts.URL, dir: dir, meta: meta}, srv
}

// TestAccountLimits is issue 9 #7: buckets, stored bytes and open uploads
// per account are capped with S3's error codes; the other account is not
// affected, and deleting data makes room again.
func TestAccountLimits(t *testing.T) {
	g, _ := startGatewayOpts(t, gateway.Options{Limits: s3srv.Limits{Buckets: 2, Bytes: 1 << 20, Uploads: 2}})
	c, alt := g.client(0, true), g.client(2, true)
	for _, b := range []string{"one", "two"} {
		must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}))
	}
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("three")})
	wantCode(t, err, "TooManyBuckets")
	must[*s3.CreateBucketOutput](t)(alt.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("alts")}))

	// Bytes: 600 KiB in each bucket is over 1 MiB for the account.
	put := func(c *s3.Client, b, k string, n int) error {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(b), Key: aws.String(k), Body: bytes.NewReader(randBytes(n))})
		return err
	}
	if err := put(c, "one", "a", 600<<10); err != nil {
		t.Fatal(err)
	}
	wantCode(t, put(c, "two", "b", 600<<10), "QuotaExceeded")
	if err := put(alt, "alts", "b", 600<<10); err != nil {
		t.Fatalf("other account: %v", err)
	}
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("two"), Key: aws.String("copy"), CopySource: aws.String("one/a")})
	wantCode(t, err, "QuotaExceeded")
	must[*s3.DeleteObjectOutput](t)(c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("one"), Key: aws.String("a")}))
	if err := put(c, "two", "b", 600<<10); err != nil {
		t.Fatalf("after a delete made room: %v", err)
	}

	// Uploads: two in progress, the third refused; aborting one frees a slot.
	var ids []*string
	for range 2 {
		up := must[*s3.CreateMultipartUploadOutput](t)(c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("one"), Key: aws.String("m")}))
		ids = append(ids, up.UploadId)
	}
	_, err = c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("two"), Key: aws.String("m")})
	wantCode(t, err, "QuotaExceeded")
	must[*s3.AbortMultipartUploadOutput](t)(c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("one"), Key: aws.String("m"), UploadId: ids[0]}))
	must[*s3.CreateMultipartUploadOutput](t)(c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("two"), Key: aws.String("m")}))
	// Parts count as bytes: 600 KiB stored + 600 KiB part is over.
	_, err = c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("one"), Key: aws.String("m"), UploadId: ids[1], PartNumber: aws.Int32(1), Body: bytes.NewReader(randBytes(600 << 10))})
	wantCode(t, err, "QuotaExceeded")
}

// TestUploadExpiry is issue 9 #7: an incomplete multipart upload older
// than the expiry is aborted by the upkeep and its parts' blobs are freed;
// a recent one stays.
func TestUploadExpiry(t *testing.T) {
	g, srv := startGatewayOpts(t, gateway.Options{UploadExpiry: time.Hour})
	c := g.client(0, true)
	b := aws.String("exp")
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}))
	var ids []*string
	for _, k := range []string{"old1", "old2", "old3"} {
		up := must[*s3.CreateMultipartUploadOutput](t)(c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String(k)}))
		must[*s3.UploadPartOutput](t)(c.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: aws.String(k), UploadId: up.UploadId, PartNumber: aws.Int32(1), Body: bytes.NewReader(randBytes(1000))}))
		ids = append(ids, up.UploadId)
	}
	// Nothing is old yet.
	if n, _, err := srv.ExpireUploads(ctx, time.Now(), 100); err != nil || n != 0 {
		t.Fatalf("fresh uploads: aborted %d, %v", n, err)
	}
	// Two hours later, with a budget of 2 per pass: two passes abort all.
	later := time.Now().Add(2 * time.Hour)
	total := 0
	for pass := 0; pass < 3; pass++ {
		n, _, err := srv.ExpireUploads(ctx, later, 2)
		if err != nil {
			t.Fatal(err)
		}
		total += n
	}
	if total != 3 {
		t.Fatalf("aborted %d uploads, want 3", total)
	}
	ups := must[*s3.ListMultipartUploadsOutput](t)(c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: b}))
	if len(ups.Uploads) != 0 {
		t.Fatalf("%d uploads left", len(ups.Uploads))
	}
	_, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: aws.String("old1"), UploadId: ids[0], PartNumber: aws.Int32(2), Body: bytes.NewReader([]byte("x"))})
	wantCode(t, err, "NoSuchUpload")
	if n, _ := g.blobFiles(); n != 0 {
		t.Fatalf("%d blob files left after the parts' uploads were aborted", n)
	}
}

// TestUploadPartCopyCap is issue 9 #7: UploadPartCopy of more than 5 GiB
// is refused before anything is read (it was uncapped).
func TestUploadPartCopyCap(t *testing.T) {
	g := startGateway(t)
	c := g.client(0, true)
	b := aws.String("cap")
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}))
	must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("small"), Body: bytes.NewReader([]byte("x"))}))
	// A 6 GiB object made of one part 6,144 times over: metadata only.
	src, err := g.meta.GetObject(ctx, "cap", "small", "")
	if err != nil {
		t.Fatal(err)
	}
	big := store.Object{Key: "big", Size: 6 << 30, ETag: "e-6144", Multipart: true}
	for i := range 6144 {
		p := src.Parts[0]
		p.Number, p.Size = i+1, 1<<20
		big.Parts = append(big.Parts, p)
	}
	if _, _, err := g.meta.PutObject(ctx, "cap", big, nil); err != nil {
		t.Fatal(err)
	}
	up := must[*s3.CreateMultipartUploadOutput](t)(c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("dst")}))
	_, err = c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: b, Key: aws.String("dst"), UploadId: up.UploadId, PartNumber: aws.Int32(1), CopySource: aws.String("cap/big")})
	wantCode(t, err, "InvalidRequest")
	_, err = c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: b, Key: aws.String("dst"), UploadId: up.UploadId, PartNumber: aws.Int32(1), CopySource: aws.String("cap/big"),
		CopySourceRange: aws.String("bytes=0-5368709120")})
	wantCode(t, err, "InvalidRequest")
}
