package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/datdot/datdot/gateway"
	"github.com/datdot/datdot/gateway/config"
	"github.com/datdot/datdot/gateway/store"
	"github.com/datdot/datdot/gateway/store/local"
)

// TestStalledUploadIsDropped: a client that sends part of a PUT body and
// then nothing is disconnected after the client timeout (a slowloris would
// otherwise hold a connection, a goroutine and a temp file for ever), and
// nothing is stored.
func TestStalledUploadIsDropped(t *testing.T) {
	dir := t.TempDir()
	meta, blobs, err := local.Open(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	cfg := config.Config{Region: "us-east-1", Keys: testKeys, ClientTimeout: 300 * time.Millisecond}
	srv := httptest.NewServer(gateway.NewHandler(cfg, meta, blobs, slog.New(slog.DiscardHandler)))
	defer srv.Close()
	c := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(testKeys[0].AccessKey, testKeys[0].SecretKey, "")})
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("slow")}))

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pr, pw := io.Pipe()
	defer pw.Close()
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/slow/obj", pr)
	req.ContentLength = 1000
	if err := newSigner()(req, testKeys[0].AccessKey, testKeys[0].SecretKey); err != nil {
		t.Fatal(err)
	}
	go req.Write(conn)
	pw.Write([]byte(strings.Repeat("x", 10))) // then stall

	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("stalled upload answered %s", resp.Status)
		}
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the gateway kept a stalled upload's connection open for 10 s")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("stalled upload dropped only after %v", d)
	}
	_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("slow"), Key: aws.String("obj")})
	wantCode(t, err, "NotFound")
}

// slowDisk is a BlobStore whose reads take a while.
type slowDisk struct{ store.BlobStore }

type slowReader struct{ io.ReadCloser }

func (s slowReader) Read(p []byte) (int, error) {
	time.Sleep(50 * time.Millisecond)
	return s.ReadCloser.Read(p[:min(len(p), 64<<10)])
}

func (s slowDisk) Open(ctx context.Context, ref store.BlobRef, off, n int64) (io.ReadCloser, error) {
	rc, err := s.BlobStore.Open(ctx, ref, off, n)
	return slowReader{rc}, err
}

// TestLongRequestsOutliveClientTimeout: the client timeout is about a
// stalled client, not a slow server: a CopyObject and a GET that take
// several times the timeout, with a client waiting or reading steadily,
// complete.
func TestLongRequestsOutliveClientTimeout(t *testing.T) {
	g := startGatewayWith(t, func(b store.BlobStore) store.BlobStore { return slowDisk{b} }, 200*time.Millisecond)
	c := g.client(0, true)
	b := aws.String("long")
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}))
	data := randBytes(1 << 20) // 16 slow reads: 800 ms
	must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("src"), Body: bytes.NewReader(data)}))
	must[*s3.CopyObjectOutput](t)(c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String("dst"), CopySource: aws.String("long/src")}))
	get := must[*s3.GetObjectOutput](t)(c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("dst")}))
	mustEqual(t, "copy read slowly", readAll(t, get.Body), data)
}

// TestStalledReaderIsDropped: a GET whose client stops reading is cut off
// after the client timeout, which unpins the object's data: an overwrite
// then frees the old blob instead of keeping it for a reader that never
// comes back.
func TestStalledReaderIsDropped(t *testing.T) {
	g := startGatewayWith(t, nil, 300*time.Millisecond)
	c := g.client(0, true)
	b, k := aws.String("stall"), aws.String("big")
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}))
	data := randBytes(32 << 20) // more than the socket buffers hold
	must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: k, Body: bytes.NewReader(data)}))

	conn, err := net.Dial("tcp", g.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req, _ := http.NewRequest(http.MethodGet, g.url+"/stall/big", nil)
	if err := newSigner()(req, testKeys[0].AccessKey, testKeys[0].SecretKey); err != nil {
		t.Fatal(err)
	}
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	// Read nothing. Overwrite; the old blob stays while the GET holds it.
	must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: k, Body: bytes.NewReader([]byte("new"))}))
	// The cut-off comes 300 ms after the socket buffers fill; the bound is
	// only there to end the test, generous for a busy machine.
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, _ := g.blobFiles()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d blobs 30 s after the reader stalled: the stalled GET still holds the old data", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestExpectContinueRefusedAtOnce: a PUT with Expect: 100-continue that is
// refused before its body is read (here: anonymous, to a private bucket)
// gets its 403 at once; the gateway neither asks for nor waits for the body.
func TestExpectContinueRefusedAtOnce(t *testing.T) {
	g := startGateway(t)
	c := g.client(0, true)
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("cont")}))
	conn, err := net.Dial("tcp", g.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PUT /cont/obj HTTP/1.1\r\nHost: %s\r\nContent-Length: 123\r\nExpect: 100-continue\r\n\r\n", g.srv.Listener.Addr())
	// A gateway that waited for the body would answer only after its
	// client timeout (a minute): 20 s tells the two apart on a busy machine.
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatalf("no answer to a refused Expect: 100-continue PUT: %v", err)
	}
	if !strings.HasPrefix(line, "HTTP/1.1 403") {
		t.Fatalf("answer %q, want 403", line)
	}
}
