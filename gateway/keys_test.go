package gateway_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/datdot/datdot/gateway/store"
)

// TestKeysMustBeUTF8: a key that is not UTF-8 is refused with 400
// InvalidURI (as AWS does) by every call that names it, and nothing is
// stored.
func TestKeysMustBeUTF8(t *testing.T) {
	g := startGateway(t)
	c := g.client(0, true)
	b := aws.String("utf")
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}))
	for _, key := range []string{"dir/\xff\xffx", "a\xc3", "\xed\xa0\x80surrogate", "ok/\xfe"} {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String(key), Body: strings.NewReader("x")})
		wantCode(t, err, "InvalidURI")
		_, err = c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String(key)})
		wantCode(t, err, "InvalidURI")
		_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String(key), CopySource: aws.String("utf/none")})
		wantCode(t, err, "InvalidURI")
		_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String(key)})
		wantCode(t, err, "InvalidURI")
	}
	// Valid multi-byte keys are fine.
	must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("ünï/çødé/🙂"), Body: strings.NewReader("x")}))
	l := must[*s3.ListObjectsV2Output](t)(c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: b}))
	if len(l.Contents) != 1 || aws.ToString(l.Contents[0].Key) != "ünï/çødé/🙂" {
		t.Fatalf("listing: %+v", l.Contents)
	}
}

// TestListingWithFFKeys: keys containing the byte 0xff, stored before keys
// were checked (written here straight into the metadata, whose records
// cannot spell them), never make a listing loop: V1, V2, versions and
// uploads with and without a delimiter, at every page size, either list or
// answer 500 at once. Such keys can be deleted and aborted by name, and then
// every listing is exact.
func TestListingWithFFKeys(t *testing.T) {
	g := startGateway(t)
	c := g.client(0, true)
	b := aws.String("ffkeys")
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}))
	owner := store.Owner{ID: testKeys[0].UserID, DisplayName: testKeys[0].DisplayName}
	legacy := []string{"dir/\xff\xffx", "dir/\xff", "dir/\xff/y", "e\xff/z", "e\xff\xff"}
	for i, k := range legacy {
		if _, _, err := g.meta.PutObject(ctx, "ffkeys", store.Object{Key: k, ETag: "d41d8cd98f00b204e9800998ecf8427e", Modified: time.Now(), Owner: owner}, nil); err != nil {
			t.Fatal(err)
		}
		if err := g.meta.CreateUpload(ctx, store.Upload{Bucket: "ffkeys", Key: k, UploadID: fmt.Sprintf("legacy%d", i), Initiated: time.Now(), Owner: owner}); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"dir/a", "dir/b/c", "e/1", "f"} {
		must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String(k), Body: strings.NewReader("x")}))
		must[*s3.CreateMultipartUploadOutput](t)(c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String(k)}))
	}
	kinds := []string{"V1", "V2", "versions", "uploads"}
	for _, tc := range []struct{ prefix, delim string }{{"", "/"}, {"dir/", "/"}, {"", ""}, {"", "\xff"}, {"e", "\xff"}} {
		for _, max := range []int32{1, 2, 3, 1000} {
			for _, kind := range kinds {
				_, prefixes, err := listAll(t, c, kind, "ffkeys", tc.prefix, tc.delim, max)
				if err != nil && apiCode(err) != "InternalError" {
					t.Fatalf("%s %+v max %d: %v", kind, tc, max, err)
				}
				noDuplicates(t, kind, prefixes)
			}
		}
	}
	// A legacy key can be deleted and its upload aborted by name.
	for i, k := range legacy {
		must[*s3.DeleteObjectOutput](t)(c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String(k)}))
		must[*s3.AbortMultipartUploadOutput](t)(c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: b, Key: aws.String(k), UploadId: aws.String(fmt.Sprintf("legacy%d", i))}))
	}
	for _, tc := range []struct {
		prefix, delim  string
		objs, prefixes []string
	}{
		{"", "/", []string{"f"}, []string{"dir/", "e/"}},
		{"dir/", "/", []string{"dir/a"}, []string{"dir/b/"}},
		{"", "", []string{"dir/a", "dir/b/c", "e/1", "f"}, nil},
		{"", "\xff", []string{"dir/a", "dir/b/c", "e/1", "f"}, nil},
	} {
		for _, max := range []int32{1, 2, 3, 1000} {
			for _, kind := range kinds {
				objs, prefixes, err := listAll(t, c, kind, "ffkeys", tc.prefix, tc.delim, max)
				if err != nil {
					t.Fatalf("%s %+v max %d: %v", kind, tc, max, err)
				}
				if fmt.Sprint(objs) != fmt.Sprint(tc.objs) || fmt.Sprint(prefixes) != fmt.Sprint(tc.prefixes) {
					t.Fatalf("%s %q %q max %d: got %q %q, want %q %q", kind, tc.prefix, tc.delim, max, objs, prefixes, tc.objs, tc.prefixes)
				}
			}
		}
	}
}

func noDuplicates(t *testing.T, what string, list []string) {
	t.Helper()
	seen := map[string]bool{}
	for _, p := range list {
		if seen[p] {
			t.Fatalf("%s: %q twice: %q", what, p, list)
		}
		seen[p] = true
	}
}

// listAll pages through a listing of kind V1, V2, versions or uploads with
// url encoding and returns the (decoded) keys and common prefixes. Each
// request has 20 s to answer; a listing of more than 100 pages fails.
func listAll(t *testing.T, c *s3.Client, kind, bucket, prefix, delim string, max int32) (objs, prefixes []string, err error) {
	t.Helper()
	dec := func(s *string) string {
		u, err := url.QueryUnescape(aws.ToString(s))
		if err != nil {
			t.Fatalf("undecodable listing value %q", aws.ToString(s))
		}
		return u
	}
	var marker, idMarker *string
	for page := 0; page < 100; page++ {
		rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		truncated := false
		switch kind {
		case "V1":
			var l *s3.ListObjectsOutput
			l, err = c.ListObjects(rctx, &s3.ListObjectsInput{Bucket: &bucket, Prefix: &prefix, Delimiter: &delim, MaxKeys: &max, Marker: marker, EncodingType: types.EncodingTypeUrl})
			if err == nil {
				for _, o := range l.Contents {
					objs = append(objs, dec(o.Key))
					marker = aws.String(dec(o.Key))
				}
				for _, p := range l.CommonPrefixes {
					prefixes = append(prefixes, dec(p.Prefix))
				}
				if truncated = aws.ToBool(l.IsTruncated); truncated && l.NextMarker != nil {
					marker = aws.String(dec(l.NextMarker))
				}
			}
		case "V2":
			var l *s3.ListObjectsV2Output
			l, err = c.ListObjectsV2(rctx, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &prefix, Delimiter: &delim, MaxKeys: &max, ContinuationToken: marker, EncodingType: types.EncodingTypeUrl})
			if err == nil {
				for _, o := range l.Contents {
					objs = append(objs, dec(o.Key))
				}
				for _, p := range l.CommonPrefixes {
					prefixes = append(prefixes, dec(p.Prefix))
				}
				truncated, marker = aws.ToBool(l.IsTruncated), l.NextContinuationToken
			}
		case "versions":
			var l *s3.ListObjectVersionsOutput
			l, err = c.ListObjectVersions(rctx, &s3.ListObjectVersionsInput{Bucket: &bucket, Prefix: &prefix, Delimiter: &delim, MaxKeys: &max, KeyMarker: marker, VersionIdMarker: idMarker, EncodingType: types.EncodingTypeUrl})
			if err == nil {
				for _, o := range l.Versions {
					objs = append(objs, dec(o.Key))
				}
				for _, p := range l.CommonPrefixes {
					prefixes = append(prefixes, dec(p.Prefix))
				}
				if truncated = aws.ToBool(l.IsTruncated); truncated {
					marker, idMarker = aws.String(dec(l.NextKeyMarker)), l.NextVersionIdMarker
				}
			}
		case "uploads":
			var l *s3.ListMultipartUploadsOutput
			l, err = c.ListMultipartUploads(rctx, &s3.ListMultipartUploadsInput{Bucket: &bucket, Prefix: &prefix, Delimiter: &delim, MaxUploads: &max, KeyMarker: marker, UploadIdMarker: idMarker, EncodingType: types.EncodingTypeUrl})
			if err == nil {
				for _, o := range l.Uploads {
					objs = append(objs, dec(o.Key))
				}
				for _, p := range l.CommonPrefixes {
					prefixes = append(prefixes, dec(p.Prefix))
				}
				if truncated = aws.ToBool(l.IsTruncated); truncated {
					marker, idMarker = aws.String(dec(l.NextKeyMarker)), l.NextUploadIdMarker
				}
			}
		}
		cancel()
		if err != nil || !truncated {
			return objs, prefixes, err
		}
	}
	t.Fatalf("%s listing of %q %q max %d: more than 100 pages", kind, prefix, delim, max)
	return nil, nil, nil
}

// TestListingModel lists a real gateway against an in-memory model: random
// UTF-8 keys with delimiters (and refused non-UTF-8 attempts), random
// prefixes, delimiters and page sizes, and deletes between pages, for V1,
// V2, versions and uploads. Keys present for the whole listing are listed
// exactly once, deleted ones at most once, nothing else appears, and no
// common prefix repeats.
func TestListingModel(t *testing.T) {
	g := startGateway(t)
	c := g.client(0, true)
	rng := rand.New(rand.NewPCG(7, 11))
	alphabet := []string{"a", "b", "/", "é", "-", "ÿ", "\U0001F642"}
	randKey := func() string {
		var sb strings.Builder
		for i := 1 + rng.IntN(5); i > 0; i-- {
			sb.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		return sb.String()
	}
	for round := 0; round < 4; round++ {
		bucket := fmt.Sprintf("model%d", round)
		must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}))
		keys := map[string]bool{}
		uploads := map[string]string{}
		for i := 0; i < 30; i++ {
			k := randKey()
			if rng.IntN(8) == 0 {
				// An attempt with a byte that is not UTF-8 is refused.
				_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(k + "\xff"), Body: strings.NewReader("x")})
				wantCode(t, err, "InvalidURI")
				continue
			}
			must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(k), Body: strings.NewReader("x")}))
			keys[k] = true
			if _, ok := uploads[k]; !ok {
				up := must[*s3.CreateMultipartUploadOutput](t)(c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: aws.String(k)}))
				uploads[k] = aws.ToString(up.UploadId)
			}
		}
		for _, kind := range []string{"V1", "V2", "versions", "uploads"} {
			prefix := ""
			if rng.IntN(2) == 0 {
				prefix = alphabet[rng.IntN(len(alphabet))]
			}
			delim := []string{"", "/", "é", "b/"}[rng.IntN(4)]
			max := int32(1 + rng.IntN(4))
			// Page by page, deleting a random key between pages.
			present := map[string]bool{}
			for k := range keys {
				present[k] = true
			}
			deleted := map[string]bool{}
			seen := map[string]int{}
			var marker, idMarker *string
			for page := 0; ; page++ {
				if page > 200 {
					t.Fatalf("%s: listing does not end", kind)
				}
				objs, prefixes, next, nextID, truncated := listPage(t, c, kind, bucket, prefix, delim, max, marker, idMarker)
				for _, o := range objs {
					seen[o]++
				}
				for _, p := range prefixes {
					seen["prefix:"+p]++
				}
				if !truncated {
					break
				}
				marker, idMarker = next, nextID
				for k := range present {
					if rng.IntN(4) == 0 {
						if kind == "uploads" {
							must[*s3.AbortMultipartUploadOutput](t)(c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &bucket, Key: aws.String(k), UploadId: aws.String(uploads[k])}))
							delete(uploads, k)
						} else {
							must[*s3.DeleteObjectOutput](t)(c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: aws.String(k)}))
						}
						delete(present, k)
						deleted[k] = true
						break
					}
				}
			}
			// The model: each key under prefix is an entry or, with a
			// delimiter after the prefix, a common prefix.
			want := map[string]bool{}
			maybe := map[string]bool{}
			for k := range keys {
				if !strings.HasPrefix(k, prefix) {
					continue
				}
				e := k
				if delim != "" {
					if i := strings.Index(k[len(prefix):], delim); i >= 0 {
						e = "prefix:" + k[:len(prefix)+i+len(delim)]
					}
				}
				if present[k] {
					want[e] = true
				} else {
					maybe[e] = true
				}
			}
			for e, n := range seen {
				if n > 1 {
					t.Fatalf("%s %q %q max %d: %q listed %d times", kind, prefix, delim, max, e, n)
				}
				if !want[e] && !maybe[e] {
					t.Fatalf("%s %q %q max %d: %q listed but not in the model", kind, prefix, delim, max, e)
				}
			}
			for e := range want {
				if seen[e] != 1 {
					t.Fatalf("%s %q %q max %d: %q not listed", kind, prefix, delim, max, e)
				}
			}
			// Restore the model for the next kind.
			for k := range deleted {
				if kind == "uploads" {
					up := must[*s3.CreateMultipartUploadOutput](t)(c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: aws.String(k)}))
					uploads[k] = aws.ToString(up.UploadId)
				} else {
					must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(k), Body: strings.NewReader("x")}))
				}
			}
		}
	}
}

// listPage fetches one page of a listing (url-encoded, decoded here) and
// returns its entries, common prefixes and the markers of the next page.
func listPage(t *testing.T, c *s3.Client, kind, bucket, prefix, delim string, max int32, marker, idMarker *string) (objs, prefixes []string, next, nextID *string, truncated bool) {
	t.Helper()
	dec := func(s *string) string {
		u, err := url.QueryUnescape(aws.ToString(s))
		if err != nil {
			t.Fatalf("undecodable listing value %q", aws.ToString(s))
		}
		return u
	}
	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	switch kind {
	case "V1":
		l := must[*s3.ListObjectsOutput](t)(c.ListObjects(rctx, &s3.ListObjectsInput{Bucket: &bucket, Prefix: &prefix, Delimiter: &delim, MaxKeys: &max, Marker: marker, EncodingType: types.EncodingTypeUrl}))
		for _, o := range l.Contents {
			objs = append(objs, dec(o.Key))
			next = aws.String(dec(o.Key))
		}
		for _, p := range l.CommonPrefixes {
			prefixes = append(prefixes, dec(p.Prefix))
		}
		if l.NextMarker != nil {
			next = aws.String(dec(l.NextMarker))
		}
		return objs, prefixes, next, nil, aws.ToBool(l.IsTruncated)
	case "V2":
		l := must[*s3.ListObjectsV2Output](t)(c.ListObjectsV2(rctx, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &prefix, Delimiter: &delim, MaxKeys: &max, ContinuationToken: marker, EncodingType: types.EncodingTypeUrl}))
		for _, o := range l.Contents {
			objs = append(objs, dec(o.Key))
		}
		for _, p := range l.CommonPrefixes {
			prefixes = append(prefixes, dec(p.Prefix))
		}
		return objs, prefixes, l.NextContinuationToken, nil, aws.ToBool(l.IsTruncated)
	case "versions":
		l := must[*s3.ListObjectVersionsOutput](t)(c.ListObjectVersions(rctx, &s3.ListObjectVersionsInput{Bucket: &bucket, Prefix: &prefix, Delimiter: &delim, MaxKeys: &max, KeyMarker: marker, VersionIdMarker: idMarker, EncodingType: types.EncodingTypeUrl}))
		for _, o := range l.Versions {
			objs = append(objs, dec(o.Key))
		}
		for _, p := range l.CommonPrefixes {
			prefixes = append(prefixes, dec(p.Prefix))
		}
		return objs, prefixes, aws.String(dec(l.NextKeyMarker)), l.NextVersionIdMarker, aws.ToBool(l.IsTruncated)
	default:
		l := must[*s3.ListMultipartUploadsOutput](t)(c.ListMultipartUploads(rctx, &s3.ListMultipartUploadsInput{Bucket: &bucket, Prefix: &prefix, Delimiter: &delim, MaxUploads: &max, KeyMarker: marker, UploadIdMarker: idMarker, EncodingType: types.EncodingTypeUrl}))
		for _, o := range l.Uploads {
			objs = append(objs, dec(o.Key))
		}
		for _, p := range l.CommonPrefixes {
			prefixes = append(prefixes, dec(p.Prefix))
		}
		return objs, prefixes, aws.String(dec(l.NextKeyMarker)), l.NextUploadIdMarker, aws.ToBool(l.IsTruncated)
	}
}
