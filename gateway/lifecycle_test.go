package gateway_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/datdot/datdot/gateway"
)

// TestLifecycle (issue 16): a lifecycle configuration is validated, read
// back and deleted; the upkeep pass, with a small budget per pass so that
// it resumes mid-key, keeps the current version and the newest 2
// noncurrent versions of a key (NoncurrentVersionExpiration with
// NewerNoncurrentVersions), expires current versions under a prefix into
// delete markers, removes a delete marker left alone
// (ExpiredObjectDeleteMarker) and aborts old uploads under a prefix; objects
// outside the rules are untouched. Time is passed in, never waited for.
func TestLifecycle(t *testing.T) {
	g, srv := startGatewayOpts(t, gateway.Options{})
	c := g.client(0, true)
	b := aws.String("lifecycle")
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}))
	must[*s3.PutBucketVersioningOutput](t)(c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: b,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}))
	put := func(k string) {
		must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String(k), Body: bytes.NewReader([]byte(k))}))
	}
	for range 6 {
		put("backup/db")
	}
	put("tmp/x")
	put("keep/y")
	put("gone/z")
	must[*s3.DeleteObjectOutput](t)(c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String("gone/z")}))
	up := must[*s3.CreateMultipartUploadOutput](t)(c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("tmp/upload")}))

	_, err := c.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: b})
	wantCode(t, err, "NoSuchLifecycleConfiguration")
	// Invalid configurations.
	bad := []types.LifecycleRule{{ID: aws.String("r"), Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("")},
		Expiration: &types.LifecycleExpiration{Days: aws.Int32(0)}}}
	_, err = c.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: b, LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: bad}})
	wantCode(t, err, "InvalidArgument")
	dup := []types.LifecycleRule{
		{ID: aws.String("same"), Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("a")}, Expiration: &types.LifecycleExpiration{Days: aws.Int32(1)}},
		{ID: aws.String("same"), Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("b")}, Expiration: &types.LifecycleExpiration{Days: aws.Int32(1)}},
	}
	_, err = c.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: b, LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: dup}})
	wantCode(t, err, "InvalidArgument")

	rules := []types.LifecycleRule{
		{ID: aws.String("versions"), Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("backup/")},
			NoncurrentVersionExpiration: &types.NoncurrentVersionExpiration{NoncurrentDays: aws.Int32(1), NewerNoncurrentVersions: aws.Int32(2)}},
		{ID: aws.String("tmp"), Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("tmp/")},
			Expiration: &types.LifecycleExpiration{Days: aws.Int32(3)}, AbortIncompleteMultipartUpload: &types.AbortIncompleteMultipartUpload{DaysAfterInitiation: aws.Int32(2)}},
		{ID: aws.String("markers"), Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("gone/")},
			NoncurrentVersionExpiration: &types.NoncurrentVersionExpiration{NoncurrentDays: aws.Int32(1)},
			Expiration:                  &types.LifecycleExpiration{ExpiredObjectDeleteMarker: aws.Bool(true)}},
		{ID: aws.String("off"), Status: types.ExpirationStatusDisabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("keep/")},
			Expiration: &types.LifecycleExpiration{Days: aws.Int32(1)}},
	}
	must[*s3.PutBucketLifecycleConfigurationOutput](t)(c.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: b,
		LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: rules}}))
	got := must[*s3.GetBucketLifecycleConfigurationOutput](t)(c.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: b}))
	if len(got.Rules) != 4 || *got.Rules[0].ID != "versions" || *got.Rules[0].NoncurrentVersionExpiration.NewerNoncurrentVersions != 2 {
		t.Fatalf("lifecycle read back: %+v", got.Rules)
	}

	// Nothing is due yet.
	if n, _, err := srv.ApplyLifecycle(ctx, time.Now(), 1000); err != nil || n != 0 {
		t.Fatalf("now: acted on %d, %v", n, err)
	}
	// Four days later, three versions per pass, until the walk wraps (twice:
	// the marker becomes the only version only after its noncurrent version
	// goes).
	later := time.Now().Add(4 * 24 * time.Hour)
	for round := 0; round < 2; round++ {
		for pass := 0; ; pass++ {
			if pass > 100 {
				t.Fatal("lifecycle walk does not wrap")
			}
			_, wrapped, err := srv.ApplyLifecycle(ctx, later, 3)
			if err != nil {
				t.Fatal(err)
			}
			if wrapped {
				break
			}
		}
	}
	if n, _, err := srv.ExpireUploads(ctx, later, 1000); err != nil || n != 1 {
		t.Fatalf("uploads aborted by the rule: %d, %v", n, err)
	}
	_, err = c.ListParts(ctx, &s3.ListPartsInput{Bucket: b, Key: aws.String("tmp/upload"), UploadId: up.UploadId})
	wantCode(t, err, "NoSuchUpload")

	vers := must[*s3.ListObjectVersionsOutput](t)(c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: b}))
	count := map[string]int{}
	markers := map[string]int{}
	for _, v := range vers.Versions {
		count[*v.Key]++
	}
	for _, m := range vers.DeleteMarkers {
		markers[*m.Key]++
	}
	if count["backup/db"] != 3 || markers["backup/db"] != 0 {
		t.Fatalf("backup/db: %d versions %d markers, want 3 (current + 2 newest noncurrent)", count["backup/db"], markers["backup/db"])
	}
	if count["tmp/x"] != 1 || markers["tmp/x"] != 1 {
		t.Fatalf("tmp/x: %d versions %d markers, want the version under a delete marker", count["tmp/x"], markers["tmp/x"])
	}
	if count["keep/y"] != 1 || markers["keep/y"] != 0 {
		t.Fatalf("keep/y (disabled rule) changed: %d versions %d markers", count["keep/y"], markers["keep/y"])
	}
	if count["gone/z"] != 0 || markers["gone/z"] != 0 {
		t.Fatalf("gone/z: %d versions %d markers, want nothing left", count["gone/z"], markers["gone/z"])
	}
	must[*s3.DeleteBucketLifecycleOutput](t)(c.DeleteBucketLifecycle(ctx, &s3.DeleteBucketLifecycleInput{Bucket: b}))
	_, err = c.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: b})
	wantCode(t, err, "NoSuchLifecycleConfiguration")
}

// TestLifecycleRuleIDGenerated: a rule put without an ID reads back with
// one (as S3 answers), the same on every read; given IDs are kept.
func TestLifecycleRuleIDGenerated(t *testing.T) {
	g := startGateway(t)
	c := g.client(0, true)
	b := aws.String("lcid")
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}))
	must[*s3.PutBucketLifecycleConfigurationOutput](t)(c.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: b,
		LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: []types.LifecycleRule{
			{Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("a/")}, Expiration: &types.LifecycleExpiration{Days: aws.Int32(3)}},
			{ID: aws.String("mine"), Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("b/")}, Expiration: &types.LifecycleExpiration{Days: aws.Int32(5)}},
		}}}))
	get := func() []types.LifecycleRule {
		return must[*s3.GetBucketLifecycleConfigurationOutput](t)(c.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: b})).Rules
	}
	r1, r2 := get(), get()
	if len(r1) != 2 || aws.ToString(r1[0].ID) == "" || aws.ToString(r1[0].ID) != aws.ToString(r2[0].ID) || aws.ToString(r1[1].ID) != "mine" {
		t.Fatalf("rule ids: %q %q, again %q", aws.ToString(r1[0].ID), aws.ToString(r1[1].ID), aws.ToString(r2[0].ID))
	}
	if aws.ToInt32(r1[0].Expiration.Days) != 3 {
		t.Fatalf("generated-id rule lost its expiration: %+v", r1[0].Expiration)
	}
}

// TestLifecycleTransitionRefused: a rule that moves objects to another
// storage class is refused with 501 NotImplemented (the README's "not
// implemented" list), and the bucket's existing configuration stays.
func TestLifecycleTransitionRefused(t *testing.T) {
	g := startGateway(t)
	c := g.client(0, true)
	b := aws.String("lctrans")
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}))
	must[*s3.PutBucketLifecycleConfigurationOutput](t)(c.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: b,
		LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: []types.LifecycleRule{
			{ID: aws.String("keep"), Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("a/")}, Expiration: &types.LifecycleExpiration{Days: aws.Int32(3)}},
		}}}))
	_, err := c.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: b,
		LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: []types.LifecycleRule{
			{ID: aws.String("cold"), Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("")},
				Transitions: []types.Transition{{Days: aws.Int32(30), StorageClass: types.TransitionStorageClassGlacier}}},
		}}})
	wantCode(t, err, "NotImplemented")
	rules := must[*s3.GetBucketLifecycleConfigurationOutput](t)(c.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: b})).Rules
	if len(rules) != 1 || aws.ToString(rules[0].ID) != "keep" {
		t.Fatalf("a refused configuration changed the bucket's: %+v", rules)
	}
}
