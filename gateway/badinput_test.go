package gateway_test

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// rawDo signs (key i, unsigned payload) and sends a request, returning the
// status and body.
func (g *testGateway) rawDo(t *testing.T, method, path string, body []byte, hdr map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, g.url+path, bytes.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	signRequest(t, req, 0)
	resp := must[*http.Response](t)(http.DefaultClient.Do(req))
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b)
}

func TestBadInput(t *testing.T) {
	g := startGateway(t)
	c := g.client(0, true)
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bad")}))

	// XML request bodies: malformed, oversized, too many keys.
	if code, body := g.rawDo(t, "POST", "/bad?delete", []byte("<Delete><Object><Key>a</Key>"), nil); code != 400 || !strings.Contains(body, "MalformedXML") {
		t.Fatalf("malformed XML: %d %s", code, body)
	}
	big := "<Delete>" + strings.Repeat("<Object><Key>k</Key></Object>", 40000) + "</Delete>"
	if code, body := g.rawDo(t, "POST", "/bad?delete", []byte(big), nil); code != 400 || !strings.Contains(body, "MaxMessageLengthExceeded") {
		t.Fatalf("oversized XML: %d %.200s", code, body)
	}
	if code, body := g.rawDo(t, "PUT", "/bad?versioning", []byte("<VersioningConfiguration><Status>Sometimes</Status></VersioningConfiguration>"), nil); code != 400 || !strings.Contains(body, "IllegalVersioningConfigurationException") {
		t.Fatalf("bad versioning status: %d %s", code, body)
	}
	if code, body := g.rawDo(t, "PUT", "/bad?cors", []byte("<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>PATCH</AllowedMethod></CORSRule></CORSConfiguration>"), nil); code != 400 || !strings.Contains(body, "InvalidRequest") {
		t.Fatalf("bad CORS method: %d %s", code, body)
	}

	// Huge headers are cut off by net/http before any handler runs.
	req, _ := http.NewRequest("GET", g.url+"/bad/x", nil)
	req.Header.Set("X-Amz-Meta-Huge", strings.Repeat("h", 100<<10))
	resp := must[*http.Response](t)(http.DefaultClient.Do(req))
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("huge header: %d", resp.StatusCode)
	}
	// Oversized user metadata.
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bad"), Key: aws.String("meta"), Body: strings.NewReader("x"),
		Metadata: map[string]string{"big": strings.Repeat("m", 3000)}})
	wantCode(t, err, "MetadataTooLarge")

	// Digests that do not match store nothing.
	data := []byte("the body")
	wrong := md5.Sum([]byte("another body"))
	if code, body := g.rawDo(t, "PUT", "/bad/md5", data, map[string]string{"Content-MD5": base64.StdEncoding.EncodeToString(wrong[:])}); code != 400 || !strings.Contains(body, "BadDigest") {
		t.Fatalf("wrong Content-MD5: %d %s", code, body)
	}
	if code, body := g.rawDo(t, "PUT", "/bad/crc", data, map[string]string{"x-amz-checksum-crc32": "AAAAAA=="}); code != 400 || !strings.Contains(body, "BadDigest") {
		t.Fatalf("wrong CRC32: %d %s", code, body)
	}
	for _, k := range []string{"md5", "crc"} {
		_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("bad"), Key: aws.String(k)})
		if err == nil {
			t.Fatalf("object %s stored despite a bad digest", k)
		}
	}

	// Wrong secret, unknown key, expired presigned URL.
	wrongSecret := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(g.url), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("AKIAMAIN", "not-the-secret", "")})
	_, err = wrongSecret.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("bad")})
	wantCode(t, err, "SignatureDoesNotMatch")
	unknown := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(g.url), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("AKIANOBODY", "x", "")})
	_, err = unknown.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("bad")})
	wantCode(t, err, "InvalidAccessKeyId")
	must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bad"), Key: aws.String("p"), Body: strings.NewReader("x")}))
	preq, _ := http.NewRequest("GET", g.url+"/bad/p?X-Amz-Expires=60", nil)
	url, _, err := v4.NewSigner().PresignHTTP(ctx, aws.Credentials{AccessKeyID: "AKIAMAIN", SecretAccessKey: "main-secret"},
		preq, "UNSIGNED-PAYLOAD", "s3", "us-east-1", time.Now().Add(-2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	resp = must[*http.Response](t)(http.Get(url))
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || !strings.Contains(string(body), "AccessDenied") {
		t.Fatalf("expired presigned URL: %d %s", resp.StatusCode, body)
	}

	// Unknown bucket and key, bad version id.
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bad"), Key: aws.String("nope")})
	wantCode(t, err, "NoSuchKey")
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("nobucket"), Key: aws.String("nope")})
	wantCode(t, err, "NoSuchBucket")
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bad"), Key: aws.String("p"), VersionId: aws.String("garbage")})
	wantCode(t, err, "InvalidArgument")
	_, err = c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("bad"), Key: aws.String("p"), UploadId: aws.String("none"), PartNumber: aws.Int32(1), Body: strings.NewReader("x")})
	wantCode(t, err, "NoSuchUpload")

	blobsBefore, _ := g.blobFiles()
	// A PUT cut off halfway leaves no object and no file.
	for _, mode := range []string{"UNSIGNED-PAYLOAD", "chunked"} {
		t.Run("truncated-"+mode, func(t *testing.T) {
			g.truncatedPut(t, "/bad/cut-"+mode, mode == "chunked")
			deadline := time.Now().Add(30 * time.Second)
			for {
				_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("bad"), Key: aws.String("cut-" + mode)})
				n, tmp := g.blobFiles()
				if err != nil && n == blobsBefore && tmp == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("after a truncated PUT: head err %v, %d blobs (had %d), %d temp files", err, n, blobsBefore, tmp)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// truncatedPut sends a signed PUT that announces 1 MiB and sends half, then
// hangs up.
func (g *testGateway) truncatedPut(t *testing.T, path string, chunked bool) {
	t.Helper()
	const size = 1 << 20
	req, _ := http.NewRequest("PUT", g.url+path, bytes.NewReader(make([]byte, size)))
	if chunked {
		// Unsigned aws-chunked body with a trailing checksum, the way
		// current SDKs send it; cut in the middle of the chunks.
		req.Header.Set("Content-Encoding", "aws-chunked")
		req.Header.Set("X-Amz-Decoded-Content-Length", fmt.Sprint(size))
		req.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32")
	}
	payload := "UNSIGNED-PAYLOAD"
	if chunked {
		payload = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
		req.ContentLength = -1
	}
	req.Header.Set("X-Amz-Content-Sha256", payload)
	if err := v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: testKeys[0].AccessKey, SecretAccessKey: testKeys[0].SecretKey},
		req, payload, "s3", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	var head bytes.Buffer
	fmt.Fprintf(&head, "PUT %s HTTP/1.1\r\nHost: %s\r\n", path, req.Host)
	if chunked {
		req.Header.Set("Transfer-Encoding", "chunked")
	} else {
		req.Header.Set("Content-Length", fmt.Sprint(size))
	}
	req.Header.Write(&head)
	head.WriteString("\r\n")
	conn := must[net.Conn](t)(net.Dial("tcp", g.srv.Listener.Addr().String()))
	defer conn.Close()
	conn.Write(head.Bytes())
	if chunked {
		// HTTP chunk containing one aws-chunk header and half its data.
		inner := fmt.Sprintf("%x\r\n", 64<<10) + strings.Repeat("a", 64<<10) + "\r\n" + fmt.Sprintf("%x\r\n", 64<<10) + strings.Repeat("b", 1000)
		fmt.Fprintf(conn, "%x\r\n%s\r\n", len(inner), inner)
	} else {
		conn.Write(make([]byte, size/2))
	}
	time.Sleep(50 * time.Millisecond)
	conn.(*net.TCPConn).CloseWrite()
	// Read whatever the server answers (or the close). It answers at the
	// EOF; its client timeout (a minute) would come much later than 20 s.
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("no answer to a truncated PUT: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// The body was signed correctly and accepted; it failed for being short.
	if resp.StatusCode != 400 || !strings.Contains(string(body), "IncompleteBody") {
		t.Fatalf("truncated PUT: %d %s", resp.StatusCode, body)
	}
}
