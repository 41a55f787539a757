package replicate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"

	"github.com/datdot/datdot/hypercore"
	"github.com/datdot/datdot/hypercore/compact"
	"github.com/datdot/datdot/hypercore/flattree"
	"github.com/datdot/datdot/hypercore/protomux"
	"github.com/datdot/datdot/hypercore/secretstream"
)

// Errors of a fetch caused by the peer.
var (
	// ErrNotAvailable: the peer does not have what we asked for.
	ErrNotAvailable = errors.New("replicate: peer does not have the data")
	// ErrRejected: the peer does not serve the core.
	ErrRejected = errors.New("replicate: peer does not serve the core")
	// ErrUnsupported: the peer's core is at a fork we cannot follow.
	ErrUnsupported = errors.New("replicate: unsupported")
	// ErrRefused: FetchOptions.Accept refused the peer's signed tree.
	ErrRefused = errors.New("replicate: refused by the caller")
	// ErrCommit: the verified blocks could not be stored (a local failure,
	// not the peer's: the storage may need to be reopened).
	ErrCommit = errors.New("replicate: commit failed")
)

// FetchOptions tune Fetch.
type FetchOptions struct {
	// Config is the secret stream's configuration (static key, limits;
	// IdleTimeout defaults to DefaultIdleTimeout: a peer silent that long
	// fails the fetch).
	Config secretstream.Config
	// Window is how many block requests are in flight (default 64).
	Window int
	// SpoolDir holds verified blocks until they are committed (default
	// os.TempDir()).
	SpoolDir string
	// Log receives the reason a peer was dropped; nil discards.
	Log *slog.Logger
	// Accept, if set, is called with the peer's signed tree (its length and
	// byte length, already checked against the writer's signature) before
	// any block is downloaded; an error ends the fetch (wrapped in
	// ErrRefused) with nothing stored: how a caller bounds what a peer
	// may make it download.
	Accept func(length, byteLength uint64) error
}

// FetchResult says what a fetch did.
type FetchResult struct {
	// Blocks and Bytes were downloaded and verified in this fetch.
	Blocks, Bytes uint64
	// Length is the core's length in the storage afterwards.
	Length uint64
}

// Dial connects to addr and fetches the core key into st (see Fetch).
func Dial(ctx context.Context, addr string, key [32]byte, st hypercore.Storage, opts FetchOptions) (*FetchResult, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("replicate: dial %s: %w", addr, err)
	}
	return Fetch(ctx, c, key, st, opts)
}

// Fetch runs the initiator side of a replication stream on raw (closed
// when Fetch returns) and downloads the core key from the peer into st up
// to the length the peer announces. st may be empty (a replica is made
// with the manifest the peer proves) or hold an earlier copy (only the
// missing blocks are fetched). The writer's signature over the new length
// is checked first; then every block is checked against that tree as it
// arrives; the blocks are committed at the end, in one atomic commit, so
// st only ever holds signed, verified data. Blocks wait in a temporary
// file meanwhile.
func Fetch(ctx context.Context, raw net.Conn, key [32]byte, st hypercore.Storage, opts FetchOptions) (*FetchResult, error) {
	var core *hypercore.Core
	switch c, err := hypercore.Open(ctx, st, nil); {
	case err == nil:
		core = c
	case errors.Is(err, hypercore.ErrNoCore):
	default:
		raw.Close()
		return nil, fmt.Errorf("replicate: open local core: %w", err)
	}
	if core != nil && core.Key() != key {
		raw.Close()
		return nil, fmt.Errorf("replicate: storage holds core %x, not %x", core.Key(), key)
	}
	return fetch(ctx, raw, key, st, core, opts)
}

// FetchInto is Fetch into a core the caller already holds open (a replica
// from hypercore.CreateReplica or Open), for owners of a core store that
// keep their cores open.
func FetchInto(ctx context.Context, raw net.Conn, core *hypercore.Core, opts FetchOptions) (*FetchResult, error) {
	return fetch(ctx, raw, core.Key(), nil, core, opts)
}

// DialInto connects to addr and runs FetchInto.
func DialInto(ctx context.Context, addr string, core *hypercore.Core, opts FetchOptions) (*FetchResult, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("replicate: dial %s: %w", addr, err)
	}
	return FetchInto(ctx, c, core, opts)
}

func fetch(ctx context.Context, raw net.Conn, key [32]byte, st hypercore.Storage, core *hypercore.Core, opts FetchOptions) (*FetchResult, error) {
	defer raw.Close()
	if opts.Window <= 0 {
		opts.Window = 64
	}
	if opts.Config.IdleTimeout == 0 {
		opts.Config.IdleTimeout = DefaultIdleTimeout
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	hctx, cancel := context.WithTimeout(ctx, HandshakeTimeout)
	ss, err := secretstream.Handshake(hctx, raw, true, opts.Config)
	cancel()
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	mux := protomux.New(ss, nil)
	fp := &fetchPeer{ss: ss, key: key, events: make(chan event, opts.Window+8), opened: make(chan struct{}), syncs: make(chan struct{}, 1), outstanding: map[uint64]bool{}}
	if core != nil {
		fp.local = core.Info()
	}
	runErr := make(chan error, 1)
	go func() { runErr <- mux.Run(ctx) }()
	dk := hypercore.DiscoveryKey(key[:])
	hs := Handshake{Seeks: true, Capability: Capability(true, key, ss.HandshakeHash())}
	if _, err := mux.Open(Protocol, dk[:], hs.Encode(), fp); err != nil {
		return nil, err
	}
	f := &fetcher{ctx: ctx, fp: fp, key: key, st: st, core: core, opts: opts, runErr: runErr}
	dl, err := f.run()
	if err != nil {
		// The stream's own error (a bad frame, a bad capability) is the
		// better reason when it ended first.
		select {
		case rerr := <-runErr:
			if r := disconnectReason(rerr); r != nil && !errors.Is(err, ErrBadProof) {
				err = fmt.Errorf("%w (stream: %w)", err, r)
			}
		default:
		}
		log.Warn("fetch failed, disconnecting", "peer", raw.RemoteAddr().String(), "reason", err)
		mux.Close()
		return nil, err
	}
	// Everything is here: hang up before the (possibly long) commit.
	if fp.ch != nil {
		fp.ch.Close()
	}
	mux.Close()
	if dl == nil {
		return &FetchResult{Length: fp.local.Length}, nil
	}
	return dl.commit(ctx, f.core)
}

// ErrBadProof is wrapped when the peer sends a proof that does not verify.
var ErrBadProof = hypercore.ErrBadProof

type event struct {
	id     uint64
	data   []byte
	noData *NoData
	closed bool
}

// fetchPeer is the channel handler of a fetch; it hands what the peer
// sends to the fetcher goroutine.
type fetchPeer struct {
	ss    *secretstream.Conn
	key   [32]byte
	local hypercore.Info

	events chan event
	opened chan struct{}
	syncs  chan struct{}

	mu          sync.Mutex
	ch          *protomux.Channel
	remote      *Sync
	outstanding map[uint64]bool
	closed      bool
}

func (p *fetchPeer) Opened(ch *protomux.Channel, handshake []byte) error {
	h, err := DecodeHandshake(handshake)
	if err != nil {
		return err
	}
	if h.Capability != Capability(!p.ss.IsInitiator(), p.key, p.ss.HandshakeHash()) {
		return ErrBadCapability
	}
	p.mu.Lock()
	p.ch = ch
	p.mu.Unlock()
	close(p.opened)
	s := Sync{Fork: p.local.Fork, Length: p.local.Length, CanUpgrade: true, Uploading: true, Downloading: true,
		HasManifest: p.local.Length > 0 && !p.local.Compat}
	return ch.Send(TypeSync, s.Encode())
}

func (p *fetchPeer) Message(ch *protomux.Channel, typ uint64, payload []byte) error {
	switch typ {
	case TypeSync:
		s, err := DecodeSync(payload)
		if err != nil {
			return err
		}
		p.mu.Lock()
		p.remote = s
		p.mu.Unlock()
		select {
		case p.syncs <- struct{}{}:
		default:
		}
	case TypeData:
		return p.deliver(payload, nil)
	case TypeNoData:
		n, err := DecodeNoData(payload)
		if err != nil {
			return err
		}
		return p.deliver(nil, n)
	}
	return nil
}

// deliver passes an answer to an outstanding request to the fetcher;
// answers to nothing we asked are dropped (the peer may push).
func (p *fetchPeer) deliver(data []byte, n *NoData) error {
	var id uint64
	if n != nil {
		id = n.Request
	} else {
		d, err := requestID(data)
		if err != nil {
			return err
		}
		id = d
	}
	p.mu.Lock()
	ok := p.outstanding[id]
	delete(p.outstanding, id)
	p.mu.Unlock()
	if !ok {
		return nil
	}
	p.events <- event{id: id, data: data, noData: n}
	return nil
}

func (p *fetchPeer) Closed(*protomux.Channel, bool) {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	select {
	case p.events <- event{closed: true}:
	default:
	}
}

func (p *fetchPeer) send(r *Request) error {
	p.mu.Lock()
	p.outstanding[r.ID] = true
	ch := p.ch
	p.mu.Unlock()
	return ch.Send(TypeRequest, r.Encode())
}

// requestID reads the request id of a wire.data (flags, then the id)
// without decoding the rest; the fetcher decodes and checks it all.
func requestID(b []byte) (uint64, error) {
	d := compact.NewDecoder(b)
	d.Uint()
	id := d.Uint()
	return id, wrap("data", d.Err())
}

type fetcher struct {
	ctx    context.Context
	fp     *fetchPeer
	key    [32]byte
	st     hypercore.Storage
	core   *hypercore.Core
	opts   FetchOptions
	runErr chan error
	nextID uint64
}

func (f *fetcher) streamEnded(err error) error {
	if r := disconnectReason(err); r != nil {
		return fmt.Errorf("replicate: stream ended: %w", r)
	}
	return fmt.Errorf("replicate: peer closed the stream: %w", io.ErrUnexpectedEOF)
}

func (f *fetcher) wait(c <-chan struct{}) error {
	select {
	case <-c:
		return nil
	case err := <-f.runErr:
		f.runErr <- err
		return f.streamEnded(err)
	case <-f.ctx.Done():
		return f.ctx.Err()
	}
}

func (f *fetcher) next() (event, error) {
	select {
	case ev := <-f.fp.events:
		if ev.closed {
			return ev, ErrRejected
		}
		return ev, nil
	case err := <-f.runErr:
		f.runErr <- err
		return event{}, f.streamEnded(err)
	case <-f.ctx.Done():
		return event{}, f.ctx.Err()
	}
}

func (f *fetcher) request(r Request) (uint64, error) {
	f.nextID++
	r.ID = f.nextID
	return r.ID, f.fp.send(&r)
}

// run downloads and verifies; a nil download means there is nothing new.
func (f *fetcher) run() (*download, error) {
	// The channel opens (or the peer rejects it), then the peer says its length.
	select {
	case <-f.fp.opened:
	case <-f.fp.events: // only Closed can send before the open
		return nil, ErrRejected
	case err := <-f.runErr:
		f.runErr <- err
		return nil, f.streamEnded(err)
	case <-f.ctx.Done():
		return nil, f.ctx.Err()
	}
	if err := f.wait(f.fp.syncs); err != nil {
		return nil, err
	}
	f.fp.mu.Lock()
	remote := *f.fp.remote
	f.fp.mu.Unlock()

	local := f.fp.local
	if remote.Fork != local.Fork {
		return nil, fmt.Errorf("%w: peer's core is at fork %d, ours at %d", ErrUnsupported, remote.Fork, local.Fork)
	}
	if remote.Length <= local.Length {
		if remote.Length == 0 && local.Length == 0 {
			return nil, fmt.Errorf("%w: the peer's core is empty", ErrNotAvailable)
		}
		return nil, nil
	}

	// 1. The new tree, signed by the writer.
	id, err := f.request(Request{Fork: remote.Fork, Upgrade: &hypercore.UpgradeRequest{Start: local.Length, Length: remote.Length - local.Length},
		Manifest: f.core == nil && remote.HasManifest})
	if err != nil {
		return nil, err
	}
	ev, err := f.next()
	if err != nil {
		return nil, err
	}
	if ev.noData != nil {
		return nil, fmt.Errorf("%w: no upgrade to length %d (reason %d)", ErrNotAvailable, remote.Length, ev.noData.Reason)
	}
	p, err := hypercore.DecodeProof(ev.data)
	if err != nil {
		return nil, fmt.Errorf("replicate: upgrade %d: %w", id, err)
	}
	if p.Upgrade == nil {
		return nil, fmt.Errorf("%w: answer without the upgrade we asked for", ErrBadProof)
	}
	var trusted *hypercore.Verified
	if f.core != nil {
		trusted = &hypercore.Verified{Length: local.Length, Fork: local.Fork, Roots: f.core.Roots(), TreeHash: local.TreeHash,
			ByteLength: local.ByteLength, Signature: local.Signature}
		if !local.Compat {
			trusted.Manifest = local.Manifest
		}
	}
	var manifest []byte
	if trusted != nil {
		manifest = trusted.Manifest
	}
	tree, err := hypercore.VerifyProofFrom(f.key[:], manifest, trusted, p)
	if err != nil {
		return nil, fmt.Errorf("replicate: the peer's signed tree does not verify: %w", err)
	}
	if tree.Fork != local.Fork {
		return nil, fmt.Errorf("%w: peer's tree is at fork %d", ErrUnsupported, tree.Fork)
	}
	if f.opts.Accept != nil {
		if err := f.opts.Accept(tree.Length, tree.ByteLength); err != nil {
			return nil, fmt.Errorf("%w: length %d (%d bytes): %w", ErrRefused, tree.Length, tree.ByteLength, err)
		}
	}
	if f.core == nil {
		c, err := hypercore.CreateReplica(f.ctx, f.st, f.key, tree.Manifest)
		if err != nil {
			return nil, fmt.Errorf("replicate: %w", err)
		}
		f.core = c
	}

	// 2. Every block, pipelined, each checked against the tree.
	sp, err := newSpool(f.opts.SpoolDir)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			sp.close()
		}
	}()
	start, end := local.Length, tree.Length
	roots := flattree.FullRoots(nil, 2*end)
	nodesFor := func(i uint64) uint64 {
		for _, r := range roots {
			if flattree.Contains(r, 2*i) {
				return flattree.Depth(r)
			}
		}
		return 0
	}
	pending := map[uint64]uint64{} // request id → block index
	got := map[uint64][]byte{}     // verified, not yet spooled
	nextReq, nextSpool := start, start
	var bytes uint64
	for nextSpool < end {
		for nextReq < end && len(pending) < f.opts.Window {
			id, err := f.request(Request{Fork: tree.Fork, Block: &hypercore.BlockRequest{Index: nextReq, Nodes: nodesFor(nextReq)}})
			if err != nil {
				return nil, err
			}
			pending[id] = nextReq
			nextReq++
		}
		ev, err := f.next()
		if err != nil {
			return nil, err
		}
		idx, ok := pending[ev.id]
		if !ok {
			continue
		}
		delete(pending, ev.id)
		if ev.noData != nil {
			return nil, fmt.Errorf("%w: block %d (reason %d)", ErrNotAvailable, idx, ev.noData.Reason)
		}
		p, err := hypercore.DecodeProof(ev.data)
		if err != nil {
			return nil, fmt.Errorf("replicate: block %d: %w", idx, err)
		}
		if p.Block == nil || p.Block.Index != idx || p.Upgrade != nil {
			return nil, fmt.Errorf("%w: answer to the request for block %d is not that block's proof", ErrBadProof, idx)
		}
		if _, err := hypercore.VerifyProofFrom(f.key[:], tree.Manifest, tree, p); err != nil {
			return nil, fmt.Errorf("replicate: block %d does not verify: %w", idx, err)
		}
		got[idx] = p.Block.Value
		for v, ok := got[nextSpool]; ok; v, ok = got[nextSpool] {
			if err := sp.add(v); err != nil {
				return nil, err
			}
			bytes += uint64(len(v))
			delete(got, nextSpool)
			nextSpool++
		}
	}

	ok = true
	return &download{sp: sp, tree: tree, blocks: end - start, bytes: bytes}, nil
}

// download is what a fetch got: verified blocks waiting in a spool.
type download struct {
	sp            *spool
	tree          *hypercore.Verified
	blocks, bytes uint64
}

// commit appends the spooled blocks in one atomic commit, checked against
// the writer's signature once more.
func (d *download) commit(ctx context.Context, core *hypercore.Core) (*FetchResult, error) {
	defer d.sp.close()
	blocks, err := d.sp.blocks()
	if err != nil {
		return nil, err
	}
	n, err := core.AppendSigned(ctx, d.tree.Fork, d.tree.Signature, blocks...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCommit, err)
	}
	return &FetchResult{Blocks: d.blocks, Bytes: d.bytes, Length: n}, nil
}

// spool keeps verified blocks in a temporary file until the commit.
type spool struct {
	f     *os.File
	sizes []int
	off   int64
	mem   []byte // the mapped or read file
	unmap func() error
}

func newSpool(dir string) (*spool, error) {
	f, err := os.CreateTemp(dir, "datdot-fetch-*")
	if err != nil {
		return nil, fmt.Errorf("replicate: spool: %w", err)
	}
	os.Remove(f.Name()) // unlinked: nothing is left behind after a crash
	return &spool{f: f}, nil
}

func (s *spool) add(b []byte) error {
	if _, err := s.f.WriteAt(b, s.off); err != nil {
		return fmt.Errorf("replicate: spool: %w", err)
	}
	s.off += int64(len(b))
	s.sizes = append(s.sizes, len(b))
	return nil
}

func (s *spool) blocks() ([][]byte, error) {
	mem, unmap, err := mapFile(s.f, s.off)
	if err != nil {
		return nil, fmt.Errorf("replicate: spool: %w", err)
	}
	s.mem, s.unmap = mem, unmap
	out := make([][]byte, len(s.sizes))
	var off int
	for i, n := range s.sizes {
		out[i] = mem[off : off+n : off+n]
		off += n
	}
	return out, nil
}

func (s *spool) close() {
	if s.unmap != nil {
		s.unmap()
	}
	s.f.Close()
}

func isEOF(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, protomux.ErrClosed)
}
