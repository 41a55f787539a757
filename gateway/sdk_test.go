package gateway_test

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func TestBucketsWithSDK(t *testing.T) {
	g := startGateway(t)
	for _, pathStyle := range []bool{true, false} {
		t.Run(fmt.Sprintf("pathStyle=%v", pathStyle), func(t *testing.T) {
			c := g.client(0, pathStyle)
			name := fmt.Sprintf("bucket-%v", pathStyle)
			must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}))
			// The owner may repeat the create in us-east-1; anyone else may not.
			if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
				t.Fatalf("repeat create by owner: %v", err)
			}
			_, err := g.client(2, pathStyle).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)})
			wantCode(t, err, "BucketAlreadyExists")
			// A second key of the same account owns the bucket too.
			must[*s3.HeadBucketOutput](t)(g.client(1, pathStyle).HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(name)}))

			loc := must[*s3.GetBucketLocationOutput](t)(c.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String(name)}))
			if loc.LocationConstraint != "" {
				t.Errorf("location %q", loc.LocationConstraint)
			}
			list := must[*s3.ListBucketsOutput](t)(c.ListBuckets(ctx, &s3.ListBucketsInput{}))
			found := false
			for _, b := range list.Buckets {
				found = found || aws.ToString(b.Name) == name
			}
			if !found || aws.ToString(list.Owner.ID) != "main-user" {
				t.Fatalf("bucket %s not listed for main-user: %+v", name, list.Buckets)
			}
			// alt owns no bucket
			alt := must[*s3.ListBucketsOutput](t)(g.client(2, pathStyle).ListBuckets(ctx, &s3.ListBucketsInput{}))
			if len(alt.Buckets) != 0 {
				t.Fatalf("alt sees %d buckets", len(alt.Buckets))
			}

			must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(name), Key: aws.String("k"), Body: strings.NewReader("x")}))
			_, err = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(name)})
			wantCode(t, err, "BucketNotEmpty")
			must[*s3.DeleteObjectOutput](t)(c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(name), Key: aws.String("k")}))
			must[*s3.DeleteBucketOutput](t)(c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(name)}))
			_, err = c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(name)})
			if err == nil {
				t.Fatal("deleted bucket still answers HEAD")
			}
			_, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(name)})
			wantCode(t, err, "NoSuchBucket")
		})
	}
	c := g.client(0, true)
	for _, bad := range []string{"ab", "Upper", "-dash", "a..b", "192.168.1.1", strings.Repeat("a", 64)} {
		_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bad)})
		wantCode(t, err, "InvalidBucketName")
	}
}

func TestObjectsWithSDK(t *testing.T) {
	g := startGateway(t)
	for _, pathStyle := range []bool{true, false} {
		t.Run(fmt.Sprintf("pathStyle=%v", pathStyle), func(t *testing.T) {
			c := g.client(0, pathStyle)
			b := aws.String(fmt.Sprintf("objects-%v", pathStyle))
			must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}))
			data := randBytes(100000)
			sum := md5.Sum(data)
			key := aws.String("dir/sub dir/ü+file.bin")
			put := must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{
				Bucket: b, Key: key, Body: bytes.NewReader(data),
				ContentType: aws.String("image/png"), CacheControl: aws.String("max-age=60"),
				ContentDisposition: aws.String(`attachment; filename="a.png"`), ContentLanguage: aws.String("de"),
				Expires:           aws.Time(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)),
				Metadata:          map[string]string{"Color": "blue", "x-y": "z"},
				ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c,
			}))
			if want := `"` + hex.EncodeToString(sum[:]) + `"`; aws.ToString(put.ETag) != want {
				t.Fatalf("etag %s, want %s", aws.ToString(put.ETag), want)
			}
			if put.ChecksumCRC32C == nil {
				t.Fatal("no CRC32C returned")
			}
			head := must[*s3.HeadObjectOutput](t)(c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: key, ChecksumMode: types.ChecksumModeEnabled}))
			if aws.ToString(head.ContentType) != "image/png" || aws.ToString(head.CacheControl) != "max-age=60" ||
				aws.ToString(head.ContentDisposition) != `attachment; filename="a.png"` || aws.ToString(head.ContentLanguage) != "de" ||
				head.Metadata["color"] != "blue" || head.Metadata["x-y"] != "z" || aws.ToInt64(head.ContentLength) != int64(len(data)) ||
				aws.ToString(head.ChecksumCRC32C) != aws.ToString(put.ChecksumCRC32C) {
				t.Fatalf("head: %+v", head)
			}
			got := must[*s3.GetObjectOutput](t)(c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: key}))
			mustEqual(t, "get", readAll(t, got.Body), data)

			ranges := []struct {
				spec       string
				start, end int
			}{{"bytes=0-9", 0, 10}, {"bytes=99990-", 99990, 100000}, {"bytes=-7", 99993, 100000}, {"bytes=500-99999999", 500, 100000}}
			for _, r := range ranges {
				out := must[*s3.GetObjectOutput](t)(c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: key, Range: aws.String(r.spec)}))
				mustEqual(t, r.spec, readAll(t, out.Body), data[r.start:r.end])
				if want := fmt.Sprintf("bytes %d-%d/%d", r.start, r.end-1, len(data)); aws.ToString(out.ContentRange) != want {
					t.Fatalf("%s: content-range %q want %q", r.spec, aws.ToString(out.ContentRange), want)
				}
			}
			_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: key, Range: aws.String("bytes=100000-")})
			wantCode(t, err, "InvalidRange")

			// Conditional GETs.
			_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: key, IfMatch: aws.String(`"nope"`)})
			wantCode(t, err, "PreconditionFailed")
			_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: key, IfNoneMatch: put.ETag})
			if !strings.Contains(fmt.Sprint(err), "304") {
				t.Fatalf("If-None-Match: want 304, got %v", err)
			}
			past, future := time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
			_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: key, IfUnmodifiedSince: aws.Time(past)})
			wantCode(t, err, "PreconditionFailed")
			_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: key, IfModifiedSince: aws.Time(future)})
			if !strings.Contains(fmt.Sprint(err), "304") {
				t.Fatalf("If-Modified-Since: want 304, got %v", err)
			}
			// If-Match true wins over a failing If-Unmodified-Since.
			out := must[*s3.GetObjectOutput](t)(c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: key, IfMatch: put.ETag, IfUnmodifiedSince: aws.Time(past)}))
			out.Body.Close()

			// Response header overrides on a signed request.
			out = must[*s3.GetObjectOutput](t)(c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: key,
				ResponseContentType: aws.String("text/plain"), ResponseContentDisposition: aws.String("inline"),
				ResponseCacheControl: aws.String("no-store")}))
			out.Body.Close()
			if aws.ToString(out.ContentType) != "text/plain" || aws.ToString(out.ContentDisposition) != "inline" || aws.ToString(out.CacheControl) != "no-store" {
				t.Fatalf("overrides: %+v", out)
			}

			// Empty object, metadata replaced on overwrite.
			must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: key, Body: bytes.NewReader(nil)}))
			head = must[*s3.HeadObjectOutput](t)(c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: key}))
			if aws.ToInt64(head.ContentLength) != 0 || len(head.Metadata) != 0 || aws.ToString(head.ContentType) == "image/png" || head.CacheControl != nil {
				t.Fatalf("overwritten head: %+v", head)
			}

			must[*s3.DeleteObjectOutput](t)(c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: key}))
			_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: key})
			wantCode(t, err, "NoSuchKey")
			// Deleting again succeeds, as in S3.
			must[*s3.DeleteObjectOutput](t)(c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: key}))
			_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String(strings.Repeat("k", 1025)), Body: strings.NewReader("x")})
			wantCode(t, err, "KeyTooLongError")
			_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("no-such-bucket"), Key: aws.String("k"), Body: strings.NewReader("x")})
			wantCode(t, err, "NoSuchBucket")
		})
	}
}

func TestConditionalPut(t *testing.T) {
	g := startGateway(t)
	c := g.client(0, true)
	b := aws.String("cond")
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}))
	k := aws.String("k")
	p := must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: k, Body: strings.NewReader("1"), IfNoneMatch: aws.String("*")}))
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: k, Body: strings.NewReader("2"), IfNoneMatch: aws.String("*")})
	wantCode(t, err, "PreconditionFailed")
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: k, Body: strings.NewReader("2"), IfMatch: aws.String(`"bad"`)})
	wantCode(t, err, "PreconditionFailed")
	must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: k, Body: strings.NewReader("3"), IfMatch: p.ETag}))
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("absent"), Body: strings.NewReader("2"), IfMatch: aws.String("*")})
	wantCode(t, err, "NoSuchKey")
	out := must[*s3.GetObjectOutput](t)(c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: k}))
	if got := string(readAll(t, out.Body)); got != "3" {
		t.Fatalf("content %q", got)
	}
}

func TestListingsWithSDK(t *testing.T) {
	g := startGateway(t)
	c := g.client(0, true)
	b := aws.String("lists")
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}))
	keys := []string{"a/1", "a/2", "a/b/3", "b", "c/1", "c/2", "d", "e f+g", "z\nnewline"}
	for _, k := range keys {
		must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String(k), Body: strings.NewReader(k)}))
	}
	// v2 with delimiter, paged two at a time.
	var gotKeys, gotPrefixes []string
	var token *string
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("too many pages")
		}
		out := must[*s3.ListObjectsV2Output](t)(c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: b, Delimiter: aws.String("/"), MaxKeys: aws.Int32(2), ContinuationToken: token}))
		for _, o := range out.Contents {
			gotKeys = append(gotKeys, aws.ToString(o.Key))
		}
		for _, p := range out.CommonPrefixes {
			gotPrefixes = append(gotPrefixes, aws.ToString(p.Prefix))
		}
		if aws.ToInt32(out.KeyCount) != int32(len(out.Contents)+len(out.CommonPrefixes)) {
			t.Fatalf("KeyCount %d", aws.ToInt32(out.KeyCount))
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		token = out.NextContinuationToken
	}
	if want := "b,d,e f+g,z\nnewline"; strings.Join(gotKeys, ",") != want {
		t.Fatalf("keys %q want %q", strings.Join(gotKeys, ","), want)
	}
	if want := "a/,c/"; strings.Join(gotPrefixes, ",") != want {
		t.Fatalf("prefixes %q", strings.Join(gotPrefixes, ","))
	}
	// v1 with prefix and marker.
	v1 := must[*s3.ListObjectsOutput](t)(c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: b, Prefix: aws.String("a/"), Marker: aws.String("a/1")}))
	if len(v1.Contents) != 2 || aws.ToString(v1.Contents[0].Key) != "a/2" || v1.Contents[0].Owner == nil {
		t.Fatalf("v1: %+v", v1.Contents)
	}
	// start-after and fetch-owner.
	v2 := must[*s3.ListObjectsV2Output](t)(c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: b, StartAfter: aws.String("c/2"), FetchOwner: aws.Bool(true)}))
	if len(v2.Contents) != 3 || aws.ToString(v2.Contents[0].Key) != "d" || aws.ToString(v2.Contents[0].Owner.ID) != "main-user" {
		t.Fatalf("start-after: %+v", v2.Contents)
	}
	// The SDK asks for encoding-type=url and decodes; a raw request sees the encoding.
	req, _ := http.NewRequest("GET", g.url+"/lists?encoding-type=url&prefix=e", nil)
	signRequest(t, req, 0)
	resp := must[*http.Response](t)(g.httpClient().Do(req))
	body := string(readAll(t, resp.Body))
	if !strings.Contains(body, "<Key>e%20f%2Bg</Key>") {
		t.Fatalf("url encoding: %s", body)
	}
	_, err := c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: b, EncodingType: "bogus"})
	wantCode(t, err, "InvalidArgument")
}

// signRequest signs a raw request with SigV4 for key i (unsigned payload).
func signRequest(t *testing.T, req *http.Request, i int) {
	t.Helper()
	signer := newSigner()
	if err := signer(req, testKeys[i].AccessKey, testKeys[i].SecretKey); err != nil {
		t.Fatal(err)
	}
}

func TestDeleteObjectsAndCopy(t *testing.T) {
	g := startGateway(t)
	c := g.client(0, true)
	b := aws.String("del")
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}))
	var ids []types.ObjectIdentifier
	for i := 0; i < 300; i++ {
		ids = append(ids, types.ObjectIdentifier{Key: aws.String(fmt.Sprintf("media/%04d", i))})
	}
	putMany(t, c, b, ids)
	ids = append(ids, types.ObjectIdentifier{Key: aws.String("never-existed")})
	out := must[*s3.DeleteObjectsOutput](t)(c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: b, Delete: &types.Delete{Objects: ids}}))
	if len(out.Deleted) != 301 || len(out.Errors) != 0 {
		t.Fatalf("deleted %d, errors %d", len(out.Deleted), len(out.Errors))
	}
	quiet := must[*s3.DeleteObjectsOutput](t)(c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: b, Delete: &types.Delete{Objects: ids[:5], Quiet: aws.Bool(true)}}))
	if len(quiet.Deleted) != 0 {
		t.Fatalf("quiet mode listed %d", len(quiet.Deleted))
	}
	list := must[*s3.ListObjectsV2Output](t)(c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: b}))
	if len(list.Contents) != 0 {
		t.Fatalf("%d objects left", len(list.Contents))
	}
	if n, tmp := g.blobFiles(); n != 0 || tmp != 0 {
		t.Fatalf("%d blob files and %d temp files left after deleting everything", n, tmp)
	}
	many := make([]types.ObjectIdentifier, 1001)
	for i := range many {
		many[i] = types.ObjectIdentifier{Key: aws.String(fmt.Sprint(i))}
	}
	_, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: b, Delete: &types.Delete{Objects: many}})
	wantCode(t, err, "MalformedXML")

	// CopyObject: metadata COPY and REPLACE, self-copy rules, conditions.
	must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("src"), Body: strings.NewReader("source"),
		ContentType: aws.String("text/x-src"), Metadata: map[string]string{"m": "1"}}))
	cp := must[*s3.CopyObjectOutput](t)(c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String("dst ü"), CopySource: aws.String("del/src")}))
	if cp.CopyObjectResult == nil || aws.ToString(cp.CopyObjectResult.ETag) == "" {
		t.Fatal("no copy result")
	}
	h := must[*s3.HeadObjectOutput](t)(c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String("dst ü")}))
	if aws.ToString(h.ContentType) != "text/x-src" || h.Metadata["m"] != "1" {
		t.Fatalf("copied head %+v", h)
	}
	must[*s3.CopyObjectOutput](t)(c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String("dst2"), CopySource: aws.String("del/dst%20%C3%BC"),
		MetadataDirective: types.MetadataDirectiveReplace, ContentType: aws.String("text/new"), Metadata: map[string]string{"n": "2"}}))
	h = must[*s3.HeadObjectOutput](t)(c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String("dst2")}))
	if aws.ToString(h.ContentType) != "text/new" || h.Metadata["n"] != "2" || h.Metadata["m"] != "" {
		t.Fatalf("replaced head %+v", h)
	}
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String("src"), CopySource: aws.String("del/src")})
	wantCode(t, err, "InvalidRequest")
	must[*s3.CopyObjectOutput](t)(c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String("src"), CopySource: aws.String("del/src"), MetadataDirective: types.MetadataDirectiveReplace}))
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String("x"), CopySource: aws.String("del/src"), CopySourceIfMatch: aws.String(`"no"`)})
	wantCode(t, err, "PreconditionFailed")
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String("x"), CopySource: aws.String("del/missing")})
	wantCode(t, err, "NoSuchKey")
	got := must[*s3.GetObjectOutput](t)(c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("dst2")}))
	if s := string(readAll(t, got.Body)); s != "source" {
		t.Fatalf("copied data %q", s)
	}
}

// putMany uploads one small object per key, 16 at a time.
func putMany(t *testing.T, c *s3.Client, b *string, ids []types.ObjectIdentifier) {
	t.Helper()
	errs := make(chan error, len(ids))
	sem := make(chan struct{}, 16)
	for _, id := range ids {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: id.Key, Body: strings.NewReader(*id.Key)})
			errs <- err
		}()
	}
	for range ids {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
