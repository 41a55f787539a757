package gateway_test

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/datdot/datdot/gateway"
)

func putLocked(t *testing.T, c *s3.Client, bucket, key, body string, mode types.ObjectLockMode, until time.Time) string {
	t.Helper()
	in := &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)}
	if mode != "" {
		in.ObjectLockMode, in.ObjectLockRetainUntilDate = mode, aws.Time(until)
	}
	return aws.ToString(must[*s3.PutObjectOutput](t)(c.PutObject(ctx, in)).VersionId)
}

func deleteVersion(c *s3.Client, bucket, key, version string, bypass bool) error {
	in := &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), VersionId: aws.String(version)}
	if bypass {
		in.BypassGovernanceRetention = aws.Bool(true)
	}
	_, err := c.DeleteObject(ctx, in)
	return err
}

// TestObjectLockConfiguration (issue 16): a bucket created with object
// lock has versioning on for good; the lock configuration and its default
// retention are validated as S3 does (codes of the ceph s3-tests); a
// versioned bucket can get object lock later, an unversioned one cannot;
// lock requests on a bucket without lock are refused.
func TestObjectLockConfiguration(t *testing.T) {
	g := startGateway(t)
	c := g.client(0, true)
	b := aws.String("locked")
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b, ObjectLockEnabledForBucket: aws.Bool(true)}))
	v := must[*s3.GetBucketVersioningOutput](t)(c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: b}))
	if v.Status != types.BucketVersioningStatusEnabled {
		t.Fatalf("versioning of a lock bucket: %q", v.Status)
	}
	_, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: b,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusSuspended}})
	wantCode(t, err, "InvalidBucketState")
	got := must[*s3.GetObjectLockConfigurationOutput](t)(c.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: b}))
	if got.ObjectLockConfiguration.ObjectLockEnabled != types.ObjectLockEnabledEnabled || got.ObjectLockConfiguration.Rule != nil {
		t.Fatalf("lock configuration without a rule: %+v", got.ObjectLockConfiguration)
	}

	put := func(bucket *string, r *types.DefaultRetention) error {
		_, err := c.PutObjectLockConfiguration(ctx, &s3.PutObjectLockConfigurationInput{Bucket: bucket,
			ObjectLockConfiguration: &types.ObjectLockConfiguration{ObjectLockEnabled: types.ObjectLockEnabledEnabled,
				Rule: &types.ObjectLockRule{DefaultRetention: r}}})
		return err
	}
	wantCode(t, put(b, &types.DefaultRetention{Mode: types.ObjectLockRetentionModeGovernance, Days: aws.Int32(1), Years: aws.Int32(1)}), "MalformedXML")
	wantCode(t, put(b, &types.DefaultRetention{Mode: types.ObjectLockRetentionModeGovernance}), "MalformedXML")
	wantCode(t, put(b, &types.DefaultRetention{Mode: types.ObjectLockRetentionModeGovernance, Days: aws.Int32(0)}), "InvalidRetentionPeriod")
	wantCode(t, put(b, &types.DefaultRetention{Mode: types.ObjectLockRetentionModeGovernance, Years: aws.Int32(-1)}), "InvalidRetentionPeriod")
	wantCode(t, put(b, &types.DefaultRetention{Mode: "governance", Years: aws.Int32(1)}), "MalformedXML")
	if err := put(b, &types.DefaultRetention{Mode: types.ObjectLockRetentionModeCompliance, Years: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	got = must[*s3.GetObjectLockConfigurationOutput](t)(c.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: b}))
	if r := got.ObjectLockConfiguration.Rule; r == nil || r.DefaultRetention.Mode != types.ObjectLockRetentionModeCompliance ||
		aws.ToInt32(r.DefaultRetention.Years) != 2 || r.DefaultRetention.Days != nil {
		t.Fatalf("default retention read back: %+v", got.ObjectLockConfiguration.Rule)
	}
	// Only the owner configures it.
	_, err = g.client(2, true).PutObjectLockConfiguration(ctx, &s3.PutObjectLockConfigurationInput{Bucket: b,
		ObjectLockConfiguration: &types.ObjectLockConfiguration{ObjectLockEnabled: types.ObjectLockEnabledEnabled}})
	wantCode(t, err, "AccessDenied")

	// A bucket without object lock.
	plain := aws.String("plain")
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: plain}))
	_, err = c.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: plain})
	wantCode(t, err, "ObjectLockConfigurationNotFoundError")
	wantCode(t, put(plain, &types.DefaultRetention{Mode: types.ObjectLockRetentionModeGovernance, Days: aws.Int32(1)}), "InvalidBucketState")
	must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: plain, Key: aws.String("k"), Body: strings.NewReader("x")}))
	_, err = c.PutObjectRetention(ctx, &s3.PutObjectRetentionInput{Bucket: plain, Key: aws.String("k"),
		Retention: &types.ObjectLockRetention{Mode: types.ObjectLockRetentionModeGovernance, RetainUntilDate: aws.Time(time.Now().Add(time.Hour))}})
	wantCode(t, err, "InvalidRequest")
	_, err = c.GetObjectLegalHold(ctx, &s3.GetObjectLegalHoldInput{Bucket: plain, Key: aws.String("k")})
	wantCode(t, err, "InvalidRequest")
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: plain, Key: aws.String("k2"), Body: strings.NewReader("x"),
		ObjectLockLegalHoldStatus: types.ObjectLockLegalHoldStatusOn})
	wantCode(t, err, "InvalidRequest")
	// Versioning on: object lock may be enabled.
	must[*s3.PutBucketVersioningOutput](t)(c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: plain,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}))
	if err := put(plain, &types.DefaultRetention{Mode: types.ObjectLockRetentionModeGovernance, Days: aws.Int32(1)}); err != nil {
		t.Fatalf("enable object lock on a versioned bucket: %v", err)
	}
	_, err = c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: plain,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusSuspended}})
	wantCode(t, err, "InvalidBucketState")
}

// TestObjectLockRetention (issue 16): retention and legal hold set on PUT
// and by their own requests are shown on HEAD; a protected version cannot
// be deleted by id (a delete marker can be put over it), alone or in
// DeleteObjects; GOVERNANCE yields to x-amz-bypass-governance-retention
// from the owner or a policy grant of s3:BypassGovernanceRetention, not to
// a writer without it; COMPLIANCE and legal holds yield to no one; a
// COMPLIANCE retention can only be extended.
func TestObjectLockRetention(t *testing.T) {
	g := startGateway(t)
	c, alt := g.client(0, true), g.client(2, true)
	const bucket = "worm"
	b := aws.String(bucket)
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b, ObjectLockEnabledForBucket: aws.Bool(true)}))
	// alt may write and delete (bucket policy) but not bypass governance yet.
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["alt-user"]},
		"Action":["s3:PutObject","s3:DeleteObject","s3:DeleteObjectVersion","s3:GetObject","s3:ListBucket"],
		"Resource":["arn:aws:s3:::worm","arn:aws:s3:::worm/*"]}]}`
	must[*s3.PutBucketPolicyOutput](t)(c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: b, Policy: aws.String(policy)}))

	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	gov := putLocked(t, c, bucket, "gov", "governed", types.ObjectLockModeGovernance, until)
	head := must[*s3.HeadObjectOutput](t)(c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String("gov")}))
	if head.ObjectLockMode != types.ObjectLockModeGovernance || !aws.ToTime(head.ObjectLockRetainUntilDate).Equal(until) {
		t.Fatalf("HEAD lock headers: %q %v", head.ObjectLockMode, head.ObjectLockRetainUntilDate)
	}
	ret := must[*s3.GetObjectRetentionOutput](t)(c.GetObjectRetention(ctx, &s3.GetObjectRetentionInput{Bucket: b, Key: aws.String("gov")}))
	if ret.Retention.Mode != types.ObjectLockRetentionModeGovernance || !aws.ToTime(ret.Retention.RetainUntilDate).Equal(until) {
		t.Fatalf("GetObjectRetention: %+v", ret.Retention)
	}
	// Not deletable by id; a delete marker is fine and the version stays.
	wantCode(t, deleteVersion(c, bucket, "gov", gov, false), "AccessDenied")
	must[*s3.DeleteObjectOutput](t)(c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String("gov")}))
	wantCode(t, deleteVersion(alt, bucket, "gov", gov, true), "AccessDenied") // no s3:BypassGovernanceRetention
	obj := must[*s3.GetObjectOutput](t)(c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("gov"), VersionId: aws.String(gov)}))
	mustEqual(t, "locked version", readAll(t, obj.Body), []byte("governed"))
	// Shortening GOVERNANCE needs the bypass; extending does not.
	_, err := c.PutObjectRetention(ctx, &s3.PutObjectRetentionInput{Bucket: b, Key: aws.String("gov"), VersionId: aws.String(gov),
		Retention: &types.ObjectLockRetention{Mode: types.ObjectLockRetentionModeGovernance, RetainUntilDate: aws.Time(until.Add(-time.Minute))}})
	wantCode(t, err, "AccessDenied")
	must[*s3.PutObjectRetentionOutput](t)(c.PutObjectRetention(ctx, &s3.PutObjectRetentionInput{Bucket: b, Key: aws.String("gov"), VersionId: aws.String(gov),
		Retention: &types.ObjectLockRetention{Mode: types.ObjectLockRetentionModeGovernance, RetainUntilDate: aws.Time(until.Add(time.Hour))}}))
	// A grant of s3:BypassGovernanceRetention lets alt delete it.
	policy2 := strings.Replace(policy, `"s3:ListBucket"`, `"s3:ListBucket","s3:BypassGovernanceRetention"`, 1)
	must[*s3.PutBucketPolicyOutput](t)(c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: b, Policy: aws.String(policy2)}))
	wantCode(t, deleteVersion(alt, bucket, "gov", gov, false), "AccessDenied") // header missing
	if err := deleteVersion(alt, bucket, "gov", gov, true); err != nil {
		t.Fatalf("bypass delete with the permission: %v", err)
	}

	// COMPLIANCE: nobody deletes it, it can only be extended.
	comp := putLocked(t, c, bucket, "comp", "kept", types.ObjectLockModeCompliance, until)
	wantCode(t, deleteVersion(c, bucket, "comp", comp, true), "AccessDenied")
	for _, r := range []types.ObjectLockRetention{
		{Mode: types.ObjectLockRetentionModeCompliance, RetainUntilDate: aws.Time(until.Add(-time.Minute))},
		{Mode: types.ObjectLockRetentionModeGovernance, RetainUntilDate: aws.Time(until.Add(time.Hour))},
	} {
		_, err := c.PutObjectRetention(ctx, &s3.PutObjectRetentionInput{Bucket: b, Key: aws.String("comp"), Retention: &r, BypassGovernanceRetention: aws.Bool(true)})
		wantCode(t, err, "AccessDenied")
	}
	must[*s3.PutObjectRetentionOutput](t)(c.PutObjectRetention(ctx, &s3.PutObjectRetentionInput{Bucket: b, Key: aws.String("comp"),
		Retention: &types.ObjectLockRetention{Mode: types.ObjectLockRetentionModeCompliance, RetainUntilDate: aws.Time(until.Add(time.Hour))}}))
	// A retain-until date in the past is refused.
	_, err = c.PutObjectRetention(ctx, &s3.PutObjectRetentionInput{Bucket: b, Key: aws.String("comp"),
		Retention: &types.ObjectLockRetention{Mode: types.ObjectLockRetentionModeCompliance, RetainUntilDate: aws.Time(time.Now().Add(-time.Hour))}})
	wantCode(t, err, "InvalidArgument")

	// Legal hold: blocks deletes whatever the bypass, until it is off.
	held := putLocked(t, c, bucket, "held", "on hold", "", time.Time{})
	_, err = c.GetObjectLegalHold(ctx, &s3.GetObjectLegalHoldInput{Bucket: b, Key: aws.String("held")})
	wantCode(t, err, "NoSuchObjectLockConfiguration")
	must[*s3.PutObjectLegalHoldOutput](t)(c.PutObjectLegalHold(ctx, &s3.PutObjectLegalHoldInput{Bucket: b, Key: aws.String("held"),
		LegalHold: &types.ObjectLockLegalHold{Status: types.ObjectLockLegalHoldStatusOn}}))
	lh := must[*s3.GetObjectLegalHoldOutput](t)(c.GetObjectLegalHold(ctx, &s3.GetObjectLegalHoldInput{Bucket: b, Key: aws.String("held")}))
	if lh.LegalHold.Status != types.ObjectLockLegalHoldStatusOn {
		t.Fatalf("legal hold read back: %q", lh.LegalHold.Status)
	}
	wantCode(t, deleteVersion(c, bucket, "held", held, true), "AccessDenied")
	_, err = alt.PutObjectLegalHold(ctx, &s3.PutObjectLegalHoldInput{Bucket: b, Key: aws.String("held"),
		LegalHold: &types.ObjectLockLegalHold{Status: types.ObjectLockLegalHoldStatusOff}})
	wantCode(t, err, "AccessDenied") // not granted s3:PutObjectLegalHold
	_, err = c.PutObjectLegalHold(ctx, &s3.PutObjectLegalHoldInput{Bucket: b, Key: aws.String("held"),
		LegalHold: &types.ObjectLockLegalHold{Status: "on"}})
	wantCode(t, err, "MalformedXML")

	// DeleteObjects: per key, the locked one fails and the others go.
	free := putLocked(t, c, bucket, "free", "free", "", time.Time{})
	out := must[*s3.DeleteObjectsOutput](t)(c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: b, Delete: &types.Delete{Objects: []types.ObjectIdentifier{
		{Key: aws.String("held"), VersionId: aws.String(held)}, {Key: aws.String("free"), VersionId: aws.String(free)},
		{Key: aws.String("comp"), VersionId: aws.String(comp)},
	}}}))
	if len(out.Deleted) != 1 || aws.ToString(out.Deleted[0].Key) != "free" || len(out.Errors) != 2 {
		t.Fatalf("DeleteObjects: deleted %d, errors %d", len(out.Deleted), len(out.Errors))
	}
	for _, e := range out.Errors {
		if aws.ToString(e.Code) != "AccessDenied" {
			t.Fatalf("DeleteObjects error for %s: %s", aws.ToString(e.Key), aws.ToString(e.Code))
		}
	}
	must[*s3.PutObjectLegalHoldOutput](t)(c.PutObjectLegalHold(ctx, &s3.PutObjectLegalHoldInput{Bucket: b, Key: aws.String("held"), VersionId: aws.String(held),
		LegalHold: &types.ObjectLockLegalHold{Status: types.ObjectLockLegalHoldStatusOff}}))
	if err := deleteVersion(c, bucket, "held", held, false); err != nil {
		t.Fatalf("delete after the legal hold is off: %v", err)
	}
	// The bucket cannot be deleted while a locked version is in it.
	_, err = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: b})
	wantCode(t, err, "BucketNotEmpty")

	// Bad lock headers.
	for _, in := range []*s3.PutObjectInput{
		{ObjectLockMode: types.ObjectLockModeGovernance},
		{ObjectLockRetainUntilDate: aws.Time(until)},
		{ObjectLockMode: "FOREVER", ObjectLockRetainUntilDate: aws.Time(until)},
		{ObjectLockMode: types.ObjectLockModeGovernance, ObjectLockRetainUntilDate: aws.Time(time.Now().Add(-time.Hour))},
		{ObjectLockLegalHoldStatus: "maybe"},
	} {
		in.Bucket, in.Key, in.Body = b, aws.String("bad"), strings.NewReader("x")
		_, err := c.PutObject(ctx, in)
		wantCode(t, err, "InvalidArgument")
	}
	// A writer without s3:PutObjectRetention cannot lock what it writes.
	_, err = alt.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("alt"), Body: strings.NewReader("x"),
		ObjectLockMode: types.ObjectLockModeCompliance, ObjectLockRetainUntilDate: aws.Time(until)})
	wantCode(t, err, "AccessDenied")
}

// TestObjectLockDefaultRetention (issue 16): the bucket's default
// retention is given to PUT, copy (never the source's lock) and multipart
// objects that name none; a request's own retention wins. Object writes
// with object lock parameters need Content-MD5 or a checksum, as AWS
// requires (InvalidRequest otherwise; UploadPart too).
func TestObjectLockDefaultRetention(t *testing.T) {
	g := startGateway(t)
	c := g.client(0, true)
	const bucket = "defaults"
	b := aws.String(bucket)
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b, ObjectLockEnabledForBucket: aws.Bool(true)}))
	// Before a default: a raw PUT without any digest is fine.
	sign := newSigner()
	raw := func(method, path, body string, hdr map[string]string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, g.url+path, strings.NewReader(body))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		if err := sign(req, testKeys[0].AccessKey, testKeys[0].SecretKey); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := raw("PUT", "/defaults/nodigest", "abc", nil); r.StatusCode != 200 {
		t.Fatalf("PUT without lock parameters or digest: %d", r.StatusCode)
	}
	if r := raw("PUT", "/defaults/nodigest", "abc", map[string]string{"x-amz-object-lock-legal-hold": "ON"}); r.StatusCode != 400 {
		t.Fatalf("PUT with a legal hold and no digest: %d, want 400", r.StatusCode)
	}
	must[*s3.PutObjectLockConfigurationOutput](t)(c.PutObjectLockConfiguration(ctx, &s3.PutObjectLockConfigurationInput{Bucket: b,
		ObjectLockConfiguration: &types.ObjectLockConfiguration{ObjectLockEnabled: types.ObjectLockEnabledEnabled,
			Rule: &types.ObjectLockRule{DefaultRetention: &types.DefaultRetention{Mode: types.ObjectLockRetentionModeGovernance, Days: aws.Int32(2)}}}}))
	if r := raw("PUT", "/defaults/nodigest", "abc", nil); r.StatusCode != 400 {
		t.Fatalf("PUT under a default retention without a digest: %d, want 400", r.StatusCode)
	}
	sum := md5.Sum([]byte("abc"))
	if r := raw("PUT", "/defaults/digest", "abc", map[string]string{"Content-MD5": base64.StdEncoding.EncodeToString(sum[:])}); r.StatusCode != 200 {
		t.Fatalf("PUT with Content-MD5: %d", r.StatusCode)
	}

	checkDefault := func(key string, before time.Time) {
		t.Helper()
		r := must[*s3.GetObjectRetentionOutput](t)(c.GetObjectRetention(ctx, &s3.GetObjectRetentionInput{Bucket: b, Key: aws.String(key)}))
		u := aws.ToTime(r.Retention.RetainUntilDate)
		if r.Retention.Mode != types.ObjectLockRetentionModeGovernance || u.Before(before.Add(48*time.Hour-time.Second)) || u.After(time.Now().Add(48*time.Hour+time.Second)) {
			t.Fatalf("%s: default retention %q until %v", key, r.Retention.Mode, u)
		}
	}
	start := time.Now()
	checkDefault("digest", start.Add(-time.Minute))
	putLocked(t, c, bucket, "sdk", "x", "", time.Time{})
	checkDefault("sdk", start)
	own := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	putLocked(t, c, bucket, "own", "x", types.ObjectLockModeCompliance, own)
	r := must[*s3.GetObjectRetentionOutput](t)(c.GetObjectRetention(ctx, &s3.GetObjectRetentionInput{Bucket: b, Key: aws.String("own")}))
	if r.Retention.Mode != types.ObjectLockRetentionModeCompliance || !aws.ToTime(r.Retention.RetainUntilDate).Equal(own) {
		t.Fatalf("explicit retention: %+v", r.Retention)
	}
	// A copy of the COMPLIANCE object gets the default, not the source's lock.
	must[*s3.CopyObjectOutput](t)(c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String("copy"), CopySource: aws.String(bucket + "/own")}))
	checkDefault("copy", start)

	// Multipart: the default at completion; a part without a digest is refused.
	up := must[*s3.CreateMultipartUploadOutput](t)(c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("mp")}))
	if r := raw("PUT", "/defaults/mp?partNumber=1&uploadId="+aws.ToString(up.UploadId), "part", nil); r.StatusCode != 400 {
		t.Fatalf("UploadPart without a digest in a lock bucket: %d, want 400", r.StatusCode)
	}
	p := must[*s3.UploadPartOutput](t)(c.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: aws.String("mp"), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: bytes.NewReader([]byte("part"))}))
	mp := must[*s3.CompleteMultipartUploadOutput](t)(c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String("mp"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{ETag: p.ETag, PartNumber: aws.Int32(1)}}}}))
	checkDefault("mp", start)
	wantCode(t, deleteVersion(c, bucket, "mp", aws.ToString(mp.VersionId), false), "AccessDenied")
	// A multipart upload with its own legal hold.
	up = must[*s3.CreateMultipartUploadOutput](t)(c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("mp2"),
		ObjectLockLegalHoldStatus: types.ObjectLockLegalHoldStatusOn}))
	p = must[*s3.UploadPartOutput](t)(c.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: aws.String("mp2"), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: bytes.NewReader([]byte("part"))}))
	mp = must[*s3.CompleteMultipartUploadOutput](t)(c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String("mp2"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{ETag: p.ETag, PartNumber: aws.Int32(1)}}}}))
	wantCode(t, deleteVersion(c, bucket, "mp2", aws.ToString(mp.VersionId), true), "AccessDenied")
}

// TestObjectLockUpkeep (issue 16): neither lifecycle rules nor the expiry
// of the hidden history remove a version that object lock protects; an
// unprotected version beside it goes. Times are passed in, never waited
// for.
func TestObjectLockUpkeep(t *testing.T) {
	g, srv := startGatewayOpts(t, gateway.Options{})
	c := g.client(0, true)
	const bucket = "upkeep"
	b := aws.String(bucket)
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b, ObjectLockEnabledForBucket: aws.Bool(true)}))
	until := time.Now().Add(30 * 24 * time.Hour)
	lockedV := putLocked(t, c, bucket, "k", "locked", types.ObjectLockModeCompliance, until)
	plainV := putLocked(t, c, bucket, "k", "plain", "", time.Time{})
	putLocked(t, c, bucket, "k", "current", "", time.Time{})
	must[*s3.PutBucketLifecycleConfigurationOutput](t)(c.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: b,
		LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: []types.LifecycleRule{{ID: aws.String("nc"), Status: types.ExpirationStatusEnabled,
			Filter: &types.LifecycleRuleFilter{Prefix: aws.String("")}, NoncurrentVersionExpiration: &types.NoncurrentVersionExpiration{NoncurrentDays: aws.Int32(1)}}}}}))
	if _, _, err := srv.ApplyLifecycle(ctx, time.Now().Add(3*24*time.Hour), 1000); err != nil {
		t.Fatal(err)
	}
	vers := must[*s3.ListObjectVersionsOutput](t)(c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: b}))
	ids := map[string]bool{}
	for _, v := range vers.Versions {
		ids[aws.ToString(v.VersionId)] = true
	}
	if len(ids) != 2 || !ids[lockedV] || ids[plainV] {
		t.Fatalf("after lifecycle: versions %v (locked %s must stay, %s must go)", ids, lockedV, plainV)
	}

	// Hidden history: a GOVERNANCE version deleted with the bypass is
	// kept hidden until its retention ends, even past the history's own.
	if err := g.meta.SetHistoryRetention(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	govUntil := time.Now().Add(3 * time.Hour)
	gov := putLocked(t, c, bucket, "h", "governed", types.ObjectLockModeGovernance, govUntil)
	if err := deleteVersion(c, bucket, "h", gov, true); err != nil {
		t.Fatal(err)
	}
	hidden := func() int {
		vs, _, err := g.meta.History(ctx, bucket, "h", "", 100)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, v := range vs {
			if v.Hidden && v.VersionID == gov {
				n++
			}
		}
		return n
	}
	if hidden() != 1 {
		t.Fatal("the bypassed version is not in the hidden history")
	}
	for _, at := range []time.Time{time.Now().Add(2 * time.Hour), govUntil.Add(30 * time.Minute)} {
		if _, _, err := g.meta.ExpireHistory(ctx, at, 100); err != nil {
			t.Fatal(err)
		}
		if hidden() != 1 {
			t.Fatalf("hidden history expired a locked version at %v (retained until %v)", at, govUntil)
		}
	}
	if _, _, err := g.meta.ExpireHistory(ctx, govUntil.Add(2*time.Hour), 100); err != nil {
		t.Fatal(err)
	}
	if n := hidden(); n != 0 {
		t.Fatalf("hidden version kept %d times after its retention and the history's", n)
	}
}
