package gateway_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func tagMap(ts []types.Tag) map[string]string {
	m := map[string]string{}
	for _, t := range ts {
		m[*t.Key] = *t.Value
	}
	return m
}

// TestTagging (issue 16): object tags set by x-amz-tagging on PUT,
// multipart and copy (COPY and REPLACE directives), replaced and deleted
// with ?tagging per version, counted in x-amz-tagging-count; S3's limits
// answered with InvalidTag; bucket tags put, read and deleted
// (NoSuchTagSet when none).
func TestTagging(t *testing.T) {
	g := startGateway(t)
	c := g.client(0, true)
	b := aws.String("tags")
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}))
	must[*s3.PutBucketVersioningOutput](t)(c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: b,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}))

	v1 := must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("k"), Body: bytes.NewReader([]byte("one")),
		Tagging: aws.String("team=media&kind=avatar%20image")}))
	got := must[*s3.GetObjectTaggingOutput](t)(c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: b, Key: aws.String("k")}))
	if m := tagMap(got.TagSet); len(m) != 2 || m["team"] != "media" || m["kind"] != "avatar image" {
		t.Fatalf("tags from x-amz-tagging: %v", m)
	}
	obj := must[*s3.GetObjectOutput](t)(c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("k")}))
	obj.Body.Close()
	if obj.TagCount == nil || *obj.TagCount != 2 {
		t.Fatalf("x-amz-tagging-count: %v", obj.TagCount)
	}
	// A second version with other tags; tagging is per version.
	must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("k"), Body: bytes.NewReader([]byte("two"))}))
	must[*s3.PutObjectTaggingOutput](t)(c.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: b, Key: aws.String("k"),
		Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("new"), Value: aws.String("")}}}}))
	got = must[*s3.GetObjectTaggingOutput](t)(c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: b, Key: aws.String("k"), VersionId: v1.VersionId}))
	if m := tagMap(got.TagSet); len(m) != 2 {
		t.Fatalf("old version's tags changed: %v", m)
	}
	got = must[*s3.GetObjectTaggingOutput](t)(c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: b, Key: aws.String("k")}))
	if m := tagMap(got.TagSet); len(m) != 1 || m["new"] != "" {
		t.Fatalf("latest tags: %v", m)
	}
	must[*s3.DeleteObjectTaggingOutput](t)(c.DeleteObjectTagging(ctx, &s3.DeleteObjectTaggingInput{Bucket: b, Key: aws.String("k"), VersionId: v1.VersionId}))
	got = must[*s3.GetObjectTaggingOutput](t)(c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: b, Key: aws.String("k"), VersionId: v1.VersionId}))
	if len(got.TagSet) != 0 {
		t.Fatalf("tags after delete: %v", tagMap(got.TagSet))
	}

	// Copy: COPY keeps the source's tags, REPLACE takes the header's.
	must[*s3.CopyObjectOutput](t)(c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String("c1"), CopySource: aws.String("tags/k")}))
	got = must[*s3.GetObjectTaggingOutput](t)(c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: b, Key: aws.String("c1")}))
	if m := tagMap(got.TagSet); len(m) != 1 || m["new"] != "" {
		t.Fatalf("copied tags: %v", m)
	}
	must[*s3.CopyObjectOutput](t)(c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String("c2"), CopySource: aws.String("tags/k"),
		TaggingDirective: types.TaggingDirectiveReplace, Tagging: aws.String("a=1")}))
	got = must[*s3.GetObjectTaggingOutput](t)(c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: b, Key: aws.String("c2")}))
	if m := tagMap(got.TagSet); len(m) != 1 || m["a"] != "1" {
		t.Fatalf("replaced tags: %v", m)
	}

	// Multipart: tags given at creation land on the object.
	up := must[*s3.CreateMultipartUploadOutput](t)(c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("mp"), Tagging: aws.String("x=y")}))
	p := must[*s3.UploadPartOutput](t)(c.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: aws.String("mp"), UploadId: up.UploadId, PartNumber: aws.Int32(1), Body: bytes.NewReader([]byte("data"))}))
	must[*s3.CompleteMultipartUploadOutput](t)(c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String("mp"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{ETag: p.ETag, PartNumber: aws.Int32(1)}}}}))
	got = must[*s3.GetObjectTaggingOutput](t)(c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: b, Key: aws.String("mp")}))
	if m := tagMap(got.TagSet); m["x"] != "y" {
		t.Fatalf("multipart tags: %v", m)
	}

	// Limits.
	var eleven []types.Tag
	for i := range 11 {
		eleven = append(eleven, types.Tag{Key: aws.String(fmt.Sprint("k", i)), Value: aws.String("v")})
	}
	long := string(bytes.Repeat([]byte("x"), 129))
	for name, set := range map[string][]types.Tag{
		"11 tags":     eleven,
		"long key":    {{Key: aws.String(long), Value: aws.String("v")}},
		"long value":  {{Key: aws.String("k"), Value: aws.String(long + long)}},
		"aws: prefix": {{Key: aws.String("aws:x"), Value: aws.String("v")}},
		"duplicate":   {{Key: aws.String("k"), Value: aws.String("1")}, {Key: aws.String("k"), Value: aws.String("2")}},
	} {
		_, err := c.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: b, Key: aws.String("k"), Tagging: &types.Tagging{TagSet: set}})
		if apiCode(err) != "InvalidTag" {
			t.Fatalf("%s: %v", name, err)
		}
	}
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("bad"), Body: bytes.NewReader(nil), Tagging: aws.String("aws:x=1")})
	wantCode(t, err, "InvalidTag")

	// Bucket tags.
	_, err = c.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: b})
	wantCode(t, err, "NoSuchTagSet")
	must[*s3.PutBucketTaggingOutput](t)(c.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: b,
		Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("cost"), Value: aws.String("fedi")}}}}))
	bt := must[*s3.GetBucketTaggingOutput](t)(c.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: b}))
	if m := tagMap(bt.TagSet); m["cost"] != "fedi" {
		t.Fatalf("bucket tags: %v", m)
	}
	_, err = g.client(2, true).GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: b})
	wantCode(t, err, "AccessDenied")
	must[*s3.DeleteBucketTaggingOutput](t)(c.DeleteBucketTagging(ctx, &s3.DeleteBucketTaggingInput{Bucket: b}))
	_, err = c.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: b})
	wantCode(t, err, "NoSuchTagSet")
}
