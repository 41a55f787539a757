package gateway_test

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"io"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestChecksumMD5 (issue 9 #13): x-amz-checksum-md5, which current SDKs
// can send, is verified and stored like the other algorithms (it was
// refused as unsupported); a wrong value is BadDigest and stores nothing.
func TestChecksumMD5(t *testing.T) {
	g := startGateway(t)
	c := g.client(0, true)
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("md5")}))
	body := randBytes(10000)
	sum := md5.Sum(body)
	put := func(key, val string) (int, string) {
		req, _ := http.NewRequest("PUT", g.url+"/md5/"+key, bytes.NewReader(body))
		req.Header.Set("x-amz-checksum-md5", val)
		if err := newSigner()(req, testKeys[0].AccessKey, testKeys[0].SecretKey); err != nil {
			t.Fatal(err)
		}
		resp, err := g.httpClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	good := base64.StdEncoding.EncodeToString(sum[:])
	if status, msg := put("good", good); status != 200 {
		t.Fatalf("good md5: %d %s", status, msg)
	}
	obj, err := g.meta.GetObject(ctx, "md5", "good", "")
	if err != nil || obj.Checksums["MD5"] != good {
		t.Fatalf("stored checksums %v, %v", obj.Checksums, err)
	}
	other := md5.Sum([]byte("x"))
	if status, msg := put("bad", base64.StdEncoding.EncodeToString(other[:])); status != 400 || !bytes.Contains([]byte(msg), []byte("BadDigest")) {
		t.Fatalf("wrong md5: %d %s", status, msg)
	}
	if _, err := g.meta.GetObject(ctx, "md5", "bad", ""); err == nil {
		t.Fatal("object stored despite a wrong checksum")
	}
}
