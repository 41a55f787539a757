package gateway_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"
)

type formField struct{ name, value string }

// postForm posts fields and then a file to url as multipart/form-data.
func postForm(t *testing.T, target string, fields []formField, filename string, file []byte) (*http.Response, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, f := range fields {
		w.WriteField(f.name, f.value)
	}
	fw, err := w.CreateFormFile("file", filename)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(file)
	// A field after the file is ignored.
	w.WriteField("x-amz-meta-after", "ignored")
	w.Close()
	req, _ := http.NewRequest("POST", target, &buf)
	req.Header.Set("Content-Type", w.FormDataContentType())
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

// v2Form signs policy with the V2 form fields of key i.
func v2Form(i int, policy map[string]any, extra ...formField) []formField {
	doc, _ := json.Marshal(policy)
	p := base64.StdEncoding.EncodeToString(doc)
	m := hmac.New(sha1.New, []byte(testKeys[i].SecretKey))
	m.Write([]byte(p))
	return append([]formField{{"AWSAccessKeyId", testKeys[i].AccessKey}, {"policy", p},
		{"signature", base64.StdEncoding.EncodeToString(m.Sum(nil))}}, extra...)
}

// TestPostObject (issue 16): browser POST uploads. minio-go's presigned
// POST policy (SigV4) uploads with its conditions; a V2-signed form with
// ${filename}, metadata, tags and success_action_status 201 stores what it
// says; redirects carry bucket, key and ETag; anonymous forms need a
// bucket anyone may write; and every way a policy can fail is refused with
// S3's status: bad signature, unknown key, expired, unmet or missing
// conditions, fields no condition names, sizes outside
// content-length-range, malformed documents, no key, no file.
func TestPostObject(t *testing.T) {
	g := startGateway(t)
	c := g.client(0, true)
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("forms")}))
	target := g.url + "/forms"

	// minio-go's presigned POST (SigV4 form).
	mc := g.minio(t, false)
	pp := minio.NewPostPolicy()
	pp.SetBucket("forms")
	pp.SetKey("minio/upload.txt")
	pp.SetExpires(time.Now().Add(time.Hour))
	pp.SetContentType("text/plain")
	pp.SetContentLengthRange(1, 1024)
	pp.SetUserMetadata("origin", "browser")
	u, formData, err := mc.PresignedPostPolicy(ctx, pp)
	if err != nil {
		t.Fatal(err)
	}
	var fields []formField
	for k, v := range formData {
		fields = append(fields, formField{k, v})
	}
	resp, body := postForm(t, u.String(), fields, "upload.txt", []byte("from a browser"))
	if resp.StatusCode != 204 {
		t.Fatalf("minio-go presigned POST: %d %s", resp.StatusCode, body)
	}
	obj := must[*s3.GetObjectOutput](t)(c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("forms"), Key: aws.String("minio/upload.txt")}))
	mustEqual(t, "POSTed object", readAll(t, obj.Body), []byte("from a browser"))
	if aws.ToString(obj.ContentType) != "text/plain" || obj.Metadata["origin"] != "browser" {
		t.Fatalf("POSTed object headers: %q %v", aws.ToString(obj.ContentType), obj.Metadata)
	}
	if aws.ToString(obj.ETag) != resp.Header.Get("ETag") {
		t.Fatalf("ETag %s, answered %s", aws.ToString(obj.ETag), resp.Header.Get("ETag"))
	}
	// The same form with a file over the range, or another key.
	resp, body = postForm(t, u.String(), fields, "upload.txt", bytes.Repeat([]byte("x"), 1025))
	if resp.StatusCode != 400 || !strings.Contains(body, "EntityTooLarge") {
		t.Fatalf("file over content-length-range: %d %s", resp.StatusCode, body)
	}
	for i := range fields {
		if fields[i].name == "key" {
			fields[i].value = "elsewhere"
		}
	}
	if resp, body = postForm(t, u.String(), fields, "upload.txt", []byte("x")); resp.StatusCode != 403 {
		t.Fatalf("key outside the policy: %d %s", resp.StatusCode, body)
	}

	// V2 form: ${filename}, metadata, tags, 201 with a PostResponse.
	exp := time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04:05Z")
	policy := func(conds ...any) map[string]any {
		return map[string]any{"expiration": exp, "conditions": append([]any{map[string]string{"bucket": "forms"}}, conds...)}
	}
	std := []any{[]any{"starts-with", "$key", "docs/"}, map[string]string{"acl": "public-read"},
		[]any{"starts-with", "$Content-Type", "text/"}, []any{"content-length-range", 0, 100},
		[]any{"eq", "$x-amz-meta-owner", "alice"}, []any{"starts-with", "$tagging", ""},
		[]any{"eq", "$success_action_status", "201"}}
	f := v2Form(0, policy(std...), formField{"key", "docs/${filename}"}, formField{"acl", "public-read"},
		formField{"Content-Type", "text/markdown"}, formField{"x-amz-meta-owner", "alice"},
		formField{"tagging", "<Tagging><TagSet><Tag><Key>kind</Key><Value>doc</Value></Tag></TagSet></Tagging>"},
		formField{"success_action_status", "201"}, formField{"x-ignore-me", "anything"})
	resp, body = postForm(t, target, f, "readme.md", []byte("# hi"))
	if resp.StatusCode != 201 || !strings.Contains(body, "<Key>docs/readme.md</Key>") || !strings.Contains(body, "<Bucket>forms</Bucket>") {
		t.Fatalf("V2 form with status 201: %d %s", resp.StatusCode, body)
	}
	head := must[*s3.HeadObjectOutput](t)(c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("forms"), Key: aws.String("docs/readme.md")}))
	if aws.ToString(head.ContentType) != "text/markdown" || head.Metadata["owner"] != "alice" || head.Metadata["after"] != "" || aws.ToInt32(head.TagCount) != 1 {
		t.Fatalf("V2 form object: type %q meta %v tags %v", aws.ToString(head.ContentType), head.Metadata, head.TagCount)
	}
	// public-read: anyone reads it.
	if r, err := http.Get(target + "/docs/readme.md"); err != nil || r.StatusCode != 200 {
		t.Fatalf("anonymous GET of a public-read POSTed object: %v %v", err, r)
	}

	// Redirect.
	red := "https://app.example/done"
	f = v2Form(0, policy([]any{"starts-with", "$key", ""}, []any{"eq", "$success_action_redirect", red}),
		formField{"key", "r.txt"}, formField{"success_action_redirect", red})
	resp, body = postForm(t, target, f, "r.txt", []byte("r"))
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != 303 || loc == nil || loc.Host != "app.example" || loc.Query().Get("key") != "r.txt" ||
		loc.Query().Get("bucket") != "forms" || loc.Query().Get("etag") != resp.Header.Get("ETag") {
		t.Fatalf("redirect: %d %q %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}

	// Refusals.
	okFields := []formField{{"key", "docs/x"}, {"acl", "public-read"}, {"Content-Type", "text/plain"},
		{"x-amz-meta-owner", "alice"}, {"success_action_status", "201"}}
	good := v2Form(0, policy(std...), okFields...)
	cases := []struct {
		name   string
		fields []formField
		file   []byte
		code   int
	}{
		{"bad signature", append([]formField{{"AWSAccessKeyId", testKeys[0].AccessKey}, {"policy", good[1].value}, {"signature", "AAAA"}}, okFields...), nil, 403},
		{"unknown access key", append([]formField{{"AWSAccessKeyId", "NOPE"}, good[1], good[2]}, okFields...), nil, 403},
		{"missing signature", append([]formField{good[0], good[1]}, okFields...), nil, 400},
		{"expired", v2Form(0, map[string]any{"expiration": "2001-01-01T00:00:00Z", "conditions": policy(std...)["conditions"]}, okFields...), nil, 403},
		{"bad expiration", v2Form(0, map[string]any{"expiration": "tomorrow", "conditions": policy(std...)["conditions"]}, okFields...), nil, 400},
		{"no expiration", v2Form(0, map[string]any{"conditions": policy(std...)["conditions"]}, okFields...), nil, 400},
		{"no conditions", v2Form(0, map[string]any{"expiration": exp}, okFields...), nil, 400},
		{"empty condition", v2Form(0, map[string]any{"expiration": exp, "conditions": []any{map[string]string{}}}, okFields...), nil, 400},
		{"bad range", v2Form(0, policy([]any{"content-length-range", -1, 0}), okFields...), nil, 400},
		{"unmet eq", v2Form(0, policy(std...), formField{"key", "docs/x"}, formField{"acl", "public-read"}, formField{"Content-Type", "text/plain"},
			formField{"x-amz-meta-owner", "bob"}, formField{"success_action_status", "201"}), nil, 403},
		{"missing field of a condition", v2Form(0, policy(std...), formField{"key", "docs/x"}, formField{"acl", "public-read"}, formField{"Content-Type", "text/plain"},
			formField{"success_action_status", "201"}), nil, 403},
		{"field no condition names", v2Form(0, policy(std...), append(okFields, formField{"x-amz-meta-extra", "1"})...), nil, 403},
		{"no bucket condition", v2Form(0, map[string]any{"expiration": exp, "conditions": std}, okFields...), nil, 403},
		{"too small", v2Form(0, policy(append(std[:3:3], []any{"content-length-range", 10, 100}, std[4], std[5], std[6])...), okFields...), []byte("tiny"), 400},
		{"no key", v2Form(0, policy(std...), okFields[1:]...), nil, 400},
		{"alt has no write", v2Form(2, policy(std...), okFields...), nil, 403},
	}
	for _, tc := range cases {
		file := tc.file
		if file == nil {
			file = []byte("data")
		}
		resp, body := postForm(t, target, tc.fields, "f.txt", file)
		if resp.StatusCode != tc.code {
			t.Errorf("%s: %d, want %d: %s", tc.name, resp.StatusCode, tc.code, body)
		}
	}
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("forms"), Key: aws.String("docs/x")}); err == nil {
		t.Fatal("a refused form stored its object")
	}

	// Anonymous forms: refused on a private bucket, accepted where anyone
	// may write.
	if resp, _ := postForm(t, target, []formField{{"key", "anon"}}, "a", []byte("a")); resp.StatusCode != 403 {
		t.Fatalf("anonymous POST to a private bucket: %d", resp.StatusCode)
	}
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("dropbox"), ACL: types.BucketCannedACLPublicReadWrite}))
	if resp, body := postForm(t, g.url+"/dropbox", []formField{{"key", "anon"}}, "a", []byte("anon")); resp.StatusCode != 204 {
		t.Fatalf("anonymous POST to a public-read-write bucket: %d %s", resp.StatusCode, body)
	}
	obj = must[*s3.GetObjectOutput](t)(c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("dropbox"), Key: aws.String("anon")}))
	mustEqual(t, "anonymous POST", readAll(t, obj.Body), []byte("anon"))
	// Not a form, or a form without a file.
	if code, _ := g.rawDo(t, "POST", "/forms", []byte("x"), map[string]string{"Content-Type": "text/plain"}); code != 412 {
		t.Fatalf("POST that is not a form: %d", code)
	}
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	w.WriteField("key", "nofile")
	w.Close()
	req, _ := http.NewRequest("POST", g.url+"/dropbox", &buf)
	req.Header.Set("Content-Type", w.FormDataContentType())
	r := must[*http.Response](t)(http.DefaultClient.Do(req))
	r.Body.Close()
	if r.StatusCode != 400 {
		t.Fatalf("form without a file: %d", r.StatusCode)
	}
}
