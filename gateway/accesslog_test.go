package gateway_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/datdot/datdot/gateway"
)

// lockedBuffer is a bytes.Buffer safe for concurrent writers and readers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestAccessLog (issue 16): every request gets one JSON line with its id,
// account, operation, bucket, key, status, S3 error code, bytes in and out
// and latency.
func TestAccessLog(t *testing.T) {
	var out lockedBuffer
	g, _ := startGatewayOpts(t, gateway.Options{AccessLog: slog.New(slog.NewJSONHandler(&out, nil))})
	c := g.client(0, true)
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("logs")}))
	body := randBytes(12345)
	must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("logs"), Key: aws.String("dir/k"), Body: bytes.NewReader(body)}))
	got := readAll(t, must[*s3.GetObjectOutput](t)(c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("logs"), Key: aws.String("dir/k")})).Body)
	mustEqual(t, "get", got, body)
	_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("logs"), Key: aws.String("missing")})
	wantCode(t, err, "NoSuchKey")

	type line struct {
		Msg, ID, Account, Op, Bucket, Key, Error string
		Status                                   int
		In, Out                                  int64
		MS                                       *float64
	}
	want := map[string]func(l line) bool{
		"CreateBucket": func(l line) bool { return l.Status == 200 && l.Bucket == "logs" },
		"PutObject":    func(l line) bool { return l.Status == 200 && l.Key == "dir/k" && l.In >= int64(len(body)) },
		"GetObject": func(l line) bool {
			return l.Status == 200 && l.Out == int64(len(body)) || l.Status == 404 && l.Error == "NoSuchKey" && l.Key == "missing"
		},
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var lines []line
		for _, raw := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			var l line
			if raw == "" || json.Unmarshal([]byte(raw), &l) != nil || l.Msg != "access" {
				continue
			}
			lines = append(lines, l)
		}
		seen := map[string]int{}
		ok := true
		for _, l := range lines {
			check := want[l.Op]
			if check == nil || !check(l) || l.Account != "main-user" || l.ID == "" || l.MS == nil {
				t.Fatalf("unexpected access line %+v", l)
			}
			seen[l.Op]++
		}
		if seen["CreateBucket"] == 1 && seen["PutObject"] == 1 && seen["GetObject"] == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("access log after 30 s: %v (ok=%v)\n%s", seen, ok, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
