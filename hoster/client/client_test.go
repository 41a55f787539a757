package client

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/datdot/datdot/hoster/wire"
)

// lateCloser is a transport that answers a push at once, without reading
// its body, and reads and closes the body later in another goroutine, as
// net/http's transport may when a server answers early. It records what
// it read and whether the body was closed.
type lateCloser struct {
	closed atomic.Bool
	read   chan []byte
}

func (t *lateCloser) RoundTrip(req *http.Request) (*http.Response, error) {
	go func() {
		time.Sleep(50 * time.Millisecond)
		b, _ := io.ReadAll(req.Body)
		t.closed.Store(true)
		req.Body.Close()
		t.read <- b
	}()
	return &http.Response{StatusCode: http.StatusForbidden, Body: io.NopCloser(strings.NewReader(`{"error":"not assigned"}`)),
		Header: http.Header{}, Request: req}, nil
}

// TestPushWaitsForItsBody: a push returns only once the transport is done
// with its body, so the caller may reuse the blocks it gave (the gateway
// recycles them): what the transport read is the push as given.
func TestPushWaitsForItsBody(t *testing.T) {
	tr := &lateCloser{read: make(chan []byte, 1)}
	c, err := New("http://hoster.invalid", &http.Client{Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	blk := bytes.Repeat([]byte{5}, 70000)
	p := &wire.Push{Start: 0, Signature: []byte{1}, Blocks: [][]byte{blk}}
	want, err := wire.EncodePush(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Push(context.Background(), [32]byte{1}, p); !IsStatus(err, http.StatusForbidden) {
		t.Fatalf("push: %v, want the 403", err)
	}
	if !tr.closed.Load() {
		t.Fatal("Push returned while the transport still held its body")
	}
	clear(blk) // the caller reuses the block
	if got := <-tr.read; !bytes.Equal(got, want) {
		t.Fatal("the transport read something other than the push")
	}
}
