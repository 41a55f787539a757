package sigv4

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"
)

// echoServer is a tiny object handler: it authenticates every request with
// the Verifier, keeps PUT bodies that read to a clean EOF, serves them on
// GET, and answers with the verified checksums and the MD5 ETag. It records
// the payload mode of each request so the tests can show which modes the
// real clients used.
type echoServer struct {
	v *Verifier

	mu      sync.Mutex
	objects map[string][]byte
	modes   []string
}

type xmlError struct {
	XMLName xml.Name `xml:"Error"`
	Code    string
	Message string
}

func (s *echoServer) fail(w http.ResponseWriter, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Code: ErrCodeInternalError, Message: err.Error(), Status: http.StatusInternalServerError}
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(e.Status)
	_ = xml.NewEncoder(w).Encode(xmlError{Code: e.Code, Message: e.Message})
}

func (s *echoServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	res, err := s.v.Authenticate(r)
	if err != nil {
		s.fail(w, err)
		return
	}
	if res.Anonymous {
		s.fail(w, errAccessDenied("Access Denied"))
		return
	}
	data, err := io.ReadAll(res.Body)
	if err != nil {
		s.fail(w, err)
		return
	}
	mode := res.PayloadMode
	if len(mode) == 64 {
		mode = "hex-sha256"
	}
	s.mu.Lock()
	s.modes = append(s.modes, r.Method+" "+mode)
	s.mu.Unlock()
	switch r.Method {
	case http.MethodGet:
		if _, ok := r.URL.Query()["location"]; ok {
			_, _ = io.WriteString(w, `<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></LocationConstraint>`)
			return
		}
		s.mu.Lock()
		obj, ok := s.objects[r.URL.Path]
		s.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		if cd := r.URL.Query().Get("response-content-disposition"); cd != "" {
			w.Header().Set("Content-Disposition", cd)
		}
		w.Header().Set("Last-Modified", time.Now().UTC().Format(http.TimeFormat))
		w.Header().Set("ETag", `"`+md5hex(obj)+`"`)
		_, _ = w.Write(obj)
	case http.MethodPut:
		s.mu.Lock()
		s.objects[r.URL.Path] = data
		s.mu.Unlock()
		for alg, val := range res.Checksums() {
			if alg != ContentMD5 {
				w.Header().Set(ChecksumHeader(alg), val)
			}
		}
		w.Header().Set("ETag", `"`+res.MD5Hex()+`"`)
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}

func (s *echoServer) object(path string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.objects[path]
}

func (s *echoServer) sawMode(mode string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.modes {
		if m == mode {
			return true
		}
	}
	return false
}

func newEchoServer(t *testing.T, tls bool) (*echoServer, *httptest.Server) {
	es := &echoServer{v: testVerifier(nil), objects: map[string][]byte{}}
	var srv *httptest.Server
	if tls {
		srv = httptest.NewTLSServer(es)
	} else {
		srv = httptest.NewServer(es)
	}
	t.Cleanup(srv.Close)
	return es, srv
}

func awsClient(srv *httptest.Server, secret string) *s3.Client {
	cfg := aws.Config{
		Region:      testRegion,
		Credentials: awscreds.NewStaticCredentialsProvider(testAccessKey, secret, ""),
		HTTPClient:  srv.Client(),
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(srv.URL)
		o.UsePathStyle = true
		o.RetryMaxAttempts = 1
	})
}

// onlyReader hides Seek so that the SDK has to stream the body.
type onlyReader struct{ io.Reader }

func TestAWSSDKClientEndToEnd(t *testing.T) {
	ctx := context.Background()
	for _, tls := range []bool{false, true} {
		es, srv := newEchoServer(t, tls)
		cl := awsClient(srv, testSecret)
		body := testPayload(300_000)
		algs := []s3types.ChecksumAlgorithm{"", s3types.ChecksumAlgorithmCrc32, s3types.ChecksumAlgorithmCrc32c,
			s3types.ChecksumAlgorithmSha1, s3types.ChecksumAlgorithmSha256, s3types.ChecksumAlgorithmCrc64nvme}
		for _, alg := range algs {
			for _, seekable := range []bool{true, false} {
				key := "obj-" + string(alg) + map[bool]string{true: "-seek", false: "-stream"}[seekable]
				var rd io.Reader = bytes.NewReader(body)
				if !seekable {
					rd = onlyReader{bytes.NewReader(body)}
				}
				in := &s3.PutObjectInput{
					Bucket:        aws.String("bucket"),
					Key:           aws.String(key + " with space+plus"),
					Body:          rd,
					ContentLength: aws.Int64(int64(len(body))),
				}
				if alg != "" {
					in.ChecksumAlgorithm = alg
				}
				out, err := cl.PutObject(ctx, in)
				if !seekable && !tls {
					// Over plain http the SDK refuses an unseekable body
					// (it cannot hash it first); nothing to verify then.
					if err == nil {
						t.Logf("tls=%v %s: SDK streamed an unseekable body over http", tls, key)
					}
					continue
				}
				if err != nil {
					t.Fatalf("tls=%v %s: %v", tls, key, err)
				}
				if got := es.object("/bucket/" + key + " with space+plus"); !bytes.Equal(got, body) {
					t.Fatalf("tls=%v %s: stored %d bytes", tls, key, len(got))
				}
				if want := `"` + md5hex(body) + `"`; aws.ToString(out.ETag) != want {
					t.Fatalf("etag %s, want %s", aws.ToString(out.ETag), want)
				}
				if alg != "" {
					var got *string
					switch alg {
					case s3types.ChecksumAlgorithmCrc32:
						got = out.ChecksumCRC32
					case s3types.ChecksumAlgorithmCrc32c:
						got = out.ChecksumCRC32C
					case s3types.ChecksumAlgorithmSha1:
						got = out.ChecksumSHA1
					case s3types.ChecksumAlgorithmSha256:
						got = out.ChecksumSHA256
					case s3types.ChecksumAlgorithmCrc64nvme:
						got = out.ChecksumCRC64NVME
					}
					if aws.ToString(got) != checksumOf(string(alg), body) {
						t.Fatalf("tls=%v %s: echoed checksum %q, want %q", tls, key, aws.ToString(got), checksumOf(string(alg), body))
					}
				}
			}
		}
		if tls && !es.sawMode("PUT "+StreamingUnsignedTrailer) {
			t.Errorf("the SDK never used %s over TLS; modes: %v", StreamingUnsignedTrailer, es.modes)
		}
		t.Logf("tls=%v payload modes used by aws-sdk-go-v2: %v", tls, uniq(es.modes))

		// GET back through the SDK.
		got, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bucket"), Key: aws.String("obj--seek with space+plus")})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(got.Body)
		got.Body.Close()
		if !bytes.Equal(b, body) {
			t.Fatalf("GET returned %d bytes", len(b))
		}

		// A presigned GET with a response override, fetched by a plain
		// HTTP client.
		pc := s3.NewPresignClient(cl, func(o *s3.PresignOptions) { o.Expires = 10 * time.Minute })
		pr, err := pc.PresignGetObject(ctx, &s3.GetObjectInput{
			Bucket:                     aws.String("bucket"),
			Key:                        aws.String("obj--seek with space+plus"),
			ResponseContentDisposition: aws.String(`attachment; filename="cat pic.jpg"`),
		})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := srv.Client().Get(pr.URL)
		if err != nil {
			t.Fatal(err)
		}
		b, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Equal(b, body) || resp.Header.Get("Content-Disposition") != `attachment; filename="cat pic.jpg"` {
			t.Fatalf("presigned GET: %d %q, %d bytes", resp.StatusCode, resp.Header.Get("Content-Disposition"), len(b))
		}

		// A wrong secret is refused with AWS's code, and nothing stored.
		_, err = awsClient(srv, "not-the-secret").PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String("bucket"), Key: aws.String("refused"), Body: bytes.NewReader([]byte("x")),
		})
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != ErrCodeSignatureDoesNotMatch {
			t.Fatalf("wrong secret: %v", err)
		}
		if es.object("/bucket/refused") != nil {
			t.Fatal("refused object was stored")
		}
	}
}

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

func uniq(xs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

func TestMinioClientEndToEnd(t *testing.T) {
	ctx := context.Background()
	for _, tls := range []bool{false, true} {
		es, srv := newEchoServer(t, tls)
		u, _ := url.Parse(srv.URL)
		for _, trailing := range []bool{false, true} {
			cl, err := minio.New(u.Host, &minio.Options{
				Creds:           miniocreds.NewStaticV4(testAccessKey, testSecret, ""),
				Secure:          tls,
				Transport:       srv.Client().Transport,
				Region:          testRegion,
				TrailingHeaders: trailing,
			})
			if err != nil {
				t.Fatal(err)
			}
			body := testPayload(1 << 20)
			opts := []minio.PutObjectOptions{{}, {SendContentMd5: true}}
			if trailing {
				opts = append(opts, minio.PutObjectOptions{Checksum: minio.ChecksumCRC32C},
					minio.PutObjectOptions{Checksum: minio.ChecksumSHA256},
					minio.PutObjectOptions{Checksum: minio.ChecksumCRC64NVME})
			}
			for i, o := range opts {
				key := "m/" + string(rune('a'+i)) + " key"
				info, err := cl.PutObject(ctx, "bucket", key, bytes.NewReader(body), int64(len(body)), o)
				if err != nil {
					t.Fatalf("tls=%v trailing=%v opts %d: %v", tls, trailing, i, err)
				}
				if got := es.object("/bucket/" + key); !bytes.Equal(got, body) {
					t.Fatalf("stored %d bytes", len(got))
				}
				if info.ETag != md5hex(body) {
					t.Fatalf("etag %s", info.ETag)
				}
			}
			obj, err := cl.GetObject(ctx, "bucket", "m/a key", minio.GetObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(obj)
			if err != nil || !bytes.Equal(b, body) {
				t.Fatalf("GET %d bytes, %v", len(b), err)
			}
			pu, err := cl.PresignedGetObject(ctx, "bucket", "m/a key", time.Hour, url.Values{"response-content-disposition": {"inline"}})
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Get(pu.String())
			if err != nil {
				t.Fatal(err)
			}
			b, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !bytes.Equal(b, body) {
				t.Fatalf("presigned GET %d, %d bytes", resp.StatusCode, len(b))
			}
		}
		if !tls && !es.sawMode("PUT "+StreamingPayload) {
			t.Errorf("minio-go never used %s over http; modes: %v", StreamingPayload, es.modes)
		}
		if !tls && !es.sawMode("PUT "+StreamingPayloadTrailer) {
			t.Errorf("minio-go never used %s over http; modes: %v", StreamingPayloadTrailer, es.modes)
		}
		if tls && !es.sawMode("PUT "+StreamingUnsignedTrailer) {
			t.Errorf("minio-go never used %s over TLS; modes: %v", StreamingUnsignedTrailer, es.modes)
		}
		t.Logf("tls=%v payload modes used by minio-go: %v", tls, uniq(es.modes))

		// Wrong secret.
		bad, _ := minio.New(u.Host, &minio.Options{
			Creds: miniocreds.NewStaticV4(testAccessKey, "wrong", ""), Secure: tls,
			Transport: srv.Client().Transport, Region: testRegion,
		})
		_, err := bad.PutObject(ctx, "bucket", "refused", strings.NewReader("x"), 1, minio.PutObjectOptions{})
		if minio.ToErrorResponse(err).Code != ErrCodeSignatureDoesNotMatch {
			t.Fatalf("wrong secret: %v", err)
		}
		if es.object("/bucket/refused") != nil {
			t.Fatal("refused object was stored")
		}
	}
}
