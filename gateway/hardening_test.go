package gateway_test

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7/pkg/signer"
)

// TestUnimplementedSubresources: a subresource the gateway does not
// implement answers 501 NotImplemented, never the object's bytes or a
// listing.
func TestUnimplementedSubresources(t *testing.T) {
	g := startGateway(t)
	c := g.client(0, true)
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("sub")}))
	const body = "object-bytes-that-must-not-leak"
	must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("sub"), Key: aws.String("k"), Body: strings.NewReader(body)}))
	for _, tc := range []struct{ method, path string }{
		{"GET", "/sub/k?torrent"},
		{"POST", "/sub/k?restore"}, {"GET", "/sub/k?restore"}, {"POST", "/sub/k?select&select-type=2"},
		{"GET", "/sub?analytics"}, {"GET", "/sub?inventory"}, {"GET", "/sub?metrics"},
		{"GET", "/sub?intelligent-tiering"}, {"PUT", "/sub?metrics&id=x"}, {"GET", "/sub?session"},
	} {
		code, resp := g.rawDo(t, tc.method, tc.path, nil, nil)
		if code != 501 || !strings.Contains(resp, "<Code>NotImplemented</Code>") || strings.Contains(resp, body) || strings.Contains(resp, "ListBucketResult") {
			t.Fatalf("%s %s: %d %s", tc.method, tc.path, code, resp)
		}
	}
	// Object lock subresources on a bucket without object lock are
	// refused, and a DELETE naming one deletes nothing.
	for _, tc := range []struct {
		method, path string
		code         int
	}{
		{"GET", "/sub/k?legal-hold", 400}, {"GET", "/sub/k?retention", 400}, {"PUT", "/sub/k?legal-hold", 400},
		{"DELETE", "/sub/k?retention", 405}, {"DELETE", "/sub/k?legal-hold", 405},
	} {
		code, resp := g.rawDo(t, tc.method, tc.path, nil, nil)
		if code != tc.code || strings.Contains(resp, body) || strings.Contains(resp, "ListBucketResult") {
			t.Fatalf("%s %s: %d %s", tc.method, tc.path, code, resp)
		}
	}
	// The object is still there and still served by a plain GET.
	if code, resp := g.rawDo(t, "GET", "/sub/k", nil, nil); code != 200 || resp != body {
		t.Fatalf("plain GET: %d %q", code, resp)
	}
}

// TestSigV2RawPathOnly: a SigV2 presigned GET for key "a b" (path
// /b/a%20b) does not open key "a%20b" when the path is sent as /b/a%2520b,
// which decodes to the signed path.
func TestSigV2RawPathOnly(t *testing.T) {
	g := startGateway(t)
	c := g.client(0, true)
	b := aws.String("sigtwo")
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}))
	must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("a b"), Body: strings.NewReader("space")}))
	must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("a%20b"), Body: strings.NewReader("secret of a%20b")}))
	req, _ := http.NewRequest("GET", g.url+"/sigtwo/a%20b", nil)
	signed := signer.PreSignV2(*req, testKeys[0].AccessKey, testKeys[0].SecretKey, 600, false)
	get := func(u string) (int, string) {
		resp := must[*http.Response](t)(http.Get(u))
		defer resp.Body.Close()
		return resp.StatusCode, string(readAll(t, resp.Body))
	}
	if code, body := get(signed.URL.String()); code != 200 || body != "space" {
		t.Fatalf("presigned GET: %d %q", code, body)
	}
	tampered := *signed.URL
	tampered.RawPath, tampered.Path = "/sigtwo/a%2520b", "/sigtwo/a%20b"
	u := tampered.String()
	if !strings.Contains(u, "/sigtwo/a%2520b?") {
		t.Fatalf("test URL %s", u)
	}
	if code, body := get(u); code != 403 || !strings.Contains(body, "SignatureDoesNotMatch") {
		t.Fatalf("presigned GET of another key: %d %q", code, body)
	}
	// Other spellings of the same key are refused too (the signature covers
	// the path as sent).
	tampered.RawPath, tampered.Path = "/sigtwo/a+b", "/sigtwo/a+b"
	if code, _ := get(tampered.String()); code != 403 {
		t.Fatalf("presigned GET with a+b: %d", code)
	}
}

// TestAnonymousWritesAndRangeWithPart: DELETE ?tagging is checked like any
// write (anonymous on a private bucket: 403; on a missing key: 404); a
// public-read-write bucket takes anonymous PUT and DELETE as the README
// says; Range together with partNumber is 400 as in S3.
func TestAnonymousWritesAndRangeWithPart(t *testing.T) {
	g := startGateway(t)
	c := g.client(0, true)
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("private")}))
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("open"), ACL: "public-read-write"}))
	must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("private"), Key: aws.String("k"), Body: strings.NewReader("x")}))
	anon := func(method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, g.url+path, strings.NewReader(body))
		resp := must[*http.Response](t)(http.DefaultClient.Do(req))
		defer resp.Body.Close()
		return resp.StatusCode, string(readAll(t, resp.Body))
	}
	for _, path := range []string{"/private/k?tagging", "/private/missing?tagging", "/nosuchbucket/k?tagging"} {
		if code, body := anon("DELETE", path, ""); code != 403 && !(path == "/nosuchbucket/k?tagging" && code == 404) {
			t.Fatalf("anonymous DELETE %s: %d %s", path, code, body)
		}
	}
	if code, body := g.rawDo(t, "DELETE", "/private/missing?tagging", nil, nil); code != 404 || !strings.Contains(body, "NoSuchKey") {
		t.Fatalf("owner DELETE ?tagging of a missing key: %d %s", code, body)
	}
	if code, body := g.rawDo(t, "DELETE", "/private/k?tagging", nil, nil); code != 204 {
		t.Fatalf("owner DELETE ?tagging: %d %s", code, body)
	}
	// public-read-write: anonymous writes are accepted, as in S3.
	if code, body := anon("PUT", "/open/anon", "anonymous data"); code != 200 {
		t.Fatalf("anonymous PUT on public-read-write: %d %s", code, body)
	}
	if code, body := anon("DELETE", "/open/anon?tagging", ""); code != 204 {
		t.Fatalf("anonymous DELETE ?tagging on public-read-write: %d %s", code, body)
	}
	if code, body := anon("DELETE", "/open/anon", ""); code != 204 {
		t.Fatalf("anonymous DELETE on public-read-write: %d %s", code, body)
	}
	if code, _ := anon("PUT", "/private/anon", "x"); code != 403 {
		t.Fatalf("anonymous PUT on a private bucket: %d", code)
	}

	// Range with partNumber.
	cu := must[*s3.CreateMultipartUploadOutput](t)(c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("private"), Key: aws.String("mp")}))
	p1 := must[*s3.UploadPartOutput](t)(c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("private"), Key: aws.String("mp"), UploadId: cu.UploadId, PartNumber: aws.Int32(1), Body: strings.NewReader("only part")}))
	must[*s3.CompleteMultipartUploadOutput](t)(c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("private"), Key: aws.String("mp"), UploadId: cu.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: p1.ETag}}}}))
	for _, key := range []string{"mp", "k"} {
		_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("private"), Key: aws.String(key), PartNumber: aws.Int32(1), Range: aws.String("bytes=0-1")})
		wantCode(t, err, "InvalidRequest")
	}
	got := readAll(t, must[*s3.GetObjectOutput](t)(c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("private"), Key: aws.String("mp"), PartNumber: aws.Int32(1)})).Body)
	if string(got) != "only part" {
		t.Fatalf("part 1: %q", got)
	}
}

// TestConcurrentCompleteSameUpload: 50 simultaneous CompleteMultipartUpload
// calls of one upload with the same part list (clients retrying) all get
// the same object; a later complete with another part list is NoSuchUpload.
func TestConcurrentCompleteSameUpload(t *testing.T) {
	g := startGateway(t)
	c := g.client(0, true)
	b, k := aws.String("completes"), aws.String("obj")
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}))
	must[*s3.PutBucketVersioningOutput](t)(c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: b,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}))
	up := must[*s3.CreateMultipartUploadOutput](t)(c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: k}))
	data := randBytes(5<<20 + 10)
	var parts []types.CompletedPart
	for i, piece := range [][]byte{data[:5<<20], data[5<<20:]} {
		p := must[*s3.UploadPartOutput](t)(c.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: k, UploadId: up.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(piece)}))
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: p.ETag})
	}
	const n = 50
	type result struct {
		etag, version string
		err           error
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: k, UploadId: up.UploadId,
				MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
			if err != nil {
				results[i].err = err
				return
			}
			results[i] = result{etag: aws.ToString(out.ETag), version: aws.ToString(out.VersionId)}
		}()
	}
	close(start)
	wg.Wait()
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("complete %d: %v", i, r.err)
		}
		if r != results[0] || r.version == "" {
			t.Fatalf("complete %d answered %+v, complete 0 %+v", i, r, results[0])
		}
	}
	vs := must[*s3.ListObjectVersionsOutput](t)(c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: b}))
	if len(vs.Versions) != 1 || aws.ToString(vs.Versions[0].VersionId) != results[0].version {
		t.Fatalf("%d versions after %d completes, want 1", len(vs.Versions), n)
	}
	got := readAll(t, must[*s3.GetObjectOutput](t)(c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: k})).Body)
	mustEqual(t, "completed object", got, data)
	// Another part list for the completed upload is refused.
	_, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: k, UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts[:1]}})
	wantCode(t, err, "NoSuchUpload")
}

// TestCompositeChecksumWithoutPartCount: CompleteMultipartUpload accepts
// the composite checksum with its "-N" suffix and without it (as minio-go
// sends it), and refuses a wrong one with BadDigest.
func TestCompositeChecksumWithoutPartCount(t *testing.T) {
	g := startGateway(t)
	c := g.client(0, true)
	b := aws.String("composite")
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}))
	data := randBytes(5<<20 + 100)
	for i, form := range []string{"bare", "suffix", "wrong"} {
		k := aws.String(fmt.Sprintf("obj%d", i))
		up := must[*s3.CreateMultipartUploadOutput](t)(c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: k,
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc32, ChecksumType: types.ChecksumTypeComposite}))
		var parts []types.CompletedPart
		var sums []byte
		for j, piece := range [][]byte{data[:5<<20], data[5<<20:]} {
			sum := crc32.ChecksumIEEE(piece)
			enc := base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, sum))
			p := must[*s3.UploadPartOutput](t)(c.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: k, UploadId: up.UploadId,
				PartNumber: aws.Int32(int32(j + 1)), Body: bytes.NewReader(piece), ChecksumCRC32: aws.String(enc)}))
			parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(j + 1)), ETag: p.ETag, ChecksumCRC32: aws.String(enc)})
			sums = binary.BigEndian.AppendUint32(sums, sum)
		}
		composite := base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(sums)))
		sent := map[string]string{"bare": composite, "suffix": composite + "-2", "wrong": "AAAAAA=="}[form]
		out, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: k, UploadId: up.UploadId,
			ChecksumCRC32: aws.String(sent), MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
		if form == "wrong" {
			wantCode(t, err, "BadDigest")
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", form, err)
		}
		if got := aws.ToString(out.ChecksumCRC32); got != composite+"-2" {
			t.Fatalf("%s: object checksum %q, want %q", form, got, composite+"-2")
		}
	}
}

// TestSmallConformance covers the small differences from S3 found by client
// test suites: expected-bucket-owner headers, metadata size on a REPLACE
// copy, CompleteMultipartUpload's Location, malformed presigned URLs,
// storage classes, and re-creating one's own bucket outside us-east-1.
func TestSmallConformance(t *testing.T) {
	g := startGateway(t)
	c := g.client(0, true)
	b := aws.String("small")
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}))
	must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("src"), Body: strings.NewReader("source")}))

	// x-amz-expected-bucket-owner and x-amz-source-expected-bucket-owner.
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("k"), Body: strings.NewReader("x"), ExpectedBucketOwner: aws.String("alt-user")})
	wantCode(t, err, "AccessDenied")
	must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("k"), Body: strings.NewReader("x"), ExpectedBucketOwner: aws.String("main-user")}))
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String("copy"), CopySource: aws.String("small/src"), ExpectedSourceBucketOwner: aws.String("alt-user")})
	wantCode(t, err, "AccessDenied")
	must[*s3.CopyObjectOutput](t)(c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String("copy"), CopySource: aws.String("small/src"), ExpectedSourceBucketOwner: aws.String("main-user")}))
	cu := must[*s3.CreateMultipartUploadOutput](t)(c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("mp")}))
	_, err = c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: b, Key: aws.String("mp"), UploadId: cu.UploadId, PartNumber: aws.Int32(1), CopySource: aws.String("small/src"), ExpectedSourceBucketOwner: aws.String("alt-user")})
	wantCode(t, err, "AccessDenied")

	// The metadata size limit holds for CopyObject with REPLACE.
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String("copy"), CopySource: aws.String("small/src"),
		MetadataDirective: "REPLACE", Metadata: map[string]string{"big": strings.Repeat("m", 3000)}})
	wantCode(t, err, "MetadataTooLarge")

	// CompleteMultipartUpload's Location is the object's URL.
	p := must[*s3.UploadPartOutput](t)(c.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: aws.String("mp"), UploadId: cu.UploadId, PartNumber: aws.Int32(1), Body: strings.NewReader("part")}))
	done := must[*s3.CompleteMultipartUploadOutput](t)(c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String("mp"), UploadId: cu.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: p.ETag}}}}))
	if loc := aws.ToString(done.Location); loc != g.url+"/small/mp" {
		t.Fatalf("Location %q, want %q", loc, g.url+"/small/mp")
	}
	vc := g.client(0, false)
	cu = must[*s3.CreateMultipartUploadOutput](t)(vc.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("dir/a b")}))
	p = must[*s3.UploadPartOutput](t)(vc.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: aws.String("dir/a b"), UploadId: cu.UploadId, PartNumber: aws.Int32(1), Body: strings.NewReader("part")}))
	done = must[*s3.CompleteMultipartUploadOutput](t)(vc.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String("dir/a b"), UploadId: cu.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: p.ETag}}}}))
	if loc, err := url.Parse(aws.ToString(done.Location)); err != nil || loc.Scheme != "http" || loc.Host != "small."+testDomain+":"+g.srv.URL[strings.LastIndexByte(g.srv.URL, ':')+1:] || loc.Path != "/dir/a b" {
		t.Fatalf("virtual-host Location %q", aws.ToString(done.Location))
	}

	// Malformed presigned V4 parameters are 400, as AWS answers.
	for _, q := range []string{
		"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=00",
		"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAMAIN%2Fbad&X-Amz-Date=20260101T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=00",
		"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAMAIN%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=yesterday&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=00",
	} {
		resp := must[*http.Response](t)(http.Get(g.url + "/small/src?" + q))
		body := string(readAll(t, resp.Body))
		if resp.StatusCode != 400 || !strings.Contains(body, "AuthorizationQueryParametersError") {
			t.Fatalf("malformed presigned %s: %d %s", q, resp.StatusCode, body)
		}
	}

	// Storage classes: S3's are accepted, others refused.
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("sc"), Body: strings.NewReader("x"), StorageClass: "FANCY"})
	wantCode(t, err, "InvalidStorageClass")
	_, err = c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("sc"), StorageClass: "FANCY"})
	wantCode(t, err, "InvalidStorageClass")
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String("sc"), CopySource: aws.String("small/src"), StorageClass: "FANCY"})
	wantCode(t, err, "InvalidStorageClass")
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String("sc")}); apiCode(err) != "NotFound" {
		t.Fatalf("an object was stored under an invalid storage class: %v", err)
	}
	must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("sc"), Body: strings.NewReader("x"), StorageClass: types.StorageClassStandardIa}))

	// Re-creating one's own bucket: success in us-east-1, 409
	// BucketAlreadyOwnedByYou in any other region.
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}))
	eu := &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraintEuWest1}
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("small-eu"), CreateBucketConfiguration: eu}))
	_, err = c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("small-eu"), CreateBucketConfiguration: eu})
	wantCode(t, err, "BucketAlreadyOwnedByYou")
	_, err = c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b, CreateBucketConfiguration: eu})
	wantCode(t, err, "BucketAlreadyOwnedByYou")
	_, err = g.client(2, true).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("small-eu"), CreateBucketConfiguration: eu})
	wantCode(t, err, "BucketAlreadyExists")
}

// TestNewerChecksumAlgorithms: x-amz-checksum-xxhash64, -xxhash3 and
// -xxhash128 (sent by current SDKs) are verified like the others: the right
// value stores the object and is returned, a wrong one is BadDigest and
// stores nothing. The digests are checked against the reference values of
// the empty input.
func TestNewerChecksumAlgorithms(t *testing.T) {
	g := startGateway(t)
	c := g.client(0, true)
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("xxsums")}))
	empty := map[string]string{ // xxHash reference digests of "", big-endian
		"xxhash64":  "ef46db3751d8e999",
		"xxhash3":   "2d06800538d394c2",
		"xxhash128": "99aa06d3014798d86001c324468d497f",
	}
	for name, hexSum := range empty {
		raw, _ := hex.DecodeString(hexSum)
		good := base64.StdEncoding.EncodeToString(raw)
		if code, body := g.rawDo(t, "PUT", "/xxsums/"+name, nil, map[string]string{"x-amz-checksum-" + name: good}); code != 200 {
			t.Fatalf("%s with the right checksum: %d %s", name, code, body)
		}
		resp := must[*http.Response](t)(http.DefaultClient.Do(func() *http.Request {
			req, _ := http.NewRequest("HEAD", g.url+"/xxsums/"+name, nil)
			req.Header.Set("x-amz-checksum-mode", "ENABLED")
			signRequest(t, req, 0)
			return req
		}()))
		resp.Body.Close()
		if got := resp.Header.Get("x-amz-checksum-" + name); got != good {
			t.Fatalf("%s: HEAD returns checksum %q, want %q", name, got, good)
		}
		bad := base64.StdEncoding.EncodeToString(make([]byte, len(raw)))
		if code, body := g.rawDo(t, "PUT", "/xxsums/"+name+"-bad", []byte("data"), map[string]string{"x-amz-checksum-" + name: bad}); code != 400 || !strings.Contains(body, "BadDigest") {
			t.Fatalf("%s with a wrong checksum: %d %s", name, code, body)
		}
		if code, _ := g.rawDo(t, "HEAD", "/xxsums/"+name+"-bad", nil, nil); code != 404 {
			t.Fatalf("%s: object stored despite a wrong checksum (%d)", name, code)
		}
	}
}
