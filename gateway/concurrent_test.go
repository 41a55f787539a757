package gateway_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestOverwriteWhileReading: a GET that started before an overwrite keeps
// reading the old bytes to the end, across parts opened after the
// overwrite; the old data is deleted once that reader is done.
func TestOverwriteWhileReading(t *testing.T) {
	g := startGateway(t)
	c := g.client(0, true)
	b, k := aws.String("race"), aws.String("obj")
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}))
	old := randBytes(3 * 5 << 20)
	up := must[*s3.CreateMultipartUploadOutput](t)(c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: k}))
	var parts []types.CompletedPart
	for i := int32(0); i < 3; i++ {
		p := must[*s3.UploadPartOutput](t)(c.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: k, UploadId: up.UploadId,
			PartNumber: aws.Int32(i + 1), Body: bytes.NewReader(old[int(i)*5<<20 : int(i+1)*5<<20])}))
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(i + 1), ETag: p.ETag})
	}
	must[*s3.CompleteMultipartUploadOutput](t)(c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: k, UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}))

	get := must[*s3.GetObjectOutput](t)(c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: k}))
	head := make([]byte, 4096)
	if _, err := io.ReadFull(get.Body, head); err != nil {
		t.Fatal(err)
	}
	// Overwrite (frees the three old part blobs) and delete a copy, while
	// the GET is still open.
	must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: k, Body: bytes.NewReader([]byte("new"))}))
	rest, err := io.ReadAll(get.Body)
	get.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "old object read across an overwrite", append(head, rest...), old)
	if n, _ := g.blobFiles(); n != 1 {
		t.Fatalf("%d blobs after the reader finished, want 1 (the new object)", n)
	}
}
