package transfer

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/datdot/datdot/gateway"
	"github.com/datdot/datdot/gateway/config"
)

const partSize = 5 << 20

// startGateway runs the real S3 gateway on a loopback port and returns a
// client for it, which counts the request bytes it sends and receives.
func startGateway(t *testing.T) (*s3.Client, *countingTransport) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cfg := config.Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Region: "us-east-1", LogLevel: "warn", ClientTimeout: time.Minute,
		Keys: []config.Key{{AccessKey: "AKTRANSFER", SecretKey: "transfer-secret", UserID: "u", DisplayName: "u"}}}
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- gateway.Run(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), func(a string) { addr <- a })
	}()
	var a string
	select {
	case a = <-addr:
	case err := <-done:
		t.Fatalf("gateway: %v", err)
	}
	t.Cleanup(func() { cancel(); <-done })
	ct := &countingTransport{base: http.DefaultTransport}
	cl := s3.New(s3.Options{BaseEndpoint: aws.String("http://" + a), Region: "us-east-1", UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("AKTRANSFER", "transfer-secret", ""), HTTPClient: &http.Client{Transport: ct}})
	if _, err := cl.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("bkt")}); err != nil {
		t.Fatal(err)
	}
	return cl, ct
}

type countingTransport struct {
	base       http.RoundTripper
	uploadPart atomic.Int64 // UploadPart requests
	gotBytes   atomic.Int64 // response body bytes of GETs
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPut && r.URL.Query().Has("partNumber") {
		c.uploadPart.Add(1)
	}
	resp, err := c.base.RoundTrip(r)
	if err == nil && r.Method == http.MethodGet && resp.ContentLength > 0 {
		c.gotBytes.Add(resp.ContentLength)
	}
	return resp, err
}

type counter struct{ n atomic.Int64 }

func (c *counter) Add64(n int64) error { c.n.Add(n); return nil }

func randomFile(t *testing.T, size int) (string, []byte) {
	data := make([]byte, size)
	rand.Read(data)
	p := filepath.Join(t.TempDir(), "file.bin")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, data
}

func TestPutGetSmallAndMultipart(t *testing.T) {
	cl, _ := startGateway(t)
	ctx := context.Background()
	for _, size := range []int{0, 1000, 2*partSize + 12345} {
		path, data := randomFile(t, size)
		var prog counter
		if _, err := Put(ctx, cl, "bkt", "k", path, Options{PartSize: partSize, Progress: &prog}); err != nil {
			t.Fatalf("put %d: %v", size, err)
		}
		if prog.n.Load() != int64(size) {
			t.Errorf("put %d: progress says %d", size, prog.n.Load())
		}
		if _, err := os.Stat(StatePath(path)); !os.IsNotExist(err) {
			t.Errorf("put %d: upload state left behind", size)
		}
		out := filepath.Join(t.TempDir(), "back")
		if _, err := Get(ctx, cl, "bkt", "k", out, Options{}); err != nil {
			t.Fatalf("get %d: %v", size, err)
		}
		back, _ := os.ReadFile(out)
		if !bytes.Equal(back, data) {
			t.Fatalf("size %d: object came back different", size)
		}
	}
}

// An interrupted multipart upload is resumed: only the missing parts are
// sent, and a part on the server whose bytes differ from the file is sent
// again.
func TestPutResumes(t *testing.T) {
	cl, ct := startGateway(t)
	ctx := context.Background()
	path, data := randomFile(t, 3*partSize+7)
	// A first run that stopped after part 1 (and a wrong part 3).
	up, err := cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("big")})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	if err := writeState(StatePath(path), uploadState{Bucket: "bkt", Key: "big", UploadID: *up.UploadId, Size: st.Size(), ModTime: st.ModTime().UnixNano(), PartSize: partSize}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct {
		n    int32
		body []byte
	}{{1, data[:partSize]}, {3, bytes.Repeat([]byte{1}, partSize)}} {
		if _, err := cl.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("bkt"), Key: aws.String("big"), UploadId: up.UploadId,
			PartNumber: aws.Int32(p.n), Body: bytes.NewReader(p.body)}); err != nil {
			t.Fatal(err)
		}
	}
	ct.uploadPart.Store(0)
	var resumedFrom int64 = -1
	sent, err := Put(ctx, cl, "bkt", "big", path, Options{PartSize: partSize, NewProgress: func(total, resumed int64) Progress {
		resumedFrom = resumed
		return noProgress{}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if resumedFrom != partSize || sent != int64(len(data))-partSize || ct.uploadPart.Load() != 3 {
		t.Fatalf("resumed from %d, sent %d bytes in %d parts; want from %d, %d bytes in 3 parts (2, 3 again, 4)", resumedFrom, sent, ct.uploadPart.Load(), partSize, len(data)-partSize)
	}
	out := filepath.Join(t.TempDir(), "back")
	if _, err := Get(ctx, cl, "bkt", "big", out, Options{}); err != nil {
		t.Fatal(err)
	}
	if back, _ := os.ReadFile(out); !bytes.Equal(back, data) {
		t.Fatal("resumed upload is not the file")
	}
}

// An interrupted download continues where its .part file ends, only for
// the same object version; a changed object starts over.
func TestGetResumes(t *testing.T) {
	cl, ct := startGateway(t)
	ctx := context.Background()
	path, data := randomFile(t, 3<<20)
	if _, err := Put(ctx, cl, "bkt", "obj", path, Options{PartSize: partSize}); err != nil {
		t.Fatal(err)
	}
	head, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("bkt"), Key: aws.String("obj")})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "back")
	os.WriteFile(out+".part", data[:1<<20], 0o644)
	os.WriteFile(out+".part.etag", []byte(*head.ETag), 0o600)
	ct.gotBytes.Store(0)
	got, err := Get(ctx, cl, "bkt", "obj", out, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got != 2<<20 || ct.gotBytes.Load() != 2<<20 {
		t.Fatalf("fetched %d (wire %d), want only the missing %d", got, ct.gotBytes.Load(), 2<<20)
	}
	if back, _ := os.ReadFile(out); !bytes.Equal(back, data) {
		t.Fatal("resumed download differs")
	}
	for _, f := range []string{out + ".part", out + ".part.etag"} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s left behind", f)
		}
	}
	// A .part of another version of the object is not trusted.
	os.WriteFile(out+".part", bytes.Repeat([]byte{9}, 1<<20), 0o644)
	os.WriteFile(out+".part.etag", []byte(`"other-version"`), 0o600)
	if got, err := Get(ctx, cl, "bkt", "obj", out, Options{}); err != nil || got != int64(len(data)) {
		t.Fatalf("stale part: fetched %d, %v", got, err)
	}
	if back, _ := os.ReadFile(out); !bytes.Equal(back, data) {
		t.Fatal("download over a stale part differs")
	}
}

func TestGetMissingObject(t *testing.T) {
	cl, _ := startGateway(t)
	out := filepath.Join(t.TempDir(), "none")
	if _, err := Get(context.Background(), cl, "bkt", "nope", out, Options{}); err == nil {
		t.Fatal("no error for a missing object")
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatal("a file was made for a missing object")
	}
}
