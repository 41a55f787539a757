package client

import (
	"bytes"
	"io"
	"net"
	"testing"

	"github.com/datdot/datdot/hoster/wire"
)

// TestPushConnWrites: a pushConn sends a push body behind net/http's
// io.LimitedReader (after part of it was read into a buffer, as bufio
// does) exactly as encoded, and a body longer than the limit only up to
// the limit.
func TestPushConnWrites(t *testing.T) {
	var blocks [][]byte
	for i := range 40 {
		blocks = append(blocks, bytes.Repeat([]byte{byte(i)}, 1000+i*997))
	}
	p := &wire.Push{Start: 3, Fork: 1, Signature: []byte("sig"), Manifest: []byte("manifest"), Blocks: blocks}
	want, err := wire.EncodePush(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		first       int   // bytes read before the connection takes over
		limit       int64 // the LimitedReader's N, relative to what is left
		wantWritten int
	}{
		{"whole", 0, 0, len(want)},
		{"after a buffered start", 4000, 0, len(want)},
		{"limit above the body", 10, 100, len(want)},
		{"limit below the body", 10, -5000, len(want) - 5000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			got := make(chan []byte, 1)
			go func() {
				s, err := ln.Accept()
				if err != nil {
					got <- nil
					return
				}
				b, _ := io.ReadAll(s)
				s.Close()
				got <- b
			}()
			raw, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			c := &pushConn{Conn: raw}
			body, err := wire.NewPushBody(p)
			if err != nil {
				t.Fatal(err)
			}
			head := make([]byte, tc.first)
			if _, err := io.ReadFull(body, head); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Write(head); err != nil {
				t.Fatal(err)
			}
			lr := &io.LimitedReader{R: body, N: body.Remaining() + tc.limit}
			n, err := c.ReadFrom(lr)
			if err != nil || int(n) != tc.wantWritten-tc.first {
				t.Fatalf("ReadFrom: %d, %v; want %d", n, err, tc.wantWritten-tc.first)
			}
			if lr.N != max(tc.limit, 0) {
				t.Fatalf("limit left %d, want %d", lr.N, max(tc.limit, 0))
			}
			c.Close()
			if b := <-got; !bytes.Equal(b, want[:tc.wantWritten]) {
				t.Fatalf("the other end read %d bytes, not the push's first %d", len(b), tc.wantWritten)
			}
		})
	}
}
