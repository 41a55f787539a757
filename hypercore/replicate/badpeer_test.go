package replicate

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/datdot/datdot/hypercore"
	"github.com/datdot/datdot/hypercore/protomux"
	"github.com/datdot/datdot/hypercore/secretstream"
)

// dialRaw connects to the server and runs the handshake as initiator.
func dialRaw(t *testing.T, addr string) (net.Conn, *secretstream.Conn) {
	t.Helper()
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ss, err := secretstream.Handshake(ctx, raw, true, secretstream.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return raw, ss
}

// waitClosed waits until the server hangs up.
func waitClosed(t *testing.T, raw net.Conn) {
	t.Helper()
	raw.SetReadDeadline(time.Now().Add(time.Minute))
	buf := make([]byte, 4096)
	for {
		if _, err := raw.Read(buf); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("server did not disconnect the bad peer")
			}
			return
		}
	}
}

// stillServes: after bad peers, the server serves a good one.
func stillServes(t *testing.T, s *served, src *hypercore.Core) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Dial(ctx, s.addr, src.Key(), hypercore.NewMemStorage(), FetchOptions{})
	if err != nil || res.Length != src.Length() {
		t.Fatalf("server stopped serving after a bad peer: %+v %v", res, err)
	}
}

func TestBadPeersDisconnected(t *testing.T) {
	src, _ := testCore(t, false, 20, func(i int) int { return 100 })
	s := serve(t, src)
	dk := src.DiscoveryKey()

	t.Run("wrong capability", func(t *testing.T) {
		raw, ss := dialRaw(t, s.addr)
		mux := protomux.New(ss, nil)
		go mux.Run(context.Background())
		var other [32]byte // proves knowledge of another key
		hs := Handshake{Capability: Capability(true, other, ss.HandshakeHash())}
		if _, err := mux.Open(Protocol, dk[:], hs.Encode(), nopHandler{}); err != nil {
			t.Fatal(err)
		}
		waitClosed(t, raw)
		s.waitLog(t, "invalid replication capability")
	})
	t.Run("bad MAC", func(t *testing.T) {
		raw, _ := dialRaw(t, s.addr)
		raw.Write(append([]byte{40, 0, 0}, bytes.Repeat([]byte{0x55}, 40)...))
		waitClosed(t, raw)
		s.waitLog(t, "bad MAC")
	})
	t.Run("oversized frame", func(t *testing.T) {
		raw, _ := dialRaw(t, s.addr)
		raw.Write([]byte{0xff, 0xff, 0xff}) // 16 MiB announced, small server limit
		waitClosed(t, raw)
		s.waitLog(t, "frame too large")
	})
	t.Run("undecodable message", func(t *testing.T) {
		raw, ss := dialRaw(t, s.addr)
		ss.WriteMessage([]byte{0, 0, 1, 50, 1}) // a batch item longer than the batch
		waitClosed(t, raw)
		s.waitLog(t, "batch item of 50 bytes")
	})
	t.Run("bad handshake", func(t *testing.T) {
		raw, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		raw.Write([]byte{3, 0, 0, 1, 2, 3}) // not an ephemeral key
		waitClosed(t, raw)
		s.waitLog(t, "replication handshake failed")
	})
	stillServes(t, s, src)
}

// TestServerFrameLimit: the server's MaxMessage bounds what it accepts.
func TestServerFrameLimit(t *testing.T) {
	src, _ := testCore(t, false, 2, func(int) int { return 10 })
	s := serve(t, src)
	raw, ss := dialRaw(t, s.addr)
	// The server hangs up after the length, so the write itself may fail.
	go ss.WriteMessage(make([]byte, 5<<20))
	waitClosed(t, raw)
	s.waitLog(t, "frame too large")
}

type nopHandler struct{}

func (nopHandler) Opened(*protomux.Channel, []byte) error          { return nil }
func (nopHandler) Message(*protomux.Channel, uint64, []byte) error { return nil }
func (nopHandler) Closed(*protomux.Channel, bool)                  {}

// forger is a server that answers with proofs it tampered with.
type forger struct {
	*servePeer
	tamper func(*hypercore.Proof)
}

func (f forger) Message(ch *protomux.Channel, typ uint64, payload []byte) error {
	if typ != TypeRequest {
		return f.servePeer.Message(ch, typ, payload)
	}
	r, err := DecodeRequest(payload)
	if err != nil {
		return err
	}
	p, err := f.core.Proof(context.Background(), r.ProofRequest())
	if err != nil {
		return err
	}
	p.Request, p.Fork = r.ID, f.core.Info().Fork
	f.tamper(p)
	return ch.Send(TypeData, p.Encode())
}

func serveForged(t *testing.T, src *hypercore.Core, tamper func(*hypercore.Proof)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	srv := NewServer(nil, secretstream.Config{}, nil)
	go func() {
		for {
			raw, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer raw.Close()
				ss, err := secretstream.Handshake(context.Background(), raw, false, secretstream.Config{})
				if err != nil {
					return
				}
				mux := protomux.New(ss, func(string, []byte) (protomux.Handler, []byte, bool) {
					p := forger{newServePeer(context.Background(), srv, src, ss, slog.New(slog.DiscardHandler)), tamper}
					hs := Handshake{Seeks: true, Capability: Capability(false, src.Key(), ss.HandshakeHash())}
					return p, hs.Encode(), true
				})
				mux.Run(context.Background())
			}()
		}
	}()
	return ln.Addr().String()
}

// TestFetchRefusesForgedProofs: a peer that changes a block, a tree node
// or the signature is dropped and nothing it sent is committed.
func TestFetchRefusesForgedProofs(t *testing.T) {
	src, _ := testCore(t, false, 40, func(i int) int { return 50 + i })
	cases := map[string]func(*hypercore.Proof){
		"block value": func(p *hypercore.Proof) {
			if p.Block != nil && p.Block.Index == 17 {
				p.Block.Value = append([]byte(nil), p.Block.Value...)
				p.Block.Value[3] ^= 1
			}
		},
		"tree node": func(p *hypercore.Proof) {
			if p.Block != nil && p.Block.Index == 33 && len(p.Block.Nodes) > 0 {
				p.Block.Nodes[0].Hash[0] ^= 1
			}
		},
		"signature": func(p *hypercore.Proof) {
			if p.Upgrade != nil {
				p.Upgrade.Signature = append([]byte(nil), p.Upgrade.Signature...)
				p.Upgrade.Signature[10] ^= 1
			}
		},
		"another block": func(p *hypercore.Proof) {
			if p.Block != nil && p.Block.Index == 5 {
				p.Block.Index = 6
			}
		},
	}
	for name, tamper := range cases {
		t.Run(name, func(t *testing.T) {
			addr := serveForged(t, src, tamper)
			st := hypercore.NewMemStorage()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_, err := Dial(ctx, addr, src.Key(), st, FetchOptions{Window: 8})
			if !errors.Is(err, hypercore.ErrBadProof) {
				t.Fatalf("forged proof: %v", err)
			}
			if _, head, err := st.Load(ctx); err == nil && head.Length != 0 {
				t.Fatalf("storage holds %d blocks from a forger", head.Length)
			}
		})
	}
	// The same server without tampering is fine.
	addr := serveForged(t, src, func(*hypercore.Proof) {})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if res, err := Dial(ctx, addr, src.Key(), hypercore.NewMemStorage(), FetchOptions{}); err != nil || res.Blocks != 40 {
		t.Fatalf("%+v %v", res, err)
	}
}

// syncWatcher records the lengths a server announces.
type syncWatcher struct{ lengths chan uint64 }

func (w syncWatcher) Opened(*protomux.Channel, []byte) error { return nil }
func (w syncWatcher) Message(_ *protomux.Channel, typ uint64, p []byte) error {
	if typ == TypeSync {
		s, err := DecodeSync(p)
		if err != nil {
			return err
		}
		w.lengths <- s.Length
	}
	return nil
}
func (syncWatcher) Closed(*protomux.Channel, bool) {}

// TestAnnounce: a connected peer learns the new length after an append
// and Announce, without asking.
func TestAnnounce(t *testing.T) {
	src, _ := testCore(t, false, 5, func(int) int { return 10 })
	s := serve(t, src)
	_, ss := dialRaw(t, s.addr)
	mux := protomux.New(ss, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go mux.Run(ctx)
	w := syncWatcher{make(chan uint64, 8)}
	dk := src.DiscoveryKey()
	hs := Handshake{Capability: Capability(true, src.Key(), ss.HandshakeHash())}
	if _, err := mux.Open(Protocol, dk[:], hs.Encode(), w); err != nil {
		t.Fatal(err)
	}
	next := func() uint64 {
		select {
		case l := <-w.lengths:
			return l
		case <-time.After(time.Minute):
			t.Fatal("no sync")
			return 0
		}
	}
	if l := next(); l != 5 {
		t.Fatalf("first sync says %d", l)
	}
	if _, err := src.Append(ctx, []byte("six"), []byte("seven")); err != nil {
		t.Fatal(err)
	}
	s.srv.Announce(dk)
	if l := next(); l != 7 {
		t.Fatalf("announced %d", l)
	}
}

// TestTooManyInvalidRequests: a peer whose requests cannot be answered is
// dropped after maxInvalidRequests of them.
func TestTooManyInvalidRequests(t *testing.T) {
	src, _ := testCore(t, false, 5, func(int) int { return 10 })
	s := serve(t, src)
	raw, ss := dialRaw(t, s.addr)
	mux := protomux.New(ss, nil)
	go mux.Run(context.Background())
	opened := make(chan *protomux.Channel, 1)
	dk := src.DiscoveryKey()
	hs := Handshake{Capability: Capability(true, src.Key(), ss.HandshakeHash())}
	ch, err := mux.Open(Protocol, dk[:], hs.Encode(), openedSignal(opened))
	if err != nil {
		t.Fatal(err)
	}
	<-opened
	for i := 1; i <= maxInvalidRequests; i++ {
		r := Request{ID: uint64(i), Upgrade: &hypercore.UpgradeRequest{Start: 3, Length: 1000}}
		if err := ch.Send(TypeRequest, r.Encode()); err != nil {
			break // the server may hang up before the last one
		}
	}
	waitClosed(t, raw)
	s.waitLog(t, "too many invalid requests")
}

type openedSignal chan *protomux.Channel

func (o openedSignal) Opened(ch *protomux.Channel, _ []byte) error   { o <- ch; return nil }
func (openedSignal) Message(*protomux.Channel, uint64, []byte) error { return nil }
func (openedSignal) Closed(*protomux.Channel, bool)                  {}

// forkedPeer claims its core is at another fork.
type forkedPeer struct{ *servePeer }

func (f forkedPeer) Opened(ch *protomux.Channel, _ []byte) error {
	s := Sync{Fork: 1, Length: 5, CanUpgrade: true, Uploading: true, HasManifest: true}
	return ch.Send(TypeSync, s.Encode())
}

// TestFetchRefusesFork: a core at another fork than ours is refused with
// ErrUnsupported, not half copied.
func TestFetchRefusesFork(t *testing.T) {
	src, _ := testCore(t, false, 5, func(int) int { return 10 })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srv := NewServer(nil, secretstream.Config{}, nil)
	go func() {
		raw, err := ln.Accept()
		if err != nil {
			return
		}
		defer raw.Close()
		ss, err := secretstream.Handshake(context.Background(), raw, false, secretstream.Config{})
		if err != nil {
			return
		}
		protomux.New(ss, func(string, []byte) (protomux.Handler, []byte, bool) {
			hs := Handshake{Capability: Capability(false, src.Key(), ss.HandshakeHash())}
			return forkedPeer{newServePeer(context.Background(), srv, src, ss, slog.New(slog.DiscardHandler))}, hs.Encode(), true
		}).Run(context.Background())
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st := hypercore.NewMemStorage()
	if _, err := Dial(ctx, ln.Addr().String(), src.Key(), st, FetchOptions{}); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("got %v", err)
	}
	if _, _, err := st.Load(ctx); !errors.Is(err, hypercore.ErrNoCore) {
		t.Fatalf("storage after a refused fetch: %v", err)
	}
}

// TestMaxConns: connections over the limit are refused; a slot frees up
// when a connection ends.
func TestMaxConns(t *testing.T) {
	src, _ := testCore(t, false, 3, func(int) int { return 10 })
	s := &served{}
	log := slog.New(slog.NewTextHandler(lockedWriter{s}, nil))
	s.srv = NewServer(func(dk [32]byte) (*hypercore.Core, bool) { return src, dk == src.DiscoveryKey() }, secretstream.Config{}, log)
	s.srv.MaxConns = 1
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.srv.Serve(ctx, ln); close(done) }()
	defer func() { cancel(); <-done }()

	first, _ := dialRaw(t, s.addr) // holds the only slot
	fctx, fcancel := context.WithTimeout(ctx, time.Minute)
	defer fcancel()
	if _, err := Dial(fctx, s.addr, src.Key(), hypercore.NewMemStorage(), FetchOptions{}); err == nil {
		t.Fatal("a second connection was served")
	}
	s.waitLog(t, "too many replication connections")
	first.Close()
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := Dial(fctx, s.addr, src.Key(), hypercore.NewMemStorage(), FetchOptions{})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot never freed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
