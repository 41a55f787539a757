package network

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/datdot/datdot/bufpool"
	"github.com/datdot/datdot/gateway/store"
	"github.com/datdot/datdot/hoster/client"
	"github.com/datdot/datdot/hoster/wire"
	"github.com/datdot/datdot/hypercore"
	"github.com/datdot/datdot/volume"
)

// VolumeRef names a volume for reading it from hosters: its id, layout
// and the public keys of its n cores (derived from the master secret, see
// NewVolumeRef). Dir, when not empty, is the volume's local directory
// (where a writer keeps its order id); it need not exist.
type VolumeRef struct {
	ID     []byte
	Layout volume.Layout
	Keys   [][32]byte
	Dir    string
}

// Hex is the volume id in hex, as extents name it.
func (v VolumeRef) Hex() string { return hex.EncodeToString(v.ID) }

// NewVolumeRef derives the core keys of volume id under master.
func NewVolumeRef(master, id []byte, l volume.Layout) (VolumeRef, error) {
	privs, err := volume.CoreKeys(master, id, l)
	if err != nil {
		return VolumeRef{}, err
	}
	return refFromKeys(id, l, privs), nil
}

func refFromKeys(id []byte, l volume.Layout, privs []ed25519.PrivateKey) VolumeRef {
	ref := VolumeRef{ID: id, Layout: l, Keys: make([][32]byte, len(privs))}
	for j, p := range privs {
		ref.Keys[j] = volume.PublicCoreKey(p)
	}
	return ref
}

// Locator finds the hosters of a volume's cores: the chain's current
// assignments of the volume's order.
type Locator interface {
	// Locate returns, for each core j of v (n entries), the base URLs of
	// the hosters assigned to it. fresh asks for the chain's current
	// answer instead of a remembered one: a hoster failed, or the chain
	// may have replaced it.
	Locate(ctx context.Context, v VolumeRef, fresh bool) ([][]string, error)
}

// RemoteConfig configures a Remote.
type RemoteConfig struct {
	Locator Locator
	// HTTP is the client for hoster requests (nil: a default one).
	HTTP *http.Client
	// SlowAfter is how long a hoster may take to answer before the reader
	// asks other cores' hosters and decodes around it (default 2 s).
	SlowAfter time.Duration
	// FetchTimeout bounds one request to one hoster (default 30 s).
	FetchTimeout time.Duration
	// HedgeAfter is when a read of whole stripes asks one core more than
	// it needs (the first k answers decide, the slowest is cancelled):
	// 0, the default, asks it with the others; a positive duration asks
	// it only if the needed cores have not all answered by then (and a
	// read of part of a stripe then asks enough other cores to decode
	// around the laggards, as it does after SlowAfter). The extra core
	// costs the hosters and the gateway a quarter more bytes per read at
	// k=4 (and a decode when it wins); asked later, it is paid only when
	// a hoster lags.
	HedgeAfter time.Duration
	// Penalty is how long a hoster that failed is asked last (default
	// 30 s); one that was only slow (past SlowAfter) is asked last for a
	// third of it.
	Penalty time.Duration
	// DrainAfter is how long a read that has what it needs lets the
	// hosters it no longer waits for (the slowest of k+1) finish their
	// answers before it cancels them: an answer that completes keeps its
	// connection for the next read, a cancelled one closes it. The read
	// itself never waits for them. Default 100 ms; negative cancels at
	// once.
	DrainAfter time.Duration
	// DataGrace is how long a read that has k answers, parity among
	// them, waits for a needed data core still answering before it
	// decodes around it: with the extra core asked at once, parity is
	// often among the first k by a hair, and the data core's answer is
	// then free where the decode costs the gateway CPU. Default 5 ms;
	// negative decodes at once.
	DataGrace time.Duration
	Log       *slog.Logger
}

// Remote reads the blocks of volumes from the hosters that hold them:
// the data blocks a read needs from the fastest hosters, Reed-Solomon
// decoding only when a data block is missing, slow or dead hosters
// skipped within SlowAfter. It is safe for concurrent use and usable
// without a Blobs (a restore reads volumes with it).
type Remote struct {
	cfg RemoteConfig

	mu     sync.Mutex
	coders map[volume.Layout]*volume.Coder
	stale  map[string]bool // volumes whose placement must be re-read
	// refreshed is when each volume's placement was last read afresh.
	refreshed map[string]time.Time
	penalty   map[string]time.Time // endpoint -> asked last until

	// bufs keeps the buffers hoster answers are read into, for readers
	// that give them back (see read).
	bufs bufpool.Pool
	// draining counts the fetches that reads no longer wait for and
	// that have not ended yet (drain).
	draining atomic.Int64
	// decodes counts the reads that decoded around a data core.
	decodes atomic.Int64
}

// NewRemote returns a reader of volumes from hosters.
func NewRemote(cfg RemoteConfig) (*Remote, error) {
	if cfg.Locator == nil {
		return nil, errors.New("network: remote reader without a locator")
	}
	if cfg.HTTP == nil {
		// Keep connections to every hoster open for reuse: reads run
		// concurrently, and net/http keeps only 2 idle per host by
		// default (the rest would be new connections each time).
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64
		cfg.HTTP = &http.Client{Transport: t}
	}
	if cfg.SlowAfter <= 0 {
		cfg.SlowAfter = 2 * time.Second
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = 30 * time.Second
	}
	if cfg.Penalty <= 0 {
		cfg.Penalty = 30 * time.Second
	}
	if cfg.DrainAfter == 0 {
		cfg.DrainAfter = 100 * time.Millisecond
	}
	if cfg.DataGrace == 0 {
		cfg.DataGrace = 5 * time.Millisecond
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Remote{cfg: cfg, coders: map[volume.Layout]*volume.Coder{}, stale: map[string]bool{},
		refreshed: map[string]time.Time{}, penalty: map[string]time.Time{}}, nil
}

func (r *Remote) coder(l volume.Layout) (*volume.Coder, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c := r.coders[l]; c != nil {
		return c, nil
	}
	c, err := volume.NewCoder(l)
	if err != nil {
		return nil, err
	}
	r.coders[l] = c
	return c, nil
}

func (r *Remote) penalize(ep string, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.penalty[ep] = time.Now().Add(d)
}

func (r *Remote) penalized(ep string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	until, ok := r.penalty[ep]
	if ok && time.Now().After(until) {
		delete(r.penalty, ep)
		return false
	}
	return ok
}

// ordered returns eps with penalized endpoints last, and whether all are
// penalized.
func (r *Remote) ordered(eps []string) ([]string, bool) {
	good, bad := make([]string, 0, len(eps)), []string(nil)
	for _, ep := range eps {
		if r.penalized(ep) {
			bad = append(bad, ep)
		} else {
			good = append(good, ep)
		}
	}
	return append(good, bad...), len(good) == 0
}

// locate returns the placement of v. fresh asks the chain; a volume
// marked stale by a failed read is asked again too, at most once a second.
func (r *Remote) locate(ctx context.Context, v VolumeRef, fresh bool) ([][]string, error) {
	r.mu.Lock()
	if r.stale[v.Hex()] && time.Since(r.refreshed[v.Hex()]) >= time.Second {
		fresh = true
		delete(r.stale, v.Hex())
	}
	if fresh {
		r.refreshed[v.Hex()] = time.Now()
	}
	r.mu.Unlock()
	eps, err := r.cfg.Locator.Locate(ctx, v, fresh)
	if err != nil {
		return nil, fmt.Errorf("network: locate volume %s: %w", v.Hex(), err)
	}
	if len(eps) != v.Layout.N() {
		return nil, fmt.Errorf("network: volume %s: %d cores located, layout has %d", v.Hex(), len(eps), v.Layout.N())
	}
	return eps, nil
}

// ReadStripes returns the data blocks of stripes [first, end) of v:
// out[s-first][j] is block s of data core j for every j with need[j]
// (len(need) = k); other entries may be nil. With verify, every block is
// fetched with a proof and checked against its writer's signature (use it
// when bytes failed authentication: a hoster served wrong ones); without,
// blocks are trusted as served (the AEAD of every segment authenticates
// them later). A read that cannot find k good cores re-reads the placement
// from the chain once and retries, then fails with store.ErrDataShort.
//
// Every stripe read is full size except, when lastLen is not 0, the last
// one (end-1): a short stripe whose blocks are lastLen bytes
// (docs/volume-format.md, v2). A hoster serving a block of another length
// is treated as failed.
func (r *Remote) ReadStripes(ctx context.Context, v VolumeRef, first, end uint64, lastLen int, need []bool, verify bool) ([][][]byte, error) {
	out, _, _, err := r.read(ctx, v, first, end, lastLen, need, verify, false, nil)
	return out, err
}

// read is ReadStripes; with pooled, the blocks it returns are read into
// buffers of r.bufs, and release (never nil) gives them back: call it
// once nothing refers to the blocks any more (not calling it only costs
// the reuse). A pooled read of every data shard reads the data cores'
// blocks into one buffer in stream order (each block where the volume's
// stream has it, from the window's first stripe on); when every block
// came from its core (nothing decoded), stream is that buffer: the
// window's bytes of the volume stream, contiguous.
//
// urgent, when not nil, makes a read of whole stripes with HedgeAfter 0
// lazy: it asks only the data cores, and the extra one only once urgent
// is closed (a reader waits for the window it asked ahead) and some core
// has answered while others have not (they lag), or when a hoster fails
// or is slow (SlowAfter). A core asked that late is cut as soon as the
// read has what it needs (not drained). A window read ahead that is ready
// before it is wanted then costs the hosters and the gateway no extra
// core's bytes and no decode, and one that is merely still coming, with
// every hoster sending, costs only what the extra core sent until then.
// (With HedgeAfter set, every read hedges after it instead: a read of a
// whole stripe asks one more core, a read of part of a stripe asks enough
// other cores to decode around the ones that lag.)
func (r *Remote) read(ctx context.Context, v VolumeRef, first, end uint64, lastLen int, need []bool, verify, pooled bool, urgent <-chan struct{}) (out [][][]byte, stream []byte, release func(), err error) {
	l := v.Layout
	if len(need) != l.K || end <= first || len(v.Keys) != l.N() || (lastLen != 0 && !volume.ValidBlockSize(lastLen)) {
		return nil, nil, noRelease, fmt.Errorf("network: read of volume %s: bad request (stripes [%d,%d), last of %d-byte blocks, %d shards wanted, %d keys)", v.Hex(), first, end, lastLen, len(need), len(v.Keys))
	}
	if lastLen == 0 {
		lastLen = volume.BlockSize
	}
	coder, err := r.coder(l)
	if err != nil {
		return nil, nil, noRelease, err
	}
	eps, err := r.locate(ctx, v, false)
	if err != nil {
		return nil, nil, noRelease, err
	}
	whole := pooled && !verify && !slices.Contains(need, false)
	var win *winBuf
	if whole {
		win = r.newWin(l, first, end, lastLen)
	}
	out, stream, rel, failed, err := r.readOnce(ctx, v, coder, eps, first, end, lastLen, need, verify, pooled, win, urgent)
	if err == nil {
		if failed {
			r.mu.Lock()
			r.stale[v.Hex()] = true // look again before the next read
			r.mu.Unlock()
		}
		return out, stream, rel, nil
	}
	if ctx.Err() != nil {
		return nil, nil, noRelease, err
	}
	// Not enough hosters answered: the chain may have replaced some.
	fresh, lerr := r.locate(ctx, v, true)
	if lerr != nil {
		return nil, nil, noRelease, errors.Join(err, lerr)
	}
	if slices.EqualFunc(fresh, eps, slices.Equal) {
		return nil, nil, noRelease, err
	}
	r.cfg.Log.Info("volume placement changed; reading again", "volume", v.Hex())
	if whole {
		win = r.newWin(l, first, end, lastLen) // the first one's fetches may still write to theirs
	}
	out, stream, rel, _, err = r.readOnce(ctx, v, coder, fresh, first, end, lastLen, need, verify, pooled, win, urgent)
	if err != nil {
		return nil, nil, noRelease, err
	}
	return out, stream, rel, nil
}

func noRelease() {}

// winBuf is the buffer a whole-window read lays the data cores' blocks
// into, in stream order. It goes back to the pool once the read's result
// is released and every fetch that may write into it has ended.
type winBuf struct {
	buf        *[]byte
	first, end uint64
	k, last    int // data cores; block size of stripe end-1
	refs       atomic.Int32
	pool       *bufpool.Pool
}

// newWin returns the window buffer of stripes [first, end) (stripe end-1
// of lastLen-byte blocks), held once by the read.
func (r *Remote) newWin(l volume.Layout, first, end uint64, lastLen int) *winBuf {
	n := int(end-first-1)*l.K*volume.BlockSize + l.K*lastLen
	w := &winBuf{buf: r.bufs.Get(n), first: first, end: end, k: l.K, last: lastLen, pool: &r.bufs}
	*w.buf = (*w.buf)[:n]
	w.refs.Store(1)
	return w
}

func (w *winBuf) hold() { w.refs.Add(1) }

func (w *winBuf) release() {
	if w.refs.Add(-1) == 0 {
		w.pool.Put(w.buf)
	}
}

// place is where block s of data core j lies in the window: where the
// volume's stream has it, relative to the window's first stripe.
func (w *winBuf) place(s uint64, j, size int) ([]byte, error) {
	bl := volume.BlockSize
	if s == w.end-1 {
		bl = w.last
	}
	if size != bl {
		return nil, fmt.Errorf("block %d is %d bytes, want %d", s, size, bl)
	}
	off := int(s-w.first)*w.k*volume.BlockSize + j*bl
	return (*w.buf)[off : off+bl : off+bl], nil
}

// releaser returns a func that gives bufs back to r.bufs and calls also
// (if any) once.
func (r *Remote) releaser(bufs []*[]byte, also ...func()) func() {
	if len(bufs) == 0 && len(also) == 0 {
		return noRelease
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			for _, b := range bufs {
				r.bufs.Put(b)
			}
			for _, f := range also {
				f()
			}
		})
	}
}

type coreResult struct {
	j      int
	blocks [][]byte
	bufs   []*[]byte // of r.bufs, holding blocks
	err    error
}

// readOnce reads the window from the hosters in eps. failed reports that
// some core's hosters failed or were slow (the placement may be stale).
// With pooled, the blocks are read into buffers of r.bufs; it returns those
// the result refers to (and gives back the others). urgent is read's.
func (r *Remote) readOnce(ctx context.Context, v VolumeRef, coder *volume.Coder, eps [][]string, first, end uint64, lastLen int, need []bool, verify, pooled bool, win *winBuf, urgent <-chan struct{}) (_ [][][]byte, stream []byte, release func(), failed bool, _ error) {
	// The read's hold on win ends with its result's release, or here on
	// failure.
	winRelease := noRelease
	if win != nil {
		winRelease = sync.OnceFunc(win.release)
		defer func() {
			if release == nil {
				winRelease()
			}
		}()
	}
	l := v.Layout
	n := l.N()
	// The fetches run under fctx: cancelled with ctx while the read
	// runs, and afterwards (success, cores still answering) only once
	// DrainAfter has passed (drain).
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, cancel)
	var res chan coreResult
	running := 0
	drain := false
	defer func() {
		stop()
		if !drain || running == 0 || r.cfg.DrainAfter < 0 {
			cancel()
			return
		}
		r.drain(res, running, cancel)
	}()
	const (
		idle = iota
		inflight
		ok
		bad
	)
	state := make([]int, n)
	got := make([][][]byte, n)
	eporder := make([][]string, n)
	allBad := make([]bool, n)
	for j := range n {
		eporder[j], allBad[j] = r.ordered(eps[j])
		if len(eps[j]) == 0 {
			state[j] = bad
		}
	}
	// Candidate order: needed data cores, other data cores, parity; cores
	// whose hosters are all penalized last.
	var cand []int
	for pass := range 2 {
		for j := range n {
			needed := j < l.K && need[j]
			if allBad[j] == (pass == 1) && needed {
				cand = append(cand, j)
			}
		}
		for j := range n {
			needed := j < l.K && need[j]
			if allBad[j] == (pass == 1) && !needed {
				cand = append(cand, j)
			}
		}
	}
	res = make(chan coreResult, n)
	gotBufs := make([][]*[]byte, n)
	// keep returns the buffers of the data cores (out refers to them)
	// and gives back the parity ones (a decoded block is a new slice).
	keep := func() []*[]byte {
		var k []*[]byte
		for j, bs := range gotBufs {
			if j < l.K {
				k = append(k, bs...)
				continue
			}
			for _, b := range bs {
				r.bufs.Put(b)
			}
		}
		return k
	}
	okCount := 0
	started := make([]time.Time, n)
	// The cores asked once a lazy read became urgent (urgentSeen) are cut
	// at once when the read is done without them, not drained: they have
	// most of their bytes still to send. lateCancel ends them.
	lateCancel := make([]context.CancelFunc, n)
	urgentSeen, urgentHedged := false, false
	launch := func(j int) {
		state[j] = inflight
		running++
		started[j] = time.Now()
		var place func(s uint64, size int) ([]byte, error)
		if win != nil && j < l.K {
			win.hold() // until the fetch ends: it writes into win
			place = func(s uint64, size int) ([]byte, error) { return win.place(s, j, size) }
		}
		jctx := fctx
		if urgentSeen {
			jctx, lateCancel[j] = context.WithCancel(fctx)
		}
		go func() {
			b, bufs, err := r.fetchCore(jctx, v, j, eporder[j], first, end, lastLen, verify, pooled, place)
			if place != nil {
				win.release()
			}
			res <- coreResult{j, b, bufs, err}
		}()
	}
	decode := false
	escalate := func() {
		decode = true
		for _, j := range cand {
			if running+okCount >= l.K+1 {
				return
			}
			if state[j] == idle {
				launch(j)
			}
		}
	}
	wanted := 0
	for j := range l.K {
		if need[j] {
			wanted++
			if allBad[j] || state[j] == bad {
				decode = true
			}
		}
	}
	if decode {
		escalate()
	} else {
		for j := range l.K {
			if need[j] {
				launch(j)
			}
		}
	}
	// Ask one more than needed: the first k answers decide.
	hedge := func() {
		for _, j := range cand {
			if state[j] == idle && running+okCount < l.K+1 {
				launch(j)
				return
			}
		}
	}
	var hedgeC <-chan time.Time
	var urgentC <-chan struct{}
	if !decode && l.M > 0 {
		switch {
		case r.cfg.HedgeAfter > 0:
			t := time.NewTimer(r.cfg.HedgeAfter)
			defer t.Stop()
			hedgeC = t.C
		case urgent != nil && wanted == l.K:
			urgentC = urgent
		case wanted == l.K:
			hedge()
		}
	}
	failed = decode
	// graceC runs while k cores have answered and a needed data core is
	// still answering (DataGrace); then graceOver.
	var graceC <-chan time.Time
	graceOver := false
	slow := time.NewTimer(r.cfg.SlowAfter)
	defer slow.Stop()
	// cutLate cancels the late cores still answering.
	cutLate := func() {
		for j, c := range lateCancel {
			if c != nil && state[j] == inflight {
				c()
			}
		}
	}
	for {
		haveNeeded := true
		for j := range l.K {
			if need[j] && state[j] != ok {
				haveNeeded = false
			}
		}
		if haveNeeded {
			out := assemble(got, l, first, end, need, nil, nil)
			drain = true
			cutLate()
			if win != nil {
				stream = *win.buf
			}
			return out, stream, r.releaser(keep(), winRelease), failed, nil
		}
		if urgentSeen && !urgentHedged && okCount > 0 {
			// Urgent, and some cores have answered while others
			// have not: those lag. Ask one more.
			urgentHedged = true
			hedge()
		}
		waitData := false
		if okCount >= l.K && !graceOver && r.cfg.DataGrace > 0 {
			for j := range l.K {
				if need[j] && state[j] == inflight {
					waitData = true
				}
			}
			if waitData && graceC == nil {
				t := time.NewTimer(r.cfg.DataGrace)
				defer t.Stop()
				graceC = t.C
			}
		}
		if okCount >= l.K && !waitData {
			// Decoded blocks go into one pooled buffer that lives as
			// long as the data cores' answers (with pooled).
			var dec *[]byte
			if pooled {
				missing := 0
				for j := range l.K {
					if need[j] && got[j] == nil {
						missing++
					}
				}
				dec = r.bufs.Get(missing * int(end-first) * volume.BlockSize)
			}
			r.decodes.Add(1)
			out := assemble(got, l, first, end, need, coder, dec)
			kept := keep()
			if dec != nil {
				kept = append(kept, dec)
			}
			if out == nil {
				r.releaser(kept)()
				return nil, nil, nil, true, fmt.Errorf("network: volume %s stripes [%d,%d): decode failed: %w", v.Hex(), first, end, store.ErrDataShort)
			}
			drain = true
			cutLate()
			return out, nil, r.releaser(kept, winRelease), failed, nil
		}
		if running == 0 {
			escalate()
			if running == 0 {
				r.releaser(keep())()
				return nil, nil, nil, true, fmt.Errorf("network: volume %s stripes [%d,%d): %d of %d cores readable from hosters: %w", v.Hex(), first, end, okCount, l.K, store.ErrDataShort)
			}
		}
		select {
		case cr := <-res:
			running--
			if cr.err != nil {
				state[cr.j] = bad
				failed = true
				r.cfg.Log.Debug("core read failed", "volume", v.Hex(), "core", cr.j, "err", cr.err)
				if ctx.Err() != nil {
					r.releaser(keep())()
					return nil, nil, nil, true, ctx.Err()
				}
				escalate()
				continue
			}
			state[cr.j] = ok
			got[cr.j] = cr.blocks
			gotBufs[cr.j] = cr.bufs
			okCount++
		case <-graceC:
			graceC, graceOver = nil, true
		case <-urgentC:
			// Wanted now: ask one more core as soon as the answers
			// show a laggard (above).
			urgentC = nil
			urgentSeen = true
		case <-hedgeC:
			// The cores asked lag: one more (or, for a read of part of
			// a stripe, enough others to decode around them).
			hedgeC, urgentC = nil, nil
			if wanted == l.K {
				hedge()
			} else {
				escalate()
			}
		case <-slow.C:
			// Hosters still busy are slow: ask others, remember them.
			for j := range n {
				if state[j] == inflight && time.Since(started[j]) >= r.cfg.SlowAfter && len(eporder[j]) > 0 {
					r.penalize(eporder[j][0], r.cfg.Penalty/3)
				}
			}
			failed = true
			escalate()
			slow.Reset(r.cfg.SlowAfter)
		case <-ctx.Done():
			r.releaser(keep())()
			return nil, nil, nil, true, ctx.Err()
		}
	}
}

// drain lets the running fetches of a read that no longer needs them
// finish, for at most DrainAfter, and gives their buffers back: a fetch
// cancelled mid-answer closes its connection (the next read dials again,
// and the hoster's answer is cut), while one that finishes leaves it open
// for reuse. On one machine the hedged core is most often only a little
// behind. Then cancel is called.
func (r *Remote) drain(res <-chan coreResult, running int, cancel context.CancelFunc) {
	r.draining.Add(int64(running))
	t := time.AfterFunc(r.cfg.DrainAfter, cancel)
	go func() {
		defer cancel()
		defer t.Stop()
		for range running {
			cr := <-res
			for _, b := range cr.bufs {
				r.bufs.Put(b)
			}
			r.draining.Add(-1)
		}
	}()
}

// assemble builds out[s][j] for the needed data shards; with a coder it
// first reconstructs missing data shards of every stripe (nil on error),
// into dec when it is not nil (room for every missing needed shard of
// every stripe) and into new memory otherwise.
func assemble(got [][][]byte, l volume.Layout, first, end uint64, need []bool, coder *volume.Coder, dec *[]byte) [][][]byte {
	out := make([][][]byte, end-first)
	var room []byte
	if dec != nil {
		room = *dec
	}
	for s := range out {
		shards := make([][]byte, l.N())
		for j := range shards {
			if got[j] != nil {
				shards[j] = got[j][s]
			}
		}
		if coder != nil {
			missing := false
			for j := range l.K {
				if need[j] && shards[j] == nil {
					missing = true
					if len(room) >= volume.BlockSize {
						// Empty, with room: the coder fills it.
						shards[j], room = room[:0:volume.BlockSize], room[volume.BlockSize:]
					}
				}
			}
			if missing {
				if err := coder.ReconstructData(shards); err != nil {
					return nil
				}
			}
		}
		out[s] = shards[:l.K]
	}
	return out
}

// fetchCore reads blocks [first, end) of core j from the first of its
// hosters that has them all (block end-1 lastLen bytes, the others B).
func (r *Remote) fetchCore(ctx context.Context, v VolumeRef, j int, eps []string, first, end uint64, lastLen int, verify, pooled bool, place func(s uint64, size int) ([]byte, error)) ([][]byte, []*[]byte, error) {
	var errs []error
	for _, ep := range eps {
		blocks, bufs, err := r.fetchFrom(ctx, ep, v.Keys[j], first, end, lastLen, verify, pooled, place)
		if err == nil {
			return blocks, bufs, nil
		}
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		r.penalize(ep, r.cfg.Penalty)
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, nil, fmt.Errorf("core %d has no hoster", j)
	}
	return nil, nil, errors.Join(errs...)
}

// fetchFrom reads blocks [first, end) of core key from the hoster at ep
// (block end-1 lastLen bytes, the others B); with pooled (and not verify),
// into buffers of r.bufs, which it returns (given back itself on error).
func (r *Remote) fetchFrom(ctx context.Context, ep string, key [32]byte, first, end uint64, lastLen int, verify, pooled bool, place func(s uint64, size int) ([]byte, error)) (_ [][]byte, bufs []*[]byte, err error) {
	want := func(s uint64) int {
		if s == end-1 {
			return lastLen
		}
		return volume.BlockSize
	}
	c, err := client.New(ep, r.cfg.HTTP)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.FetchTimeout)
	defer cancel()
	out := make([][]byte, 0, end-first)
	if verify {
		for s := first; s < end; s++ {
			p, _, err := c.Proof(ctx, key, s, 0)
			if err != nil {
				return nil, nil, err
			}
			vf, err := hypercore.VerifyProof(key[:], nil, p)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: block %d: %w", ep, s, err)
			}
			if vf.Block == nil || vf.Block.Index != s {
				return nil, nil, fmt.Errorf("%s: proof of block %d does not hold it", ep, s)
			}
			if len(vf.Block.Value) != want(s) {
				return nil, nil, fmt.Errorf("%s: block %d is %d bytes, want %d", ep, s, len(vf.Block.Value), want(s))
			}
			out = append(out, vf.Block.Value)
		}
		return out, nil, nil
	}
	if place != nil && !verify {
		// Each block straight into its place (the blocks are where
		// place put them).
		for s := first; s < end; {
			n, err := c.BlocksUncheckedTo(ctx, key, s, end, func(i uint64, size int) ([]byte, error) {
				if size != want(i) {
					return nil, fmt.Errorf("%s: block %d is %d bytes, want %d", ep, i, size, want(i))
				}
				b, err := place(i, size)
				if err == nil {
					out = append(out, b)
				}
				return b, err
			})
			if err != nil {
				return nil, nil, err
			}
			s += uint64(n)
		}
		return out, nil, nil
	}
	defer func() {
		if err != nil {
			for _, b := range bufs {
				r.bufs.Put(b)
			}
			bufs = nil
		}
	}()
	for s := first; s < end; {
		// The hoster need not hash the blocks: the AEAD tags
		// authenticate them, and a failed tag reads with proofs.
		var bl [][]byte
		if pooled {
			buf := r.bufs.Get(listAnswerSize(end - s))
			var used []byte
			bl, used, err = c.BlocksUncheckedInto(ctx, key, s, end, *buf)
			if cap(used) != cap(*buf) {
				r.bufs.Put(buf) // the answer did not fit: it is in a new buffer
				buf = &used
			}
			bufs = append(bufs, buf)
		} else {
			bl, err = c.BlocksUnchecked(ctx, key, s, end)
		}
		if err != nil {
			return nil, bufs, err
		}
		for _, b := range bl {
			if len(b) != want(s) {
				return nil, bufs, fmt.Errorf("%s: block %d is %d bytes, want %d", ep, s, len(b), want(s))
			}
			out = append(out, b)
			s++
		}
	}
	return out, bufs, nil
}

// listAnswerSize is the size of a hoster's answer with n volume blocks
// (at most what one answer holds).
func listAnswerSize(n uint64) int {
	n = min(n, wire.MaxListBlocks, wire.MaxListBytes/volume.BlockSize)
	return 32 + int(n)*(volume.BlockSize+binary.MaxVarintLen32)
}
