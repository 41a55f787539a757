package gateway_test

import (
	"bytes"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestCopySmallAndEmpty: copies of an empty object and of a small one by
// version id (whose bytes are inline in the metadata, and which a copy
// reads none or all of) succeed and read back; with the parts loaded for
// a read, the check that the source did not change meanwhile must not
// mistake "no part needed" for "another version".
func TestCopySmallAndEmpty(t *testing.T) {
	g := startGateway(t)
	c := g.client(0, true)
	b := aws.String("copies")
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}))
	must[*s3.PutBucketVersioningOutput](t)(c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: b,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}))
	must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("empty"), Body: bytes.NewReader(nil)}))
	must[*s3.CopyObjectOutput](t)(c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String("empty2"), CopySource: aws.String("copies/empty")}))
	got := must[*s3.GetObjectOutput](t)(c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("empty2")}))
	mustEqual(t, "copy of an empty object", readAll(t, got.Body), []byte{})

	small := []byte("small body")
	put := must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("foo?bar"), Body: bytes.NewReader(small)}))
	must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("foo?bar"), Body: bytes.NewReader([]byte("newer"))}))
	must[*s3.CopyObjectOutput](t)(c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String("bar&foo"),
		CopySource: aws.String("copies/foo%3Fbar?versionId=" + aws.ToString(put.VersionId))}))
	got = must[*s3.GetObjectOutput](t)(c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("bar&foo")}))
	mustEqual(t, "copy of an older version", readAll(t, got.Body), small)
	// A range of it through UploadPartCopy.
	up := must[*s3.CreateMultipartUploadOutput](t)(c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("pc")}))
	pc := must[*s3.UploadPartCopyOutput](t)(c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: b, Key: aws.String("pc"), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), CopySource: aws.String("copies/foo%3Fbar?versionId=" + aws.ToString(put.VersionId)), CopySourceRange: aws.String("bytes=2-5")}))
	must[*s3.CompleteMultipartUploadOutput](t)(c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String("pc"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: pc.CopyPartResult.ETag}}}}))
	got = must[*s3.GetObjectOutput](t)(c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("pc")}))
	mustEqual(t, "part copied from a range", readAll(t, got.Body), small[2:6])
}
