// Package replicate speaks the Hypercore replication protocol (hypercore
// 11.37.1's `hypercore/alpha` channel over protomux over a secret stream)
// so that JS Hypercore peers and DatDot hosters exchange cores:
//
//   - Server answers peers that open channels for the cores a lookup
//     function knows (by discovery key): it announces their length and
//     serves every proof a JS reader asks for.
//   - Fetch downloads a core from one peer into a hypercore.Storage,
//     verifying the writer's signature and every block before anything
//     is committed.
//
// Peers that break the protocol (a wrong capability, a forged or
// oversized frame, a proof that does not verify, undecodable messages)
// are disconnected; the error says why and the server logs it.
package replicate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/datdot/datdot/hypercore"
	"github.com/datdot/datdot/hypercore/protomux"
	"github.com/datdot/datdot/hypercore/secretstream"
)

// ErrBadCapability is returned when a peer's channel open does not prove
// knowledge of the core's key for this stream.
var ErrBadCapability = errors.New("replicate: remote sent an invalid replication capability")

// ErrTooManyInvalid ends a stream whose peer keeps sending requests that
// cannot be answered.
var ErrTooManyInvalid = errors.New("replicate: too many invalid requests")

// maxInvalidRequests is hypercore's MAX_INVALID_REQUESTS.
const maxInvalidRequests = 64

// HandshakeTimeout bounds the Noise handshake of a new connection.
const HandshakeTimeout = 30 * time.Second

// DefaultIdleTimeout is how long a Server waits for a silent peer (JS
// peers send a keep-alive every 5 s) when its Config sets none.
const DefaultIdleTimeout = 2 * time.Minute

// Lookup finds the core with discovery key dk, or returns false.
type Lookup func(dk [32]byte) (*hypercore.Core, bool)

// DefaultMaxConns bounds a Server's simultaneous connections unless
// MaxConns says otherwise.
const DefaultMaxConns = 1024

// Server serves cores to replication peers.
type Server struct {
	// MaxConns bounds simultaneous connections (DefaultMaxConns if 0);
	// connections over it are closed at once. Set it before Serve.
	MaxConns int

	lookup Lookup
	log    *slog.Logger
	cfg    secretstream.Config

	mu    sync.Mutex
	peers map[[32]byte]map[*servePeer]struct{}
}

// NewServer makes a server for the cores lookup finds. cfg sets the
// static key, the largest message accepted and the idle timeout
// (DefaultIdleTimeout if zero); log may be nil.
func NewServer(lookup Lookup, cfg secretstream.Config, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	return &Server{lookup: lookup, log: log, cfg: cfg, peers: map[[32]byte]map[*servePeer]struct{}{}}
}

// Serve accepts connections on ln until ctx is done or ln fails; each
// connection is served by ServeConn in its own goroutine. It returns
// after every connection ended.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	max := s.MaxConns
	if max <= 0 {
		max = DefaultMaxConns
	}
	slots := make(chan struct{}, max)
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("replicate: accept: %w", err)
		}
		select {
		case slots <- struct{}{}:
		default:
			s.log.Warn("too many replication connections, refusing one", "peer", c.RemoteAddr().String(), "max", max)
			c.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			s.ServeConn(ctx, c)
		}()
	}
}

// ServeConn runs the responder side of one connection until it ends and
// returns why (nil when the peer closed it normally). The reason is
// logged: at warn level when the peer misbehaved.
func (s *Server) ServeConn(ctx context.Context, raw net.Conn) error {
	defer raw.Close()
	log := s.log.With("peer", raw.RemoteAddr().String())
	hctx, cancel := context.WithTimeout(ctx, HandshakeTimeout)
	ss, err := secretstream.Handshake(hctx, raw, false, s.cfg)
	cancel()
	if err != nil {
		log.Warn("replication handshake failed, disconnecting", "reason", err)
		return err
	}
	var mux *protomux.Mux
	mux = protomux.New(ss, func(protocol string, id []byte) (protomux.Handler, []byte, bool) {
		if protocol != Protocol || len(id) != 32 {
			log.Debug("rejecting channel", "protocol", protocol)
			return nil, nil, false
		}
		core, ok := s.lookup([32]byte(id))
		if !ok {
			log.Debug("rejecting channel for an unknown core", "discovery_key", fmt.Sprintf("%x", id))
			return nil, nil, false
		}
		p := newServePeer(ctx, s, core, ss, log)
		hs := Handshake{Seeks: true, Capability: Capability(ss.IsInitiator(), core.Key(), ss.HandshakeHash())}
		return p, hs.Encode(), true
	})
	err = mux.Run(ctx)
	if reason := disconnectReason(err); reason != nil {
		log.Warn("replication peer disconnected", "reason", reason)
		return reason
	}
	log.Debug("replication peer left")
	return nil
}

// disconnectReason is nil for a normal end of stream.
func disconnectReason(err error) error {
	if err == nil || errors.Is(err, context.Canceled) || isEOF(err) {
		return nil
	}
	return err
}

// Announce tells every peer of the core with discovery key dk its new
// length (call it after appending to a served core).
func (s *Server) Announce(dk [32]byte) {
	s.mu.Lock()
	ps := make([]*servePeer, 0, len(s.peers[dk]))
	for p := range s.peers[dk] {
		ps = append(ps, p)
	}
	s.mu.Unlock()
	for _, p := range ps {
		p.announce()
	}
}

func (s *Server) add(p *servePeer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	dk := p.core.DiscoveryKey()
	if s.peers[dk] == nil {
		s.peers[dk] = map[*servePeer]struct{}{}
	}
	s.peers[dk][p] = struct{}{}
}

func (s *Server) remove(p *servePeer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	dk := p.core.DiscoveryKey()
	delete(s.peers[dk], p)
	if len(s.peers[dk]) == 0 {
		delete(s.peers, dk)
	}
}

// servePeer answers one peer's channel for one core.
type servePeer struct {
	ctx  context.Context
	srv  *Server
	core *hypercore.Core
	ss   *secretstream.Conn
	log  *slog.Logger

	mu               sync.Mutex
	ch               *protomux.Channel
	opened           bool
	remote           Sync
	sentLength       uint64
	sentRemoteLength uint64
	invalid          int
}

func newServePeer(ctx context.Context, s *Server, core *hypercore.Core, ss *secretstream.Conn, log *slog.Logger) *servePeer {
	return &servePeer{ctx: ctx, srv: s, core: core, ss: ss, log: log}
}

func (p *servePeer) Opened(ch *protomux.Channel, handshake []byte) error {
	h, err := DecodeHandshake(handshake)
	if err != nil {
		return err
	}
	if h.Capability != Capability(!p.ss.IsInitiator(), p.core.Key(), p.ss.HandshakeHash()) {
		return ErrBadCapability
	}
	p.mu.Lock()
	p.ch, p.opened = ch, true
	p.mu.Unlock()
	p.srv.add(p)
	return p.sendState(true)
}

// sendState sends our sync and, if we have blocks, the range we hold.
func (p *servePeer) sendState(force bool) error {
	info := p.core.Info()
	p.mu.Lock()
	if !force && info.Length == p.sentLength {
		p.mu.Unlock()
		return nil
	}
	s := Sync{
		Fork:         info.Fork,
		Length:       info.Length,
		CanUpgrade:   true,
		Uploading:    true,
		Downloading:  false,
		HasManifest:  !info.Compat,
		RemoteLength: 0,
	}
	if p.remote.Fork == info.Fork {
		s.RemoteLength = p.remote.Length
	}
	p.sentLength, p.sentRemoteLength = info.Length, s.RemoteLength
	ch := p.ch
	p.mu.Unlock()
	if err := ch.Send(TypeSync, s.Encode()); err != nil {
		return err
	}
	if info.Length > 0 {
		r := Range{Start: 0, Length: info.Length}
		return ch.Send(TypeRange, r.Encode())
	}
	return nil
}

func (p *servePeer) announce() {
	if err := p.sendState(false); err != nil {
		p.log.Debug("announce failed", "reason", err)
	}
}

func (p *servePeer) Message(ch *protomux.Channel, typ uint64, payload []byte) error {
	switch typ {
	case TypeSync:
		s, err := DecodeSync(payload)
		if err != nil {
			return err
		}
		p.mu.Lock()
		p.remote = *s
		stale := s.Length != p.sentRemoteLength
		p.mu.Unlock()
		if stale {
			return p.sendState(true)
		}
	case TypeRequest:
		r, err := DecodeRequest(payload)
		if err != nil {
			return err
		}
		return p.answer(ch, r)
	case TypeWant:
		if _, err := DecodeWant(payload); err != nil {
			return err
		}
		if l := p.core.Length(); l > 0 {
			r := Range{Start: 0, Length: l}
			return ch.Send(TypeRange, r.Encode())
		}
	}
	// cancel (requests are answered as they arrive), data and noData (we
	// ask nothing), unwant, bitfield, range, extension: nothing to do.
	return nil
}

func (p *servePeer) answer(ch *protomux.Channel, r *Request) error {
	info := p.core.Info()
	noData := func(reason uint64) error {
		n := NoData{Request: r.ID, Reason: reason}
		return ch.Send(TypeNoData, n.Encode())
	}
	if r.Fork != info.Fork || (r.Block != nil && r.Block.Index >= info.Length) {
		return noData(ReasonNotAvailable)
	}
	pr := r.ProofRequest()
	pr.Manifest = r.Manifest && !info.Compat
	if pr.Block == nil && pr.Hash == nil && pr.Seek == nil && pr.Upgrade == nil {
		if !pr.Manifest {
			return noData(ReasonNotAvailable)
		}
		m, err := hypercore.DecodeManifest(info.Manifest)
		if err != nil {
			return fmt.Errorf("replicate: our manifest: %w", err)
		}
		d := hypercore.Proof{Request: r.ID, Fork: info.Fork, Manifest: m}
		return ch.Send(TypeData, d.Encode())
	}
	proof, err := p.core.Proof(p.ctx, pr)
	if err != nil {
		if !errors.Is(err, hypercore.ErrBadRequest) && !errors.Is(err, hypercore.ErrBadProof) {
			p.log.Warn("cannot make a proof", "request", r.ID, "reason", err)
		}
		p.mu.Lock()
		p.invalid++
		n := p.invalid
		p.mu.Unlock()
		if n >= maxInvalidRequests {
			return fmt.Errorf("%w: last: %w", ErrTooManyInvalid, err)
		}
		return noData(ReasonInvalidRequest)
	}
	proof.Request, proof.Fork = r.ID, info.Fork
	return ch.Send(TypeData, proof.Encode())
}

func (p *servePeer) Closed(*protomux.Channel, bool) {
	p.mu.Lock()
	opened := p.opened
	p.mu.Unlock()
	if opened {
		p.srv.remove(p)
	}
}
