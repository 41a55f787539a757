package gateway_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/datdot/datdot/gateway"
	"github.com/datdot/datdot/gateway/config"
	"github.com/datdot/datdot/gateway/store"
	"github.com/datdot/datdot/gateway/store/local"
	"github.com/datdot/datdot/gateway/store/network"
)

// Test accounts: "main" has two keys, "alt" one.
var testKeys = []config.Key{
	{AccessKey: "AKIAMAIN", SecretKey: "main-secret", UserID: "main-user", DisplayName: "Main"},
	{AccessKey: "AKIAMAIN2", SecretKey: "main-secret-2", UserID: "main-user", DisplayName: "Main"},
	{AccessKey: "AKIAALT", SecretKey: "alt-secret", UserID: "alt-user", DisplayName: "Alt"},
}

const testDomain = "s3.test.internal"

// testGateway is a gateway on a loopback port over a local store in a temp
// dir.
type testGateway struct {
	t    testing.TB
	srv  *httptest.Server
	url  string
	dir  string
	meta *local.Meta
	// vols is the network store (startNetworkGateway).
	vols *network.Blobs
	// payloadModes records the x-amz-content-sha256 values clients sent.
	payloadModes sync.Map
}

func startGateway(t testing.TB) *testGateway {
	t.Helper()
	return startGatewayWith(t, nil, 0)
}

// startGatewayWith starts a gateway whose blob store is wrap(the local
// one), to inject storage failures; wrap may be nil. clientTimeout 0 is the
// default.
func startGatewayWith(t testing.TB, wrap func(store.BlobStore) store.BlobStore, clientTimeout time.Duration) *testGateway {
	t.Helper()
	dir := t.TempDir()
	meta, localBlobs, err := local.Open(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	var blobs store.BlobStore = localBlobs
	if wrap != nil {
		blobs = wrap(blobs)
	}
	cfg := config.Config{Region: "us-east-1", Keys: testKeys, Domains: []string{testDomain}, ClientTimeout: clientTimeout}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	g := &testGateway{t: t, dir: dir, meta: meta}
	h := gateway.NewHandler(cfg, meta, blobs, log)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m := r.Header.Get("X-Amz-Content-Sha256"); m != "" {
			g.payloadModes.Store(m, true)
		}
		h.ServeHTTP(w, r)
	}))
	srv.Config.MaxHeaderBytes = gateway.MaxHeaderBytes
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		meta.Close()
	})
	g.srv, g.url = srv, srv.URL
	return g
}

// dialer sends every connection to the test server, so that virtual-host
// names like bucket.s3.test.internal need no DNS.
func (g *testGateway) httpClient() *http.Client {
	addr := g.srv.Listener.Addr().String()
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
	return &http.Client{Transport: tr}
}

// client returns an aws-sdk-go-v2 client for key i of testKeys.
func (g *testGateway) client(i int, pathStyle bool) *s3.Client {
	k := testKeys[i]
	endpoint := g.url
	if !pathStyle {
		_, port, _ := net.SplitHostPort(g.srv.Listener.Addr().String())
		endpoint = "http://" + testDomain + ":" + port
	}
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: pathStyle,
		Credentials:  credentials.NewStaticCredentialsProvider(k.AccessKey, k.SecretKey, ""),
		HTTPClient:   g.httpClient(),
	})
}

// blobFiles counts data files and temp files in the store directory.
func (g *testGateway) blobFiles() (blobs, tmp int) {
	filepath.WalkDir(filepath.Join(g.dir, "blobs"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			blobs++
		}
		return nil
	})
	entries, _ := os.ReadDir(filepath.Join(g.dir, "tmp"))
	return blobs, len(entries)
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// apiCode returns the S3 error code of an SDK error.
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if err != nil {
		return "non-API error: " + err.Error()
	}
	return ""
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := apiCode(err); got != code {
		t.Fatalf("want error %s, got %v", code, err)
	}
}

func must[T any](t *testing.T) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func readAll(t *testing.T, r io.ReadCloser) []byte {
	t.Helper()
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustEqual(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: got %d bytes, want %d bytes (content differs)", what, len(got), len(want))
	}
}

var ctx = context.Background()

// newSigner returns a function that signs a raw request with SigV4 and an
// unsigned payload, using aws-sdk-go-v2's signer.
func newSigner() func(req *http.Request, access, secret string) error {
	s := v4.NewSigner()
	return func(req *http.Request, access, secret string) error {
		req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		creds := aws.Credentials{AccessKeyID: access, SecretAccessKey: secret}
		return s.SignHTTP(context.Background(), creds, req, "UNSIGNED-PAYLOAD", "s3", "us-east-1", time.Now())
	}
}
