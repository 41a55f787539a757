package gateway_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	mcreds "github.com/minio/minio-go/v7/pkg/credentials"
)

func (g *testGateway) minio(t *testing.T, virtualHost bool) *minio.Client {
	t.Helper()
	host := g.srv.Listener.Addr().String()
	lookup := minio.BucketLookupPath
	if virtualHost {
		_, port, _ := net.SplitHostPort(host)
		host = testDomain + ":" + port
		lookup = minio.BucketLookupDNS
	}
	c, err := minio.New(host, &minio.Options{
		Creds:        mcreds.NewStaticV4(testKeys[1].AccessKey, testKeys[1].SecretKey, ""),
		Region:       "us-east-1",
		BucketLookup: lookup,
		Transport:    g.httpClient().Transport,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestMinio drives the gateway with minio-go, which signs every PUT over
// http with STREAMING-AWS4-HMAC-SHA256-PAYLOAD.
func TestMinio(t *testing.T) {
	g := startGateway(t)
	for _, vh := range []bool{false, true} {
		t.Run(fmt.Sprintf("virtualHost=%v", vh), func(t *testing.T) {
			c := g.minio(t, vh)
			bucket := fmt.Sprintf("minio-%v", vh)
			if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
				t.Fatal(err)
			}
			small := randBytes(70000)
			info, err := c.PutObject(ctx, bucket, "small", bytes.NewReader(small), int64(len(small)),
				minio.PutObjectOptions{ContentType: "text/x-small", UserMetadata: map[string]string{"origin": "minio"}})
			if err != nil || info.Size != int64(len(small)) {
				t.Fatalf("put small: %v %+v", err, info)
			}
			// 12 MiB in 5 MiB parts: a multipart upload with streaming signatures.
			large := randBytes(12 << 20)
			if _, err := c.PutObject(ctx, bucket, "large", bytes.NewReader(large), int64(len(large)),
				minio.PutObjectOptions{PartSize: 5 << 20}); err != nil {
				t.Fatal(err)
			}
			st, err := c.StatObject(ctx, bucket, "small", minio.StatObjectOptions{})
			if err != nil || st.ContentType != "text/x-small" || st.UserMetadata["Origin"] != "minio" {
				t.Fatalf("stat: %v %+v", err, st)
			}
			opts := minio.GetObjectOptions{}
			opts.SetRange(5<<20-3, 5<<20+2)
			obj, err := c.GetObject(ctx, bucket, "large", opts)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(obj)
			if err != nil {
				t.Fatal(err)
			}
			mustEqual(t, "minio range", got, large[5<<20-3:5<<20+3])
			obj, _ = c.GetObject(ctx, bucket, "large", minio.GetObjectOptions{})
			got, err = io.ReadAll(obj)
			if err != nil {
				t.Fatal(err)
			}
			mustEqual(t, "minio large", got, large)

			if _, err := c.CopyObject(ctx, minio.CopyDestOptions{Bucket: bucket, Object: "copy"}, minio.CopySrcOptions{Bucket: bucket, Object: "small"}); err != nil {
				t.Fatal(err)
			}
			var names []string
			for o := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
				if o.Err != nil {
					t.Fatal(o.Err)
				}
				names = append(names, o.Key)
			}
			if fmt.Sprint(names) != "[copy large small]" {
				t.Fatalf("listed %v", names)
			}
			params := url.Values{"response-content-disposition": {`attachment; filename="s.bin"`}}
			u, err := c.PresignedGetObject(ctx, bucket, "copy", time.Minute, params)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := g.httpClient().Get(u.String())
			if err != nil {
				t.Fatal(err)
			}
			body := readAll(t, resp.Body)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Disposition") != `attachment; filename="s.bin"` {
				t.Fatalf("presigned: %d %v", resp.StatusCode, resp.Header)
			}
			mustEqual(t, "presigned copy", body, small)

			ch := make(chan minio.ObjectInfo, 3)
			for _, n := range names {
				ch <- minio.ObjectInfo{Key: n}
			}
			close(ch)
			for e := range c.RemoveObjects(ctx, bucket, ch, minio.RemoveObjectsOptions{}) {
				t.Fatalf("remove %s: %v", e.ObjectName, e.Err)
			}
			if err := c.RemoveBucket(ctx, bucket); err != nil {
				t.Fatal(err)
			}
		})
	}
	if _, ok := g.payloadModes.Load("STREAMING-AWS4-HMAC-SHA256-PAYLOAD"); !ok {
		t.Error("minio-go never sent a STREAMING-AWS4-HMAC-SHA256-PAYLOAD body")
	}
	if n, tmp := g.blobFiles(); n != 0 || tmp != 0 {
		t.Fatalf("%d blobs, %d temp files left", n, tmp)
	}
}
