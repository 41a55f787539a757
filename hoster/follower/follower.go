// Package follower is the hoster's chain side: it follows the chain's
// blocks, keeps the hoster's assignments (new orders, extensions,
// replacements, ends) in its store, fetches data it was assigned but does
// not hold from the core's other holders, commits (MsgCommit) once the data
// is durable, and never sends a second commit of a slot while one is in
// flight, across restarts included (the tx hash and timeout height are
// recorded before it is broadcast).
//
// The chain is the source of truth: events only tell the follower when to
// re-read its assignments by query, and it re-reads them on start and
// every ResyncInterval anyway, so a missed event costs a delay, not a slot.
package follower

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/cosmos/cosmos-sdk/types/query"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/datdot/datdot/chainclient"
	"github.com/datdot/datdot/hoster/client"
	"github.com/datdot/datdot/hoster/server"
	"github.com/datdot/datdot/hoster/store"
	storagetypes "github.com/datdot/datdot/x/storage/types"
)

// Config configures a Follower.
type Config struct {
	Chain   *chainclient.Client
	Store   *store.Store
	Limits  store.Limits
	Log     *slog.Logger
	Metrics *server.Metrics
	// ResyncInterval: full re-read of the assignments at least this often
	// (default 30s).
	ResyncInterval time.Duration
	// HeightEvery: the last height processed is recorded in the store at
	// most this often (default 10s) and when Run ends, instead of after
	// every block (a database commit with an fsync each): after a crash
	// the follower replays the blocks since the last record, which only
	// re-reads chain state and wakes workers.
	HeightEvery time.Duration
	// HTTP is the client used to reach other hosters (default: 30s timeout).
	HTTP *http.Client
	// Self is this hoster's endpoint, skipped when looking for peers.
	Self string
	// SelfReplication is this hoster's replication address (skipped).
	SelfReplication string
	// Watch, if set, hears which cores the hoster holds and at what
	// length (after every pass) and which it dropped: the replication
	// server's directory plugs in here.
	Watch Watcher
	// WireLog receives the reasons replication peers were dropped
	// (default: Log).
	WireLog *slog.Logger
}

// Watcher hears about the cores a hoster holds (see Config.Watch).
type Watcher interface {
	// Held: the hoster holds core key (an assignment names it), length
	// blocks of it durably.
	Held(key [32]byte, length uint64)
	// Dropped: no assignment names core key any more.
	Dropped(key [32]byte)
}

// Follower follows the chain for one hoster.
type Follower struct {
	cfg  Config
	me   string
	log  *slog.Logger
	kick chan struct{}

	// What the worker's next round looks at: every slot (kickAll), or the
	// slots of the cores in kicked (pushes stored, orders that changed).
	kmu     sync.Mutex
	kickAll bool
	kicked  map[[32]byte]bool
	// unsettled are the cores with a slot the hoster does not hold whole,
	// has not committed, or has a commit in flight for: the worker's
	// timer looks at these only (used by the worker goroutine alone).
	unsettled map[[32]byte]bool

	refreshMu   sync.Mutex
	lastRefresh time.Time

	// fetchAfter backs off fetches from peers per slot.
	fetchMu    sync.Mutex
	fetchAfter map[store.Slot]time.Time
	repairing  map[[32]byte]bool

	extra []BlockHook

	// The last height onBlock finished and the last one recorded in the
	// store, with when (used by the Follow goroutine alone).
	done, saved int64
	savedAt     time.Time

	bg sync.WaitGroup // repairs started by RepairAsync
}

// RepairAsync starts RepairDamaged in the background; Wait waits for it.
func (f *Follower) RepairAsync(ctx context.Context, key [32]byte) {
	f.bg.Add(1)
	go func() {
		defer f.bg.Done()
		if err := f.RepairDamaged(ctx, key); err != nil && ctx.Err() == nil {
			f.log.Error("repair of damaged core failed; its damaged blocks stay unserved", "err", err)
		}
	}()
}

// Wait waits for the repairs RepairAsync started.
func (f *Follower) Wait() { f.bg.Wait() }

// BlockHook is called for every block after the follower's own work
// (x/attest duties plug in here).
type BlockHook func(ctx context.Context, b *chainclient.Block) error

// New returns a follower; the chain client's key is the hoster's.
func New(cfg Config) *Follower {
	if cfg.ResyncInterval == 0 {
		cfg.ResyncInterval = 30 * time.Second
	}
	if cfg.HeightEvery == 0 {
		cfg.HeightEvery = 10 * time.Second
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: 60 * time.Second}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Follower{cfg: cfg, me: cfg.Chain.Address(), log: cfg.Log, kick: make(chan struct{}, 1), fetchAfter: map[store.Slot]time.Time{}, repairing: map[[32]byte]bool{},
		kicked: map[[32]byte]bool{}, unsettled: map[[32]byte]bool{}}
}

// AddHook adds a per-block hook (before Run).
func (f *Follower) AddHook(h BlockHook) { f.extra = append(f.extra, h) }

// Kick asks the worker to look at every slot now.
func (f *Follower) Kick() {
	f.kmu.Lock()
	f.kickAll = true
	f.kmu.Unlock()
	f.wake()
}

// Pushed tells the worker that a push of core key was stored: it looks at
// that core's slots only (a commit may be due), never at all of them, so
// a push costs the same however many slots the hoster holds.
func (f *Follower) Pushed(key [32]byte, _ uint64) { f.kickCores(key) }

func (f *Follower) kickCores(keys ...[32]byte) {
	f.kmu.Lock()
	for _, k := range keys {
		f.kicked[k] = true
	}
	f.kmu.Unlock()
	f.wake()
}

func (f *Follower) wake() {
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

// takeKicks returns what was asked for since the last call.
func (f *Follower) takeKicks() (all bool, keys [][32]byte) {
	f.kmu.Lock()
	defer f.kmu.Unlock()
	all, f.kickAll = f.kickAll, false
	for k := range f.kicked {
		if !all {
			keys = append(keys, k)
		}
		delete(f.kicked, k)
	}
	return all, keys
}

// Refresh re-reads the assignments from the chain, at most once a second
// (the HTTP server calls it for a push of a core it does not know yet).
func (f *Follower) Refresh(ctx context.Context) error {
	f.refreshMu.Lock()
	defer f.refreshMu.Unlock()
	if time.Since(f.lastRefresh) < time.Second {
		return nil
	}
	f.lastRefresh = time.Now()
	return f.reconcile(ctx)
}

// Run follows the chain until ctx ends.
func (f *Follower) Run(ctx context.Context) error {
	for {
		err := f.Refresh(ctx)
		if err == nil {
			break
		}
		f.log.Warn("initial read of assignments", "err", err)
		if err := sleep(ctx, 2*time.Second); err != nil {
			return err
		}
	}
	from, err := f.cfg.Store.Height()
	if err != nil {
		return err
	}
	if from == 0 {
		// A new hoster has nothing to replay: its state came from queries.
		if from, err = f.cfg.Chain.Height(ctx); err != nil {
			return err
		}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		f.worker(ctx)
	}()
	f.done, f.saved, f.savedAt = from, from, time.Now()
	err = f.cfg.Chain.Follow(ctx, from+1, f.onBlock)
	wg.Wait()
	if serr := f.saveHeight(); serr != nil {
		f.log.Warn("record chain height", "height", f.done, "err", serr)
		err = errors.Join(err, serr)
	}
	return err
}

// saveHeight records the last height processed if it is not yet.
func (f *Follower) saveHeight() error {
	if f.done == f.saved {
		return nil
	}
	if err := f.cfg.Store.SetHeight(f.done); err != nil {
		return err
	}
	f.saved, f.savedAt = f.done, time.Now()
	return nil
}

func (f *Follower) onBlock(ctx context.Context, b *chainclient.Block) error {
	// The orders whose slots of this hoster may have changed: only those
	// are re-read (a block costs the same however many orders the hoster
	// holds). A gap in the blocks seen re-reads everything.
	var orders []uint64
	note := func(id uint64, ok bool) {
		if ok && !slices.Contains(orders, id) {
			orders = append(orders, id)
		}
	}
	for _, m := range b.Typed() {
		switch e := m.(type) {
		case *storagetypes.EventOrderAssigned:
			note(e.OrderId, slices.Contains(e.Hosters, f.me))
		case *storagetypes.EventAssignmentReplaced:
			note(e.OrderId, e.NewHoster == f.me || e.OldHoster == f.me)
		case *storagetypes.EventOrderExtended:
			note(e.OrderId, f.holdsOrder(e.OrderId))
		case *storagetypes.EventOrderCancelled:
			note(e.OrderId, f.holdsOrder(e.OrderId))
		case *storagetypes.EventOrderExpired:
			note(e.OrderId, f.holdsOrder(e.OrderId))
		case *storagetypes.EventCommitted:
			note(e.OrderId, e.Hoster == f.me)
		}
	}
	if b.Missing {
		f.refreshMu.Lock()
		err := f.reconcile(ctx)
		f.lastRefresh = time.Now()
		f.refreshMu.Unlock()
		if err != nil {
			f.log.Warn("read assignments", "height", b.Height, "err", err)
		}
		f.Kick()
	} else if len(orders) > 0 {
		var keys [][32]byte
		for _, id := range orders {
			ks, err := f.reconcileOrder(ctx, id)
			if err != nil {
				f.log.Warn("read order", "height", b.Height, "order", id, "err", err)
				f.Kick() // the timer's full pass and resync catch up
				continue
			}
			keys = append(keys, ks...)
		}
		f.kickCores(keys...)
	}
	for _, h := range f.extra {
		if err := h(ctx, b); err != nil {
			return err
		}
	}
	if f.cfg.Metrics != nil {
		f.cfg.Metrics.ChainHeight.Set(float64(b.Height))
	}
	f.done = b.Height
	if time.Since(f.savedAt) < f.cfg.HeightEvery {
		return nil
	}
	return f.saveHeight()
}

// holdsOrder reports whether the hoster has a slot of order id (on a
// store error it says yes: a needless re-read is cheap, a missed one not).
func (f *Follower) holdsOrder(id uint64) bool {
	ok, err := f.cfg.Store.HasOrder(id)
	return ok || err != nil
}

// reconcile makes the store's assignments those the chain lists for this
// hoster, with each order's core as the chain has it.
func (f *Follower) reconcile(ctx context.Context) error {
	q := f.cfg.Chain.Storage()
	seen := map[store.Slot]bool{}
	orders := map[uint64]*storagetypes.Order{}
	var key []byte
	for {
		res, err := q.AssignmentsByHoster(ctx, &storagetypes.QueryAssignmentsByHosterRequest{Hoster: f.me, Pagination: &query.PageRequest{Key: key, Limit: 200}})
		if err != nil {
			return fmt.Errorf("assignments of %s: %w", f.me, err)
		}
		for _, v := range res.Assignments {
			a := v.Assignment
			o := orders[a.OrderId]
			if o == nil {
				or, err := q.Order(ctx, &storagetypes.QueryOrderRequest{Id: a.OrderId})
				if err != nil {
					return fmt.Errorf("order %d: %w", a.OrderId, err)
				}
				o = &or.Order
				orders[a.OrderId] = o
			}
			if int(a.CoreIndex) >= len(o.Cores) {
				continue
			}
			rec, err := f.record(a, o)
			if err != nil {
				return err
			}
			seen[rec.Slot] = true
		}
		if res.Pagination == nil || len(res.Pagination.NextKey) == 0 {
			break
		}
		key = res.Pagination.NextKey
	}
	all, err := f.cfg.Store.Assignments()
	if err != nil {
		return err
	}
	for _, a := range all {
		if seen[a.Slot] {
			continue
		}
		if err := f.drop(a); err != nil {
			return err
		}
	}
	return nil
}

// reconcileOrder makes the store's slots of order id those the chain
// lists for this hoster (none once the order ended or is gone), and
// returns the keys of the cores concerned.
func (f *Follower) reconcileOrder(ctx context.Context, id uint64) ([][32]byte, error) {
	f.refreshMu.Lock()
	defer f.refreshMu.Unlock()
	q := f.cfg.Chain.Storage()
	seen := map[store.Slot]bool{}
	var keys [][32]byte
	res, err := q.Order(ctx, &storagetypes.QueryOrderRequest{Id: id})
	switch {
	case status.Code(err) == codes.NotFound:
	case err != nil:
		return nil, fmt.Errorf("order %d: %w", id, err)
	case !res.Order.IsEnded():
		o := &res.Order
		for _, v := range res.Assignments {
			a := v.Assignment
			if a.Hoster != f.me || int(a.CoreIndex) >= len(o.Cores) {
				continue
			}
			rec, err := f.record(a, o)
			if err != nil {
				return nil, err
			}
			seen[rec.Slot] = true
			keys = append(keys, rec.Key)
		}
	}
	held, err := f.cfg.Store.AssignmentsOfOrder(id)
	if err != nil {
		return nil, err
	}
	for _, a := range held {
		if !seen[a.Slot] {
			keys = append(keys, a.Key)
			if err := f.drop(a); err != nil {
				return nil, err
			}
		}
	}
	return keys, nil
}

// record stores what the chain says of slot a of order o (if it changed)
// and returns it.
func (f *Follower) record(a storagetypes.Assignment, o *storagetypes.Order) (store.Assignment, error) {
	c := o.Cores[a.CoreIndex]
	var k [32]byte
	copy(k[:], c.Key)
	rec := store.Assignment{
		Slot: store.Slot{OrderID: a.OrderId, CoreIndex: a.CoreIndex, Replica: a.Replica},
		Key:  k, Manifest: c.Manifest, Length: c.Length, Fork: c.Fork, TreeHash: c.TreeHash, Signature: c.Signature,
		ErasureK: o.ErasureK, ErasureN: o.ErasureN, CommittedLength: a.CommittedLength, Peers: o.Peers,
	}
	old, had, err := f.cfg.Store.Assignment(rec.Slot)
	if err != nil {
		return rec, err
	}
	if !had {
		f.log.Info("new assignment", "slot", rec.Slot.String(), "core", hex.EncodeToString(k[:]), "length", rec.Length)
	}
	if !had || old.Length != rec.Length || old.CommittedLength != rec.CommittedLength || old.Key != rec.Key || !slices.Equal(old.Peers, rec.Peers) {
		if err := f.cfg.Store.PutAssignment(rec); err != nil {
			return rec, err
		}
	}
	return rec, nil
}

// drop forgets slot a (the chain no longer assigns it to this hoster) and
// deletes its core if no other slot names it.
func (f *Follower) drop(a store.Assignment) error {
	f.log.Info("assignment ended", "slot", a.Slot.String())
	if err := f.cfg.Store.DeleteAssignment(a.Slot); err != nil {
		return err
	}
	if err := f.cfg.Store.Release(a.Key); err != nil {
		f.log.Warn("release core", "err", err)
	}
	if f.cfg.Watch != nil {
		if still, err := f.cfg.Store.Assigned(a.Key); err == nil && !still {
			f.cfg.Watch.Dropped(a.Key)
		}
	}
	return nil
}

// worker commits slots whose data is durable and fetches data the hoster
// lacks, on every kick and every few seconds.
func (f *Follower) worker(ctx context.Context) {
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	resync := time.NewTicker(f.cfg.ResyncInterval)
	defer resync.Stop()
	all, keys := true, [][32]byte(nil)
	for {
		if all {
			f.pass(ctx)
		} else {
			for _, k := range keys {
				f.passCore(ctx, k)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-f.kick:
			all, keys = f.takeKicks()
		case <-tick.C:
			all, keys = f.takeKicks()
			for k := range f.unsettled {
				if !slices.Contains(keys, k) {
					keys = append(keys, k)
				}
			}
		case <-resync.C:
			if err := f.Refresh(ctx); err != nil {
				f.log.Warn("resync assignments", "err", err)
			}
			all, keys = true, nil
			f.takeKicks()
		}
	}
}

// pass looks at every slot.
func (f *Follower) pass(ctx context.Context) {
	all, err := f.cfg.Store.Assignments()
	if err != nil {
		f.log.Error("list assignments", "err", err)
		return
	}
	clear(f.unsettled)
	for _, a := range all {
		if ctx.Err() != nil {
			return
		}
		if !f.slot(ctx, a) {
			f.unsettled[a.Key] = true
		}
	}
}

// passCore looks at the slots of core key.
func (f *Follower) passCore(ctx context.Context, key [32]byte) {
	as, err := f.cfg.Store.AssignmentsOf(key)
	if err != nil {
		f.log.Error("list assignments", "err", err)
		return
	}
	settled := true
	for _, a := range as {
		if ctx.Err() != nil {
			return
		}
		settled = f.slot(ctx, a) && settled
	}
	if settled {
		delete(f.unsettled, key)
	} else {
		f.unsettled[key] = true
	}
}

// slot fetches what the hoster lacks of a and commits it when due; it
// reports whether the slot is settled (held whole and committed).
func (f *Follower) slot(ctx context.Context, a store.Assignment) bool {
	held := f.cfg.Store.Held(ctx, a.Key)
	if held < a.Length {
		f.maybeFetch(ctx, a, held)
		held = f.cfg.Store.Held(ctx, a.Key)
	}
	if f.cfg.Watch != nil && held > 0 {
		f.cfg.Watch.Held(a.Key, held)
	}
	if held < a.Length {
		return false
	}
	if a.CommittedLength < a.Length {
		if err := f.commit(ctx, a); err != nil {
			if ctx.Err() == nil {
				f.log.Warn("commit", "slot", a.Slot.String(), "err", err)
			}
			return false
		}
		cur, ok, err := f.cfg.Store.Assignment(a.Slot)
		return err == nil && (!ok || cur.CommittedLength >= cur.Length)
	}
	return true
}

// commit sends MsgCommit for a at a.Length, unless one is in flight.
func (f *Follower) commit(ctx context.Context, a store.Assignment) error {
	intent, ok, err := f.cfg.Store.CommitIntent(a.Slot)
	if err != nil {
		return err
	}
	if ok {
		// A commit was sent (maybe before a restart): wait for it to land
		// or expire before deciding anything.
		res, err := f.cfg.Chain.Wait(ctx, chainclient.Sent{Hash: intent.TxHash, TimeoutHeight: intent.TimeoutHeight})
		var txErr *chainclient.TxError
		switch {
		case err == nil:
			f.log.Info("commit included", "slot", a.Slot.String(), "length", intent.Length, "tx", res.Hash, "height", res.Height)
			if f.cfg.Metrics != nil {
				f.cfg.Metrics.Commits.Inc()
			}
			return f.committed(ctx, a, intent.Length)
		case errors.As(err, &txErr):
			f.log.Warn("commit tx failed", "slot", a.Slot.String(), "err", err)
			if err := f.cfg.Store.ClearCommitIntent(a.Slot); err != nil {
				return err
			}
			return f.Refresh(ctx)
		case errors.Is(err, chainclient.ErrExpired):
			if err := f.cfg.Store.ClearCommitIntent(a.Slot); err != nil {
				return err
			}
		default:
			return err
		}
	}
	// Re-read the slot's order from the chain right before sending (not
	// rate limited): the chain's committed length is the truth.
	if _, err := f.reconcileOrder(ctx, a.OrderID); err != nil {
		return err
	}
	cur, ok, err := f.cfg.Store.Assignment(a.Slot)
	if err != nil || !ok || cur.CommittedLength >= cur.Length {
		return err
	}
	if err := f.checkTreeHash(ctx, cur); err != nil {
		return err
	}
	msg := &storagetypes.MsgCommit{Hoster: f.me, OrderId: a.OrderID, CoreIndex: a.CoreIndex, Length: cur.Length}
	sent, err := f.cfg.Chain.Send(ctx, func(s chainclient.Sent) error {
		return f.cfg.Store.PutCommitIntent(a.Slot, store.CommitIntent{Length: cur.Length, TxHash: s.Hash, TimeoutHeight: s.TimeoutHeight})
	}, msg)
	if err != nil {
		if errors.Is(err, chainclient.ErrRefused) {
			_ = f.cfg.Store.ClearCommitIntent(a.Slot)
		}
		return err
	}
	f.log.Info("commit sent", "slot", a.Slot.String(), "length", cur.Length, "tx", sent.Hash)
	res, err := f.cfg.Chain.Wait(ctx, sent)
	if err != nil {
		return err // the intent stays: the next pass waits for it again
	}
	f.log.Info("commit included", "slot", a.Slot.String(), "length", cur.Length, "height", res.Height)
	if f.cfg.Metrics != nil {
		f.cfg.Metrics.Commits.Inc()
	}
	return f.committed(ctx, cur, cur.Length)
}

// committed records that the chain has the slot's commit at length: first
// the committed length, then the intent is cleared, so a crash in between
// leaves a record that says "committed" either way.
func (f *Follower) committed(ctx context.Context, a store.Assignment, length uint64) error {
	cur, ok, err := f.cfg.Store.Assignment(a.Slot)
	if err != nil {
		return err
	}
	if ok && cur.CommittedLength < length {
		cur.CommittedLength = length
		if err := f.cfg.Store.PutAssignment(cur); err != nil {
			return err
		}
	}
	return f.cfg.Store.ClearCommitIntent(a.Slot)
}

// Peers returns clients of the other hosters assigned to the same core
// (core index) of a's order that committed at least length.
func (f *Follower) Peers(ctx context.Context, orderID uint64, coreIndex uint32, length uint64) ([]*client.Client, error) {
	q := f.cfg.Chain.Storage()
	or, err := q.Order(ctx, &storagetypes.QueryOrderRequest{Id: orderID})
	if err != nil {
		return nil, err
	}
	var out []*client.Client
	for _, v := range or.Assignments {
		a := v.Assignment
		if a.CoreIndex != coreIndex || a.Hoster == f.me || a.CommittedLength < length {
			continue
		}
		h, err := q.Hoster(ctx, &storagetypes.QueryHosterRequest{Address: a.Hoster})
		if err != nil || h.Hoster.Endpoint == "" || h.Hoster.Endpoint == f.cfg.Self {
			continue
		}
		c, err := client.New(h.Hoster.Endpoint, f.cfg.HTTP)
		if err != nil {
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// maybeFetch fills a's core from its other holders, with a back-off per
// slot (a new order's data comes from its writer's pushes; a replacement
// or a hoster that lost data has to fetch).
func (f *Follower) maybeFetch(ctx context.Context, a store.Assignment, held uint64) {
	f.fetchMu.Lock()
	if t, ok := f.fetchAfter[a.Slot]; ok && time.Now().Before(t) {
		f.fetchMu.Unlock()
		return
	}
	f.fetchAfter[a.Slot] = time.Now().Add(5 * time.Second)
	f.fetchMu.Unlock()
	n, err := f.Fetch(ctx, a, held)
	if err != nil {
		f.log.Debug("fetch from other holders", "slot", a.Slot.String(), "err", err)
		return
	}
	f.log.Info("fetched core from other holders", "slot", a.Slot.String(), "length", n)
	if f.cfg.Metrics != nil {
		f.cfg.Metrics.RepairedCores.Inc()
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// checkTreeHash checks that the core the hoster holds has, at the chain's
// length, the tree hash the chain holds: a writer that signed two
// histories could otherwise have the hoster commit to blocks whose proofs
// fail every challenge.
func (f *Follower) checkTreeHash(ctx context.Context, a store.Assignment) error {
	c, err := f.cfg.Store.Core(ctx, a.Key)
	if err != nil {
		return err
	}
	th, _, err := c.TreeHashAt(ctx, a.Length)
	if err != nil {
		return fmt.Errorf("tree hash at %d: %w", a.Length, err)
	}
	if !bytes.Equal(th[:], a.TreeHash) {
		return fmt.Errorf("held core has tree hash %x at length %d, the chain holds %x: not committing", th, a.Length, a.TreeHash)
	}
	return nil
}
