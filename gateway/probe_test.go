package gateway_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestNoKeyProbing: someone who may neither list a private bucket nor read
// its objects learns nothing about which keys exist: every object
// sub-resource answers 403 AccessDenied alike for a missing and an existing
// private key, for anonymous requests and for another account.
func TestNoKeyProbing(t *testing.T) {
	g := startGateway(t)
	c := g.client(0, true)
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("priv")}))
	must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("priv"), Key: aws.String("there"), Body: strings.NewReader("x")}))
	sign := newSigner()
	for _, who := range []string{"anonymous", "alt"} {
		for _, key := range []string{"there", "missing"} {
			for _, m := range []string{"GET ", "HEAD ", "GET ?acl", "PUT ?acl", "GET ?attributes", "GET ?tagging"} {
				method, sub, _ := strings.Cut(m, " ")
				req, _ := http.NewRequest(method, g.url+"/priv/"+key+sub, nil)
				if sub == "?attributes" {
					req.Header.Set("X-Amz-Object-Attributes", "ETag")
				}
				if method == http.MethodPut {
					req.Header.Set("X-Amz-Acl", "public-read")
				}
				if who == "alt" {
					if err := sign(req, testKeys[2].AccessKey, testKeys[2].SecretKey); err != nil {
						t.Fatal(err)
					}
				}
				resp := must[*http.Response](t)(http.DefaultClient.Do(req))
				resp.Body.Close()
				if resp.StatusCode != http.StatusForbidden {
					t.Errorf("%s %s %s: %s, want 403", who, m, key, resp.Status)
				}
			}
		}
	}
}

// TestFullControlGrantIsNotOwnership: an account granted FULL_CONTROL on
// another's bucket reads, writes and changes its ACL, but cannot delete the
// bucket (and then take its name) or change its versioning or CORS.
func TestFullControlGrantIsNotOwnership(t *testing.T) {
	g := startGateway(t)
	c, alt := g.client(0, true), g.client(2, true)
	b := aws.String("shared")
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}))
	must[*s3.PutBucketAclOutput](t)(c.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: b,
		GrantFullControl: aws.String("id=" + testKeys[2].UserID)}))
	must[*s3.PutObjectOutput](t)(alt.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("k"), Body: strings.NewReader("x")}))
	must[*s3.GetBucketAclOutput](t)(alt.GetBucketAcl(ctx, &s3.GetBucketAclInput{Bucket: b}))
	must[*s3.DeleteObjectOutput](t)(alt.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String("k")}))

	_, err := alt.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: b})
	wantCode(t, err, "AccessDenied")
	_, err = alt.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: b,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}})
	wantCode(t, err, "AccessDenied")
	_, err = alt.PutBucketCors(ctx, &s3.PutBucketCorsInput{Bucket: b, CORSConfiguration: &types.CORSConfiguration{
		CORSRules: []types.CORSRule{{AllowedMethods: []string{"GET"}, AllowedOrigins: []string{"*"}}}}})
	wantCode(t, err, "AccessDenied")
	must[*s3.HeadBucketOutput](t)(c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: b}))
}
