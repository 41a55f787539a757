package protomux

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"
)

// pipe is a pair of in-memory Transports.
type pipe struct {
	in   chan []byte
	out  chan []byte
	once *sync.Once
	done chan struct{}
}

func pipes() (*pipe, *pipe) {
	a, b := make(chan []byte, 64), make(chan []byte, 64)
	once, done := &sync.Once{}, make(chan struct{})
	return &pipe{a, b, once, done}, &pipe{b, a, once, done}
}

func (p *pipe) ReadMessage() ([]byte, error) {
	select {
	case m := <-p.in:
		return m, nil
	case <-p.done:
		return nil, io.EOF
	}
}

func (p *pipe) WriteMessage(b []byte) error {
	select {
	case p.out <- append([]byte(nil), b...):
		return nil
	case <-p.done:
		return ErrClosed
	}
}

func (p *pipe) Close() error { p.once.Do(func() { close(p.done) }); return nil }

type events struct {
	mu     sync.Mutex
	opened chan []byte
	msgs   chan string
	closed chan bool
}

func newEvents() *events {
	return &events{opened: make(chan []byte, 4), msgs: make(chan string, 16), closed: make(chan bool, 4)}
}

func (e *events) Opened(_ *Channel, hs []byte) error { e.opened <- hs; return nil }
func (e *events) Message(_ *Channel, typ uint64, p []byte) error {
	e.msgs <- string(rune('0'+typ)) + string(p)
	return nil
}
func (e *events) Closed(_ *Channel, remote bool) { e.closed <- remote }

func recv[T any](t *testing.T, c chan T) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(time.Minute):
		t.Fatal("timed out")
		panic("unreachable")
	}
}

// TestOpenBothWays: a channel one side opens is paired by the other's
// PairFunc; messages flow both ways; a close reaches the other side.
func TestOpenBothWays(t *testing.T) {
	ta, tb := pipes()
	ea, eb := newEvents(), newEvents()
	a := New(ta, nil)
	b := New(tb, func(protocol string, id []byte) (Handler, []byte, bool) {
		if protocol != "p" || !bytes.Equal(id, []byte("id")) {
			return nil, nil, false
		}
		return eb, []byte("hs-b"), true
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Run(ctx)
	go b.Run(ctx)
	ch, err := a.Open("p", []byte("id"), []byte("hs-a"), ea)
	if err != nil {
		t.Fatal(err)
	}
	if hs := recv(t, eb.opened); string(hs) != "hs-a" {
		t.Fatalf("b saw %q", hs)
	}
	if hs := recv(t, ea.opened); string(hs) != "hs-b" {
		t.Fatalf("a saw %q", hs)
	}
	ch.Send(3, []byte("hello"))
	if m := recv(t, eb.msgs); m != "3hello" {
		t.Fatalf("b got %q", m)
	}
	ch.Close()
	if remote := recv(t, ea.closed); remote {
		t.Fatal("local close reported as remote")
	}
	if remote := recv(t, eb.closed); !remote {
		t.Fatal("remote close reported as local")
	}
	if err := ch.Send(1, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("send on closed channel: %v", err)
	}
}

// TestReject: an open nobody pairs is rejected; the opener's channel closes.
func TestReject(t *testing.T) {
	ta, tb := pipes()
	ea := newEvents()
	a, b := New(ta, nil), New(tb, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Run(ctx)
	go b.Run(ctx)
	if _, err := a.Open("p", nil, nil, ea); err != nil {
		t.Fatal(err)
	}
	if remote := recv(t, ea.closed); !remote {
		t.Fatal("reject not reported as remote")
	}
	// The id is free again: a second open works the same way.
	if _, err := a.Open("p", nil, nil, ea); err != nil {
		t.Fatal(err)
	}
	recv(t, ea.closed)
}

// TestBadFrames: protocol violations end Run with ErrProtocol and close
// every channel; unknown channels and empty frames are ignored.
func TestBadFrames(t *testing.T) {
	for name, frames := range map[string][][]byte{
		"truncated uint":     {{0xfd, 1}},
		"batch overrun":      {{0, 0, 1, 9, 1}},
		"open skipping ids":  {{0, 1, 5, 1, 'p', 0}},
		"reject of nothing":  {{0, 2, 7}},
		"nested batch":       {{0, 0, 0, 3, 0, 0, 0}},
		"open reusing an id": {{0, 1, 1, 1, 'q', 0}, {0, 1, 1, 1, 'q', 0}},
	} {
		t.Run(name, func(t *testing.T) {
			ta, tb := pipes()
			e := newEvents()
			m := New(ta, func(string, []byte) (Handler, []byte, bool) { return e, nil, true })
			go func() {
				tb.WriteMessage(nil)             // keep-alive: ignored
				tb.WriteMessage([]byte{9, 1, 2}) // unknown channel: ignored
				for _, f := range frames {
					tb.WriteMessage(f)
				}
			}()
			err := m.Run(context.Background())
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

func FuzzMux(f *testing.F) {
	f.Add([]byte{0, 1, 1, 1, 'p', 0, 1, 2}, []byte{1, 3, 'x'}, []byte{0, 3, 1})
	f.Add([]byte{0, 0, 0, 3, 1, 1, 'q'}, []byte{0, 0, 1, 2, 3, 4}, []byte{0, 2, 1})
	f.Fuzz(func(t *testing.T, a, b, c []byte) {
		ta, tb := pipes()
		m := New(ta, func(string, []byte) (Handler, []byte, bool) { return nop{}, []byte("h"), true })
		m.Open("p", nil, nil, nop{})
		go func() {
			for _, fr := range [][]byte{a, b, c} {
				tb.WriteMessage(fr)
			}
			tb.Close()
		}()
		go func() { // drain what m writes
			for {
				if _, err := tb.ReadMessage(); err != nil {
					return
				}
			}
		}()
		m.Run(context.Background()) // must return, never panic
	})
}

type nop struct{}

func (nop) Opened(*Channel, []byte) error          { return nil }
func (nop) Message(*Channel, uint64, []byte) error { return nil }
func (nop) Closed(*Channel, bool)                  {}
