package gateway_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestBucketPolicy (issue 16): a public-read bucket policy lets anonymous
// clients read objects (not list, not write) while the ACLs stay private;
// a Deny on a prefix holds for anonymous users, other accounts and the
// owner alike; a policy can grant another account writes; public access
// blocks refuse a public policy (BlockPublicPolicy) or make it ineffective
// (RestrictPublicBuckets); invalid policies are MalformedPolicy; the
// policy reads back as put, its status says public, and it can be deleted.
func TestBucketPolicy(t *testing.T) {
	g := startGateway(t)
	c, alt := g.client(0, true), g.client(2, true)
	b := aws.String("media")
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}))
	for _, k := range []string{"a.png", "private/secret"} {
		must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String(k), Body: bytes.NewReader([]byte("data of " + k))}))
	}
	anon := func(method, path string) int {
		req, _ := http.NewRequest(method, g.url+path, strings.NewReader("x"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := anon("GET", "/media/a.png"); code != 403 {
		t.Fatalf("anonymous GET before the policy: %d", code)
	}
	_, err := c.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: b})
	wantCode(t, err, "NoSuchBucketPolicy")
	// Policy status without a policy: public only through a public ACL.
	if st := must[*s3.GetBucketPolicyStatusOutput](t)(c.GetBucketPolicyStatus(ctx, &s3.GetBucketPolicyStatusInput{Bucket: b})); *st.PolicyStatus.IsPublic {
		t.Fatal("private bucket without a policy reported public")
	}
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("public-acl"), ACL: types.BucketCannedACLPublicRead}))
	if st := must[*s3.GetBucketPolicyStatusOutput](t)(c.GetBucketPolicyStatus(ctx, &s3.GetBucketPolicyStatusInput{Bucket: aws.String("public-acl")})); !*st.PolicyStatus.IsPublic {
		t.Fatal("public-read bucket reported not public")
	}

	doc := `{"Version":"2012-10-17","Statement":[
	  {"Sid":"PublicRead","Effect":"Allow","Principal":"*","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::media/*"]},
	  {"Sid":"NoPrivate","Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::media/private/*"},
	  {"Sid":"AltUploads","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::alt-user:root"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::media/uploads/*"}]}`
	must[*s3.PutBucketPolicyOutput](t)(c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: b, Policy: aws.String(doc)}))
	got := must[*s3.GetBucketPolicyOutput](t)(c.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: b}))
	if *got.Policy != doc {
		t.Fatalf("policy read back: %s", *got.Policy)
	}
	st := must[*s3.GetBucketPolicyStatusOutput](t)(c.GetBucketPolicyStatus(ctx, &s3.GetBucketPolicyStatusInput{Bucket: b}))
	if st.PolicyStatus == nil || !*st.PolicyStatus.IsPublic {
		t.Fatal("policy status not public")
	}
	if code := anon("GET", "/media/a.png"); code != 200 {
		t.Fatalf("anonymous GET with a public-read policy: %d", code)
	}
	if code := anon("HEAD", "/media/a.png"); code != 200 {
		t.Fatalf("anonymous HEAD with a public-read policy: %d", code)
	}
	for _, c := range []struct{ method, path string }{{"GET", "/media/private/secret"}, {"GET", "/media?list-type=2"}, {"PUT", "/media/new"}, {"DELETE", "/media/a.png"}} {
		if code := anon(c.method, c.path); code != 403 {
			t.Fatalf("anonymous %s %s: %d", c.method, c.path, code)
		}
	}
	// The Deny holds for the owner too.
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("private/secret")})
	wantCode(t, err, "AccessDenied")
	// Another account: reads via the public statement, writes where granted.
	readAll(t, must[*s3.GetObjectOutput](t)(alt.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("a.png")})).Body)
	must[*s3.PutObjectOutput](t)(alt.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("uploads/f"), Body: bytes.NewReader([]byte("f"))}))
	_, err = alt.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("elsewhere"), Body: bytes.NewReader([]byte("f"))})
	wantCode(t, err, "AccessDenied")
	// The policy is the owner's: another account cannot read or change it.
	_, err = alt.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: b})
	wantCode(t, err, "AccessDenied")
	_, err = alt.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: b})
	wantCode(t, err, "AccessDenied")

	// RestrictPublicBuckets makes the public policy ineffective for
	// everyone but the owner; BlockPublicPolicy refuses a new one.
	must[*s3.PutPublicAccessBlockOutput](t)(c.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: b,
		PublicAccessBlockConfiguration: &types.PublicAccessBlockConfiguration{RestrictPublicBuckets: aws.Bool(true), BlockPublicPolicy: aws.Bool(true)}}))
	if code := anon("GET", "/media/a.png"); code != 403 {
		t.Fatalf("anonymous GET with RestrictPublicBuckets: %d", code)
	}
	readAll(t, must[*s3.GetObjectOutput](t)(c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("a.png")})).Body)
	_, err = c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: b, Policy: aws.String(doc)})
	wantCode(t, err, "AccessDenied")
	must[*s3.DeletePublicAccessBlockOutput](t)(c.DeletePublicAccessBlock(ctx, &s3.DeletePublicAccessBlockInput{Bucket: b}))

	// Malformed policies.
	for _, bad := range []string{`{`, `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::otherbucket/*"}]}`} {
		_, err = c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: b, Policy: aws.String(bad)})
		wantCode(t, err, "MalformedPolicy")
	}
	// A policy that denies everything still lets the owner delete it.
	must[*s3.PutBucketPolicyOutput](t)(c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: b, Policy: aws.String(
		`{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::media","arn:aws:s3:::media/*"]}]}`)}))
	_, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: b})
	wantCode(t, err, "AccessDenied")
	must[*s3.DeleteBucketPolicyOutput](t)(c.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: b}))
	must[*s3.ListObjectsV2Output](t)(c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: b}))
	if code := anon("GET", "/media/a.png"); code != 403 {
		t.Fatalf("anonymous GET after the policy was deleted: %d", code)
	}
}

// TestPolicyPrefixMissingKey: who may list a bucket under a prefix
// (s3:ListBucket with an s3:prefix condition) learns that a key under it
// is missing (404), as a listing with that prefix would tell; for other
// keys a missing key stays 403.
func TestPolicyPrefixMissingKey(t *testing.T) {
	g := startGateway(t)
	c, alt := g.client(0, true), g.client(2, true)
	b := aws.String("prefixed")
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}))
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:ListBucket",
		"Resource":"arn:aws:s3:::prefixed","Condition":{"StringLike":{"s3:prefix":"public/*"}}}]}`
	must[*s3.PutBucketPolicyOutput](t)(c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: b, Policy: aws.String(doc)}))
	_, err := alt.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("public/missing")})
	wantCode(t, err, "NoSuchKey")
	_, err = alt.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("private/missing")})
	wantCode(t, err, "AccessDenied")
}
