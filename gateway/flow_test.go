package gateway_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestMastodonFlow does what Mastodon does with its media bucket: public-read
// uploads (multipart for big files), HEAD with partNumber, anonymous ranged
// GETs by browsers, copies, batch deletes and presigned downloads.
func TestMastodonFlow(t *testing.T) {
	g := startGateway(t)
	c := g.client(0, true)
	b := aws.String("mastodon")
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}))

	// Multipart upload of 16 MiB + 5 bytes in 5 MiB parts, public-read.
	const part = 5 << 20
	data := randBytes(16<<20 + 5)
	key := aws.String("media_attachments/files/1/original/video.mp4")
	up := must[*s3.CreateMultipartUploadOutput](t)(c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: b, Key: key, ACL: types.ObjectCannedACLPublicRead, ContentType: aws.String("video/mp4"),
		CacheControl: aws.String("public, max-age=315576000, immutable"),
	}))
	var parts []types.CompletedPart
	for i, off := int32(1), 0; off < len(data); i, off = i+1, off+part {
		end := min(off+part, len(data))
		out := must[*s3.UploadPartOutput](t)(c.UploadPart(ctx, &s3.UploadPartInput{
			Bucket: b, Key: key, UploadId: up.UploadId, PartNumber: aws.Int32(i), Body: bytes.NewReader(data[off:end]),
		}))
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(i), ETag: out.ETag})
	}
	if len(parts) != 4 {
		t.Fatalf("%d parts", len(parts))
	}
	uploads := must[*s3.ListMultipartUploadsOutput](t)(c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: b}))
	if len(uploads.Uploads) != 1 || aws.ToString(uploads.Uploads[0].UploadId) != aws.ToString(up.UploadId) {
		t.Fatalf("uploads: %+v", uploads.Uploads)
	}
	lp := must[*s3.ListPartsOutput](t)(c.ListParts(ctx, &s3.ListPartsInput{Bucket: b, Key: key, UploadId: up.UploadId, MaxParts: aws.Int32(3)}))
	if len(lp.Parts) != 3 || !aws.ToBool(lp.IsTruncated) || aws.ToInt64(lp.Parts[0].Size) != part {
		t.Fatalf("list parts: %+v", lp.Parts)
	}
	// Wrong order and wrong ETags are refused.
	_, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: key, UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{parts[1], parts[0]}}})
	wantCode(t, err, "InvalidPartOrder")
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: key, UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: aws.String(`"00"`)}}}})
	wantCode(t, err, "InvalidPart")
	done := must[*s3.CompleteMultipartUploadOutput](t)(c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: b, Key: key, UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}))
	if !strings.HasSuffix(aws.ToString(done.ETag), `-4"`) {
		t.Fatalf("multipart etag %s", aws.ToString(done.ETag))
	}

	// HEAD with partNumber: that part's length and the part count.
	for n, want := range map[int32]int64{1: part, 4: 1<<20 + 5} {
		h := must[*s3.HeadObjectOutput](t)(c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: key, PartNumber: aws.Int32(n)}))
		if aws.ToInt64(h.ContentLength) != want || aws.ToInt32(h.PartsCount) != 4 {
			t.Fatalf("head part %d: length %d parts %d", n, aws.ToInt64(h.ContentLength), aws.ToInt32(h.PartsCount))
		}
	}
	got := must[*s3.GetObjectOutput](t)(c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: key, PartNumber: aws.Int32(2)}))
	mustEqual(t, "part 2", readAll(t, got.Body), data[part:2*part])
	got = must[*s3.GetObjectOutput](t)(c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: key}))
	mustEqual(t, "whole multipart object", readAll(t, got.Body), data)

	// Anonymous ranged GET of the public-read object, across a part boundary.
	req, _ := http.NewRequest("GET", g.url+"/mastodon/"+*key, nil)
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", part-10, part+9))
	resp := must[*http.Response](t)(http.DefaultClient.Do(req))
	body := readAll(t, resp.Body)
	if resp.StatusCode != http.StatusPartialContent {
		t.Fatalf("anonymous ranged GET: %d %s", resp.StatusCode, body)
	}
	mustEqual(t, "anonymous range", body, data[part-10:part+10])
	if resp.Header.Get("Cache-Control") != "public, max-age=315576000, immutable" || resp.Header.Get("Content-Type") != "video/mp4" {
		t.Fatalf("headers: %v", resp.Header)
	}

	// Pixelfed reads the ACL before copying.
	acl := must[*s3.GetObjectAclOutput](t)(c.GetObjectAcl(ctx, &s3.GetObjectAclInput{Bucket: b, Key: key}))
	if !hasAllUsersRead(acl.Grants) {
		t.Fatalf("object ACL lacks AllUsers READ: %+v", acl.Grants)
	}
	// CopyObject then delete the source (Mastodon moves media this way).
	dst := aws.String("media_attachments/files/1/copy/video.mp4")
	must[*s3.CopyObjectOutput](t)(c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: dst, CopySource: aws.String("mastodon/" + *key), ACL: types.ObjectCannedACLPublicRead}))
	must[*s3.DeleteObjectOutput](t)(c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: key}))
	got = must[*s3.GetObjectOutput](t)(c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: dst}))
	mustEqual(t, "copy", readAll(t, got.Body), data)

	// UploadPartCopy with a range builds a new object from the copy.
	up2 := must[*s3.CreateMultipartUploadOutput](t)(c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("pc")}))
	pc := must[*s3.UploadPartCopyOutput](t)(c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: b, Key: aws.String("pc"), UploadId: up2.UploadId,
		PartNumber: aws.Int32(1), CopySource: aws.String("mastodon/" + *dst), CopySourceRange: aws.String("bytes=100-199")}))
	must[*s3.CompleteMultipartUploadOutput](t)(c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String("pc"), UploadId: up2.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: pc.CopyPartResult.ETag}}}}))
	got = must[*s3.GetObjectOutput](t)(c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("pc")}))
	mustEqual(t, "part copy", readAll(t, got.Body), data[100:200])

	// EntityTooSmall for a small part that is not the last; abort frees it.
	up3 := must[*s3.CreateMultipartUploadOutput](t)(c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("small")}))
	var small []types.CompletedPart
	for i := int32(1); i <= 2; i++ {
		p := must[*s3.UploadPartOutput](t)(c.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: aws.String("small"), UploadId: up3.UploadId, PartNumber: aws.Int32(i), Body: strings.NewReader("tiny")}))
		small = append(small, types.CompletedPart{PartNumber: aws.Int32(i), ETag: p.ETag})
	}
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String("small"), UploadId: up3.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: small}})
	wantCode(t, err, "EntityTooSmall")
	must[*s3.AbortMultipartUploadOutput](t)(c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: b, Key: aws.String("small"), UploadId: up3.UploadId}))
	_, err = c.ListParts(ctx, &s3.ListPartsInput{Bucket: b, Key: aws.String("small"), UploadId: up3.UploadId})
	wantCode(t, err, "NoSuchUpload")

	// Presigned GET with response-content-disposition, fetched by a plain client.
	ps := s3.NewPresignClient(c)
	pr := must[*v4.PresignedHTTPRequest](t)(ps.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: dst,
		ResponseContentDisposition: aws.String(`attachment; filename="video.mp4"`)}))
	resp = must[*http.Response](t)(http.Get(pr.URL))
	body = readAll(t, resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Disposition") != `attachment; filename="video.mp4"` {
		t.Fatalf("presigned GET: %d %v", resp.StatusCode, resp.Header)
	}
	mustEqual(t, "presigned", body, data)
	// A tampered presigned URL is refused.
	resp = must[*http.Response](t)(http.Get(strings.Replace(pr.URL, "filename", "filenamX", 1)))
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("tampered presigned URL: %d", resp.StatusCode)
	}

	// DeleteObjects of hundreds of keys, then everything is gone on disk.
	var ids []types.ObjectIdentifier
	for i := 0; i < 250; i++ {
		ids = append(ids, types.ObjectIdentifier{Key: aws.String(fmt.Sprintf("cache/%03d", i))})
	}
	putMany(t, c, b, ids)
	ids = append(ids, types.ObjectIdentifier{Key: dst}, types.ObjectIdentifier{Key: aws.String("pc")})
	del := must[*s3.DeleteObjectsOutput](t)(c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: b, Delete: &types.Delete{Objects: ids}}))
	if len(del.Deleted) != len(ids) {
		t.Fatalf("deleted %d of %d", len(del.Deleted), len(ids))
	}
	if n, tmp := g.blobFiles(); n != 0 || tmp != 0 {
		t.Fatalf("%d blobs and %d temp files left", n, tmp)
	}
}

func hasAllUsersRead(grants []types.Grant) bool {
	for _, gr := range grants {
		if gr.Grantee != nil && aws.ToString(gr.Grantee.URI) == "http://acs.amazonaws.com/groups/global/AllUsers" && gr.Permission == types.PermissionRead {
			return true
		}
	}
	return false
}

func TestVersioning(t *testing.T) {
	g := startGateway(t)
	c := g.client(0, true)
	b := aws.String("versions")
	k := aws.String("doc")
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}))
	// A null version from before versioning.
	must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: k, Body: strings.NewReader("v0")}))
	vc := must[*s3.GetBucketVersioningOutput](t)(c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: b}))
	if vc.Status != "" {
		t.Fatalf("status %q", vc.Status)
	}
	must[*s3.PutBucketVersioningOutput](t)(c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: b,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}))
	v1 := must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: k, Body: strings.NewReader("v1")}))
	v2 := must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: k, Body: strings.NewReader("v2")}))
	if v1.VersionId == nil || aws.ToString(v1.VersionId) == aws.ToString(v2.VersionId) {
		t.Fatalf("version ids %v %v", v1.VersionId, v2.VersionId)
	}
	read := func(vid string) string {
		t.Helper()
		in := &s3.GetObjectInput{Bucket: b, Key: k}
		if vid != "" {
			in.VersionId = aws.String(vid)
		}
		out := must[*s3.GetObjectOutput](t)(c.GetObject(ctx, in))
		return string(readAll(t, out.Body))
	}
	if read("") != "v2" || read(*v1.VersionId) != "v1" || read("null") != "v0" {
		t.Fatal("wrong content by version")
	}
	// Delete creates a marker; GET then 404s, the versions remain.
	d := must[*s3.DeleteObjectOutput](t)(c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: k}))
	if !aws.ToBool(d.DeleteMarker) || d.VersionId == nil {
		t.Fatalf("delete: %+v", d)
	}
	_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: k})
	wantCode(t, err, "NoSuchKey")
	_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: k, VersionId: d.VersionId})
	if !strings.Contains(fmt.Sprint(err), "405") {
		t.Fatalf("HEAD of a delete marker version: %v", err)
	}
	lv := must[*s3.ListObjectVersionsOutput](t)(c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: b}))
	if len(lv.Versions) != 3 || len(lv.DeleteMarkers) != 1 || !aws.ToBool(lv.DeleteMarkers[0].IsLatest) {
		t.Fatalf("versions %d markers %d", len(lv.Versions), len(lv.DeleteMarkers))
	}
	// Paging through versions with key/version-id markers.
	var seen []string
	var km, vm *string
	for {
		p := must[*s3.ListObjectVersionsOutput](t)(c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: b, MaxKeys: aws.Int32(1), KeyMarker: km, VersionIdMarker: vm}))
		for _, v := range p.Versions {
			seen = append(seen, aws.ToString(v.VersionId))
		}
		for _, m := range p.DeleteMarkers {
			seen = append(seen, aws.ToString(m.VersionId))
		}
		if !aws.ToBool(p.IsTruncated) {
			break
		}
		km, vm = p.NextKeyMarker, p.NextVersionIdMarker
	}
	if len(seen) != 4 || seen[0] != aws.ToString(d.VersionId) || seen[3] != "null" {
		t.Fatalf("paged versions %v", seen)
	}
	// Removing the marker by version id brings v2 back.
	must[*s3.DeleteObjectOutput](t)(c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: k, VersionId: d.VersionId}))
	if read("") != "v2" {
		t.Fatal("v2 not current after removing the marker")
	}
	// Copy from an older version.
	must[*s3.CopyObjectOutput](t)(c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String("old"), CopySource: aws.String("versions/doc?versionId=" + *v1.VersionId)}))
	out := must[*s3.GetObjectOutput](t)(c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("old")}))
	if s := string(readAll(t, out.Body)); s != "v1" {
		t.Fatalf("copy of v1: %q", s)
	}
	// Suspended: new writes replace the null version only.
	must[*s3.PutBucketVersioningOutput](t)(c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: b,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusSuspended}}))
	must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: k, Body: strings.NewReader("s1")}))
	must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: k, Body: strings.NewReader("s2")}))
	if read("") != "s2" || read("null") != "s2" || read(*v1.VersionId) != "v1" {
		t.Fatal("suspended semantics")
	}
	lv = must[*s3.ListObjectVersionsOutput](t)(c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: b, Prefix: k}))
	var ids []string
	for _, v := range lv.Versions {
		ids = append(ids, aws.ToString(v.VersionId))
	}
	sort.Strings(ids)
	if len(ids) != 3 || ids[2] != "null" {
		t.Fatalf("versions after suspend: %v", ids)
	}
	// Delete every version: the bucket can then go.
	for _, key := range []string{"doc", "old"} {
		lv = must[*s3.ListObjectVersionsOutput](t)(c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: b, Prefix: aws.String(key)}))
		for _, v := range lv.Versions {
			must[*s3.DeleteObjectOutput](t)(c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: v.Key, VersionId: v.VersionId}))
		}
		for _, v := range lv.DeleteMarkers {
			must[*s3.DeleteObjectOutput](t)(c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: v.Key, VersionId: v.VersionId}))
		}
	}
	must[*s3.DeleteBucketOutput](t)(c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: b}))
	if n, _ := g.blobFiles(); n != 0 {
		t.Fatalf("%d blobs left", n)
	}
}

func TestAccessControlAndCORS(t *testing.T) {
	g := startGateway(t)
	c := g.client(0, true)
	alt := g.client(2, true)
	b := aws.String("acl")
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}))
	must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("private"), Body: strings.NewReader("secret")}))
	must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("public"), Body: strings.NewReader("hello"), ACL: types.ObjectCannedACLPublicRead}))

	anon := func(method, path string, hdr map[string]string) (int, http.Header, string) {
		t.Helper()
		req, _ := http.NewRequest(method, g.url+path, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp := must[*http.Response](t)(http.DefaultClient.Do(req))
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header, string(body)
	}
	if code, _, body := anon("GET", "/acl/private", nil); code != 403 || !strings.Contains(body, "<Code>AccessDenied</Code>") || !strings.Contains(body, "<RequestId>") {
		t.Fatalf("anonymous GET private: %d %s", code, body)
	}
	if code, _, body := anon("GET", "/acl/public", nil); code != 200 || body != "hello" {
		t.Fatalf("anonymous GET public: %d %s", code, body)
	}
	if code, _, _ := anon("HEAD", "/acl/public", nil); code != 200 {
		t.Fatalf("anonymous HEAD public: %d", code)
	}
	if code, _, _ := anon("GET", "/acl/public?response-content-type=text/html", nil); code != 400 {
		t.Fatalf("anonymous GET with override: %d", code)
	}
	for _, m := range []string{"GET /acl", "PUT /acl/new", "DELETE /acl/public", "GET /"} {
		method, path, _ := strings.Cut(m, " ")
		if code, _, _ := anon(method, path, nil); code != 403 {
			t.Fatalf("anonymous %s: %d", m, code)
		}
	}
	// Another account cannot read private objects or list, but can read public ones.
	_, err := alt.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("private")})
	wantCode(t, err, "AccessDenied")
	_, err = alt.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: b})
	wantCode(t, err, "AccessDenied")
	out := must[*s3.GetObjectOutput](t)(alt.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("public")}))
	out.Body.Close()

	// PutObjectAcl: canned, then the XML form; GetObjectAcl reflects both.
	must[*s3.PutObjectAclOutput](t)(c.PutObjectAcl(ctx, &s3.PutObjectAclInput{Bucket: b, Key: aws.String("private"), ACL: types.ObjectCannedACLPublicRead}))
	if code, _, _ := anon("GET", "/acl/private", nil); code != 200 {
		t.Fatalf("after public-read ACL: %d", code)
	}
	acl := must[*s3.GetObjectAclOutput](t)(c.GetObjectAcl(ctx, &s3.GetObjectAclInput{Bucket: b, Key: aws.String("private")}))
	must[*s3.PutObjectAclOutput](t)(c.PutObjectAcl(ctx, &s3.PutObjectAclInput{Bucket: b, Key: aws.String("private"),
		AccessControlPolicy: &types.AccessControlPolicy{Owner: acl.Owner, Grants: []types.Grant{{
			Grantee:    &types.Grantee{Type: types.TypeCanonicalUser, ID: acl.Owner.ID},
			Permission: types.PermissionFullControl,
		}}}}))
	if code, _, _ := anon("GET", "/acl/private", nil); code != 403 {
		t.Fatalf("after private XML ACL: %d", code)
	}
	acl = must[*s3.GetObjectAclOutput](t)(c.GetObjectAcl(ctx, &s3.GetObjectAclInput{Bucket: b, Key: aws.String("private")}))
	if hasAllUsersRead(acl.Grants) || len(acl.Grants) != 1 || aws.ToString(acl.Owner.ID) != "main-user" {
		t.Fatalf("acl: %+v", acl.Grants)
	}
	// A public-read bucket lets anyone list, but not read private objects.
	must[*s3.PutBucketAclOutput](t)(c.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: b, ACL: types.BucketCannedACLPublicRead}))
	if code, _, body := anon("GET", "/acl?list-type=2", nil); code != 200 || !strings.Contains(body, "<Key>public</Key>") {
		t.Fatalf("anonymous list of public-read bucket: %d %s", code, body)
	}
	if code, _, _ := anon("GET", "/acl/private", nil); code != 403 {
		t.Fatalf("anonymous GET of a private object in a public-read bucket: %d", code)
	}
	// Grants must name known accounts.
	_, err = c.PutObjectAcl(ctx, &s3.PutObjectAclInput{Bucket: b, Key: aws.String("public"), GrantRead: aws.String(`id="nobody-we-know"`)})
	wantCode(t, err, "InvalidArgument")
	must[*s3.PutObjectAclOutput](t)(c.PutObjectAcl(ctx, &s3.PutObjectAclInput{Bucket: b, Key: aws.String("private"), GrantRead: aws.String(`id="alt-user"`)}))
	out = must[*s3.GetObjectOutput](t)(alt.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("private")}))
	out.Body.Close()
	bacl := must[*s3.GetBucketAclOutput](t)(c.GetBucketAcl(ctx, &s3.GetBucketAclInput{Bucket: b}))
	if !hasAllUsersRead(bacl.Grants) {
		t.Fatalf("bucket acl: %+v", bacl.Grants)
	}

	// Block public access: new public ACLs are refused, existing ones ignored.
	_, err = c.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: b})
	wantCode(t, err, "NoSuchPublicAccessBlockConfiguration")
	must[*s3.PutPublicAccessBlockOutput](t)(c.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: b,
		PublicAccessBlockConfiguration: &types.PublicAccessBlockConfiguration{BlockPublicAcls: aws.Bool(true), IgnorePublicAcls: aws.Bool(true)}}))
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("p2"), Body: strings.NewReader("x"), ACL: types.ObjectCannedACLPublicRead})
	wantCode(t, err, "AccessDenied")
	if code, _, _ := anon("GET", "/acl/public", nil); code != 403 {
		t.Fatalf("public object with IgnorePublicAcls: %d", code)
	}
	must[*s3.DeletePublicAccessBlockOutput](t)(c.DeletePublicAccessBlock(ctx, &s3.DeletePublicAccessBlockInput{Bucket: b}))
	if code, _, _ := anon("GET", "/acl/public", nil); code != 200 {
		t.Fatalf("public object after removing the block: %d", code)
	}

	// CORS.
	_, err = c.GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: b})
	wantCode(t, err, "NoSuchCORSConfiguration")
	must[*s3.PutBucketCorsOutput](t)(c.PutBucketCors(ctx, &s3.PutBucketCorsInput{Bucket: b, CORSConfiguration: &types.CORSConfiguration{
		CORSRules: []types.CORSRule{{AllowedOrigins: []string{"https://*.example.social"}, AllowedMethods: []string{"GET", "HEAD"},
			AllowedHeaders: []string{"range", "x-*"}, ExposeHeaders: []string{"ETag"}, MaxAgeSeconds: aws.Int32(600)}},
	}}))
	cors := must[*s3.GetBucketCorsOutput](t)(c.GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: b}))
	if len(cors.CORSRules) != 1 || aws.ToInt32(cors.CORSRules[0].MaxAgeSeconds) != 600 {
		t.Fatalf("cors: %+v", cors.CORSRules)
	}
	code, h, _ := anon("OPTIONS", "/acl/public", map[string]string{"Origin": "https://media.example.social",
		"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "Range"})
	if code != 200 || h.Get("Access-Control-Allow-Origin") != "https://media.example.social" || h.Get("Access-Control-Max-Age") != "600" {
		t.Fatalf("preflight: %d %v", code, h)
	}
	if code, _, _ := anon("OPTIONS", "/acl/public", map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}); code != 403 {
		t.Fatalf("preflight from another origin: %d", code)
	}
	if code, _, _ := anon("OPTIONS", "/acl/public", map[string]string{"Origin": "https://a.example.social", "Access-Control-Request-Method": "DELETE"}); code != 403 {
		t.Fatalf("preflight for DELETE: %d", code)
	}
	code, h, _ = anon("GET", "/acl/public", map[string]string{"Origin": "https://a.example.social"})
	if code != 200 || h.Get("Access-Control-Allow-Origin") != "https://a.example.social" || h.Get("Access-Control-Expose-Headers") != "ETag" {
		t.Fatalf("CORS GET: %d %v", code, h)
	}
	must[*s3.DeleteBucketCorsOutput](t)(c.DeleteBucketCors(ctx, &s3.DeleteBucketCorsInput{Bucket: b}))
	if code, _, _ := anon("OPTIONS", "/acl/public", map[string]string{"Origin": "https://a.example.social", "Access-Control-Request-Method": "GET"}); code != 403 {
		t.Fatalf("preflight after delete: %d", code)
	}
}
