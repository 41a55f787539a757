package secretstream

import (
	"bytes"
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

func pair(t *testing.T, cfg Config) (*Conn, *Conn) {
	t.Helper()
	a, b := net.Pipe()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	type res struct {
		c   *Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := Handshake(ctx, b, false, cfg)
		ch <- res{c, err}
	}()
	ca, err := Handshake(ctx, a, true, cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { ca.Close(); r.c.Close() })
	return ca, r.c
}

func TestConnRoundTrip(t *testing.T) {
	a, b := pair(t, Config{})
	if !bytes.Equal(a.HandshakeHash(), b.HandshakeHash()) || !bytes.Equal(a.RemotePublicKey(), b.PublicKey()) {
		t.Fatal("handshake results differ")
	}
	msgs := [][]byte{{}, []byte("x"), bytes.Repeat([]byte("block "), 50000)}
	go func() {
		for _, m := range msgs {
			a.WriteMessage(m)
		}
	}()
	for i, want := range msgs {
		got, err := b.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("message %d differs", i)
		}
	}
}

// TestOversizedFrame: a frame longer than MaxMessage is refused before
// its body is read.
func TestOversizedFrame(t *testing.T) {
	a, b := pair(t, Config{MaxMessage: 1000})
	go a.raw.Write([]byte{0xff, 0xff, 0x0f})
	if _, err := b.ReadMessage(); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("got %v", err)
	}
}

// TestCorruptFrame: a flipped ciphertext bit is a MAC failure.
func TestCorruptFrame(t *testing.T) {
	a, b := pair(t, Config{})
	var buf bytes.Buffer
	n := 5 + ABytes
	buf.Write([]byte{byte(n), 0, 0})
	c := a.push.Seal(nil, []byte("hello"), TagMessage)
	c[3] ^= 1
	buf.Write(c)
	go a.raw.Write(buf.Bytes())
	if _, err := b.ReadMessage(); !errors.Is(err, ErrBadMAC) {
		t.Fatalf("got %v", err)
	}
}

// TestBadHeader: a header with the wrong stream id ends the handshake.
func TestBadHeader(t *testing.T) {
	x, y := net.Pipe()
	defer x.Close()
	defer y.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := Handshake(ctx, y, false, Config{})
		errc <- err
	}()
	// Run the initiator's handshake by hand, then send a bogus header.
	hs := newTestInitiator(t)
	m1, _ := hs.WriteMessage(nil)
	x.Write(frame(nil, m1))
	c := &Conn{raw: x, br: newReader(x)}
	m2, err := c.readFrame(65535)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hs.ReadMessage(m2); err != nil {
		t.Fatal(err)
	}
	m3, _ := hs.WriteMessage(nil)
	go func() {
		x.Write(frame(nil, m3))
		x.Write(frame(nil, make([]byte, headerFrame)))
	}()
	if _, err := c.readFrame(headerFrame); err != nil { // the responder's header
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, ErrBadHeader) {
		t.Fatalf("got %v", err)
	}
}

// TestHandshakeContext: a peer that never answers is cut off by ctx.
func TestHandshakeContext(t *testing.T) {
	x, y := net.Pipe()
	defer x.Close()
	defer y.Close()
	go func() {
		buf := make([]byte, 1024)
		for {
			if _, err := y.Read(buf); err != nil {
				return
			}
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := Handshake(ctx, x, true, Config{})
		errc <- err
	}()
	cancel()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("handshake succeeded")
		}
	case <-time.After(time.Minute):
		t.Fatal("handshake ignored ctx")
	}
}

func FuzzReadMessage(f *testing.F) {
	f.Add([]byte{5, 0, 0, 1, 2, 3, 4, 5})
	f.Add([]byte{20, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20})
	f.Fuzz(func(t *testing.T, in []byte) {
		key := bytes.Repeat([]byte{1}, 32)
		pull, _ := NewPull(key, make([]byte, 24))
		c := &Conn{br: newReader(bytes.NewReader(in)), pull: pull, max: 1 << 16}
		for {
			if _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	})
}

// TestIdleTimeout: a peer that sends nothing is cut off.
func TestIdleTimeout(t *testing.T) {
	_, b := pair(t, Config{IdleTimeout: 50 * time.Millisecond})
	_, err := b.ReadMessage()
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("got %v", err)
	}
}
