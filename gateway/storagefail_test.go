package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/datdot/datdot/gateway/store"
)

// fullDisk is a BlobStore whose writes fail with ENOSPC after limit bytes,
// as a file write on a full disk does.
type fullDisk struct {
	store.BlobStore
	limit int64
}

// enospcWriter fails with ENOSPC once left bytes were written.
type enospcWriter struct {
	store.BlobWriter
	left int64
}

func (e *enospcWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > e.left {
		n, _ := e.BlobWriter.Write(p[:e.left])
		e.left = 0
		return n, &os.PathError{Op: "write", Path: "tmp/put-1", Err: syscall.ENOSPC}
	}
	n, err := e.BlobWriter.Write(p)
	e.left -= int64(n)
	return n, err
}

func (f fullDisk) Create(ctx context.Context) (store.BlobWriter, error) {
	w, err := f.BlobStore.Create(ctx)
	if err != nil {
		return nil, err
	}
	return &enospcWriter{BlobWriter: w, left: f.limit}, nil
}

// TestDiskFull: a PUT or UploadPart that runs out of space halfway gets a
// clear 507 InsufficientStorage and leaves no object, part or file behind.
func TestDiskFull(t *testing.T) {
	g := startGatewayWith(t, func(b store.BlobStore) store.BlobStore { return fullDisk{b, 64 << 10} }, 0)
	c := g.client(0, true)
	b, k := aws.String("full"), aws.String("obj")
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}))

	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: k, Body: bytes.NewReader(randBytes(1 << 20))})
	wantCode(t, err, "InsufficientStorage")
	_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: k})
	wantCode(t, err, "NotFound")

	up := must[*s3.CreateMultipartUploadOutput](t)(c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: k}))
	_, err = c.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: k, UploadId: up.UploadId, PartNumber: aws.Int32(1),
		Body: bytes.NewReader(randBytes(1 << 20))})
	wantCode(t, err, "InsufficientStorage")
	parts := must[*s3.ListPartsOutput](t)(c.ListParts(ctx, &s3.ListPartsInput{Bucket: b, Key: k, UploadId: up.UploadId}))
	if len(parts.Parts) != 0 {
		t.Fatalf("%d parts listed after a failed UploadPart", len(parts.Parts))
	}
	if blobs, tmp := g.blobFiles(); blobs != 0 || tmp != 0 {
		t.Fatalf("%d blobs and %d temp files left after failed writes", blobs, tmp)
	}
	// Small objects still fit.
	must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: k, Body: bytes.NewReader([]byte("small"))}))
}

// blobPaths returns the data files of the store.
func (g *testGateway) blobPaths() []string {
	var out []string
	filepath.WalkDir(filepath.Join(g.dir, "blobs"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// TestLostData: when an object's stored data is missing or shorter than its
// metadata says, GET fails with a 500 before sending a 200 status and a
// body that breaks off, and CopyObject fails with a server error instead of
// blaming the client (IncompleteBody) or storing a short copy.
func TestLostData(t *testing.T) {
	g := startGateway(t)
	c := g.client(0, true)
	b := aws.String("lost")
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}))
	data := randBytes(256 << 10)
	must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("gone"), Body: bytes.NewReader(data)}))
	paths := g.blobPaths()
	if len(paths) != 1 {
		t.Fatalf("%d blobs", len(paths))
	}
	if err := os.Remove(paths[0]); err != nil {
		t.Fatal(err)
	}
	_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("gone")})
	wantCode(t, err, "InternalError")

	must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("short"), Body: bytes.NewReader(data)}))
	paths = g.blobPaths()
	if err := os.Truncate(paths[0], int64(len(data)/2)); err != nil {
		t.Fatal(err)
	}
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String("copy"), CopySource: aws.String(fmt.Sprintf("%s/short", *b))})
	wantCode(t, err, "InternalError")
	_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String("copy")})
	wantCode(t, err, "NotFound")
}
