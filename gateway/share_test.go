package gateway_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestCopySharesBytes: CopyObject and UploadPartCopy (of a range inside
// one source blob) reference the source's blob instead of writing a new
// one; the shared blob lives until its last reference is gone, and each
// copy reads back the right bytes.
func TestCopySharesBytes(t *testing.T) {
	g := startGateway(t)
	c := g.client(0, true)
	b := aws.String("share")
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}))
	data := randBytes(6 << 20)
	must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("src"), Body: bytes.NewReader(data)}))
	must[*s3.CopyObjectOutput](t)(c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String("copy"), CopySource: aws.String("share/src")}))
	up := must[*s3.CreateMultipartUploadOutput](t)(c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("mp")}))
	p1 := must[*s3.UploadPartCopyOutput](t)(c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: b, Key: aws.String("mp"), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), CopySource: aws.String("share/src"), CopySourceRange: aws.String("bytes=100-5242979")}))
	p2 := must[*s3.UploadPartCopyOutput](t)(c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: b, Key: aws.String("mp"), UploadId: up.UploadId,
		PartNumber: aws.Int32(2), CopySource: aws.String("share/src"), CopySourceRange: aws.String("bytes=7-99")}))
	if n, _ := g.blobFiles(); n != 1 {
		t.Fatalf("%d blobs after a copy and two part copies, want 1 (shared)", n)
	}
	must[*s3.CompleteMultipartUploadOutput](t)(c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String("mp"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{
			{PartNumber: aws.Int32(1), ETag: p1.CopyPartResult.ETag}, {PartNumber: aws.Int32(2), ETag: p2.CopyPartResult.ETag}}}}))
	must[*s3.DeleteObjectOutput](t)(c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String("src")}))
	read := func(key string) []byte {
		t.Helper()
		out := must[*s3.GetObjectOutput](t)(c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String(key)}))
		defer out.Body.Close()
		got, err := io.ReadAll(out.Body)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	mustEqual(t, "copy after the source was deleted", read("copy"), data)
	mustEqual(t, "multipart object of two part copies", read("mp"), append(append([]byte(nil), data[100:5242980]...), data[7:100]...))
	// A copy of a multipart object shares its parts' blobs too.
	must[*s3.CopyObjectOutput](t)(c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String("mpcopy"), CopySource: aws.String("share/mp")}))
	mustEqual(t, "copy of the multipart object", read("mpcopy"), read("mp"))
	if n, _ := g.blobFiles(); n != 1 {
		t.Fatalf("%d blobs, want 1", n)
	}
	for _, k := range []string{"copy", "mp", "mpcopy"} {
		must[*s3.DeleteObjectOutput](t)(c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String(k)}))
	}
	if n, tmp := g.blobFiles(); n != 0 || tmp != 0 {
		t.Fatalf("%d blobs and %d temp files after deleting every reference", n, tmp)
	}
}
