package gateway_test

import (
	"bytes"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestOwnershipControls (issue 16): BucketOwnerEnforced set at creation
// (x-amz-object-ownership) or later turns ACLs off: public ACLs on PUT and
// ACL changes are refused with AccessControlListNotSupported, the bucket
// owner owns every object (GetObjectAcl says so; that ACL grants give
// nothing then is decide's table test in s3/); BucketOwnerPreferred gives the bucket owner objects written with
// bucket-owner-full-control; the setting reads back and can be deleted.
func TestOwnershipControls(t *testing.T) {
	g := startGateway(t)
	c, alt := g.client(0, true), g.client(2, true)
	b := aws.String("owned")
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b, ObjectOwnership: types.ObjectOwnershipBucketOwnerEnforced}))
	oc := must[*s3.GetBucketOwnershipControlsOutput](t)(c.GetBucketOwnershipControls(ctx, &s3.GetBucketOwnershipControlsInput{Bucket: b}))
	if oc.OwnershipControls.Rules[0].ObjectOwnership != types.ObjectOwnershipBucketOwnerEnforced {
		t.Fatalf("ownership: %v", oc.OwnershipControls.Rules[0].ObjectOwnership)
	}
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("k"), Body: bytes.NewReader([]byte("x")), ACL: types.ObjectCannedACLPublicRead})
	wantCode(t, err, "AccessControlListNotSupported")
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("k"), Body: bytes.NewReader([]byte("x")), ACL: types.ObjectCannedACLPrivate})
	wantCode(t, err, "AccessControlListNotSupported")
	must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("k"), Body: bytes.NewReader([]byte("x")), ACL: types.ObjectCannedACLBucketOwnerFullControl}))
	_, err = c.PutObjectAcl(ctx, &s3.PutObjectAclInput{Bucket: b, Key: aws.String("k"), ACL: types.ObjectCannedACLPublicRead})
	wantCode(t, err, "AccessControlListNotSupported")
	_, err = c.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: b, ACL: types.BucketCannedACLPublicReadWrite})
	wantCode(t, err, "AccessControlListNotSupported")

	// A bucket with a public-read-write ACL, then enforced: its ACL must
	// go first; once enforced the grant would give nothing anyway.
	b2 := aws.String("shared")
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b2, ACL: types.BucketCannedACLPublicReadWrite}))
	enforce := &s3.PutBucketOwnershipControlsInput{Bucket: b2, OwnershipControls: &types.OwnershipControls{Rules: []types.OwnershipControlsRule{{ObjectOwnership: types.ObjectOwnershipBucketOwnerEnforced}}}}
	_, err = c.PutBucketOwnershipControls(ctx, enforce)
	wantCode(t, err, "InvalidBucketAclWithObjectOwnership")
	// ObjectWriter: the other account writes (WRITE grant) and owns it.
	must[*s3.PutObjectOutput](t)(alt.PutObject(ctx, &s3.PutObjectInput{Bucket: b2, Key: aws.String("w"), Body: bytes.NewReader([]byte("x"))}))
	acl := must[*s3.GetObjectAclOutput](t)(alt.GetObjectAcl(ctx, &s3.GetObjectAclInput{Bucket: b2, Key: aws.String("w")}))
	if *acl.Owner.ID != "alt-user" {
		t.Fatalf("ObjectWriter owner: %s", *acl.Owner.ID)
	}
	// BucketOwnerPreferred + bucket-owner-full-control: the bucket owner.
	must[*s3.PutBucketOwnershipControlsOutput](t)(c.PutBucketOwnershipControls(ctx, &s3.PutBucketOwnershipControlsInput{Bucket: b2,
		OwnershipControls: &types.OwnershipControls{Rules: []types.OwnershipControlsRule{{ObjectOwnership: types.ObjectOwnershipBucketOwnerPreferred}}}}))
	must[*s3.PutObjectOutput](t)(alt.PutObject(ctx, &s3.PutObjectInput{Bucket: b2, Key: aws.String("p"), Body: bytes.NewReader([]byte("x")), ACL: types.ObjectCannedACLBucketOwnerFullControl}))
	acl = must[*s3.GetObjectAclOutput](t)(c.GetObjectAcl(ctx, &s3.GetObjectAclInput{Bucket: b2, Key: aws.String("p")}))
	if *acl.Owner.ID != "main-user" {
		t.Fatalf("BucketOwnerPreferred owner: %s", *acl.Owner.ID)
	}
	// Private ACL, then enforce.
	must[*s3.PutBucketAclOutput](t)(c.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: b2, ACL: types.BucketCannedACLPrivate}))
	must[*s3.PutBucketOwnershipControlsOutput](t)(c.PutBucketOwnershipControls(ctx, enforce))
	_, err = alt.PutObject(ctx, &s3.PutObjectInput{Bucket: b2, Key: aws.String("w2"), Body: bytes.NewReader([]byte("x"))})
	wantCode(t, err, "AccessDenied")
	acl = must[*s3.GetObjectAclOutput](t)(c.GetObjectAcl(ctx, &s3.GetObjectAclInput{Bucket: b2, Key: aws.String("w")}))
	if *acl.Owner.ID != "main-user" {
		t.Fatalf("enforced: object owner %s", *acl.Owner.ID)
	}
	must[*s3.DeleteBucketOwnershipControlsOutput](t)(c.DeleteBucketOwnershipControls(ctx, &s3.DeleteBucketOwnershipControlsInput{Bucket: b2}))
	_, err = c.GetBucketOwnershipControls(ctx, &s3.GetBucketOwnershipControlsInput{Bucket: b2})
	wantCode(t, err, "OwnershipControlsNotFoundError")
}
