package gateway_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
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
