package network

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/datdot/datdot/gateway/store"
	"github.com/datdot/datdot/gateway/store/local"
)

// Compaction rewrites the live blobs of mostly-dead volumes into the open
// volume and then gives the old volume's order up.
//
// A pass (Compact) takes volumes whose dead share of the stream is at
// least Threshold, that take no new blobs, had no blob committed for
// MinAge and had no blob appended by this process within MinAge (so no
// write that is still waiting for its metadata can land in them, nor be
// refused there), most dead first. For each live blob of such a volume (from the
// per-volume index kept with the usage counters) it asks the metadata:
//
//   - referenced: its stored bytes (ciphertext: the blob keeps its key)
//     are appended to the open volume as one extent; once they are
//     durable on the hosters, one metadata transaction switches every
//     copied blob to its new extent (Relocator.Relocate, journaled, so
//     the metadata log carries it); readers resolve relocated blobs
//     through that table;
//   - unknown for MinAge (a blob written but whose metadata never
//     committed: a crash during a PUT, when blobs were indexed at their
//     commit): dead space, dropped from the index;
//   - pending (on the delete queue): the volume waits for the reaper.
//
// Fresh blobs (store.BlobRef.Fresh) enter the index only with the
// metadata commit that references them; one never referenced is in no
// record, dead space that goes with the volume. A volume is marked
// compacting before its blobs are listed, and from that commit on a
// metadata commit that references a fresh blob of it is refused
// (Blobs.recordFresh), so the list holds every blob metadata will ever
// reference there. A volume this process appended a blob to within
// MinAge is left alone, so that a PUT still between its blob's commit
// and its metadata's is not refused.
//
// When no live blob is left and the metadata log has shipped every
// metadata change committed until then (ShipWatcher, when the Relocator
// is one: the relocations out of the volume must be on the network
// before the hosters drop it, or a recovery from the log would find blobs
// there; a later pass checks again), the volume is marked retiring, its order is
// cancelled (Retirer, the unspent escrow comes back) and its local copy
// removed; then it is retired. A read that began before the metadata
// switch may still fetch from the old volume: while one is open the
// volume stays retiring and a later pass gives it up (Blobs.Open holds
// the volumes a read names until it is closed). Each step is durable
// before the next, so a gateway killed anywhere in a pass leaves every
// blob readable: before
// the metadata switch the copies are dead space in the open volume (the
// old extents still serve), after it the old volume is only given up once
// every blob left it, and a retiring volume's cancellation is retried by
// the next pass. Work per pass is bounded by MaxBytes copied.

// Compaction states of a volume (usage db).
const (
	stateCompacting = "compacting"
	stateRetiring   = "retiring"
	stateRetired    = "retired"
)

// Relocator is the part of the metadata compaction uses
// (metalog.Journaled, or local.Meta without a metadata log).
type Relocator interface {
	Blob(ctx context.Context, id string) (store.BlobRef, local.BlobState, error)
	Relocated(ctx context.Context, id string) ([]store.Extent, bool, error)
	Relocate(ctx context.Context, moves []local.Move) ([]string, error)
}

// ShipWatcher is a Relocator whose changes reach the network only some
// time after they commit (metalog.Journaled: the metadata log ships the
// journal every second or so). Compaction gives a volume up only once
// every metadata change committed after its last blob left it is
// shipped, so that a metadata recovered from the log never names a
// volume whose order was cancelled.
type ShipWatcher interface {
	// CommitMark returns a mark covering every metadata change committed
	// so far.
	CommitMark(ctx context.Context) (uint64, error)
	// Shipped reports whether every change covered by mark is shipped.
	Shipped(mark uint64) bool
}

// Retirer gives a volume's order up on the chain (cancels it, refunding
// the unspent escrow). A volume that has no order is not an error.
type Retirer interface {
	Retire(ctx context.Context, v VolumeRef) error
}

// CompactConfig configures compaction.
type CompactConfig struct {
	// Threshold is the share of a volume's stream that must be dead for
	// it to be compacted (default 0.5).
	Threshold float64
	// MaxBytes bounds the bytes one pass copies (default 256 MiB).
	MaxBytes int64
	// MinAge: a volume is compacted only when its last blob was
	// committed at least this long ago and this process appended no
	// blob to it within it (a fresh blob's metadata commit may still
	// come), and an unknown blob is counted dead only when it is that
	// old (default PendingWindow).
	MinAge time.Duration
	// Retirer cancels the orders of compacted volumes (nil: none).
	Retirer Retirer
	// Orders, when set, is the chain account's orders: after a recovery
	// (usage records rebuilt from the metadata) each pass also gives up
	// the orders of volumes nothing references (orphans.go). Set it only
	// when the account is this gateway's alone.
	Orders OrderBook
	// Spare returns the first core keys of orders the sweep of orphans
	// leaves alone although no volume names them (the metadata log's
	// generations).
	Spare func() (map[[32]byte]bool, error)
}

// CompactStats is what a pass did.
type CompactStats struct {
	Volumes   int   // volumes worked on
	Moved     int   // blobs relocated
	Bytes     int64 // bytes copied
	Leftovers int   // unknown blobs counted dead
	Retired   int   // volumes given up
	Orphans   int   // orders of no referenced volume given up (orphans.go)
}

// compactHook, when set (tests), is called between the steps of a pass
// with the step's name ("marking VOL" and "marked VOL" around a volume's
// compacting mark, then "copied", "relocated", "retiring"); an error
// stops the pass there, as a crash would.
type compactHook func(step string) error

// SetRelocator sets the metadata compaction and reads use.
func (b *Blobs) SetRelocator(r Relocator) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reloc = r
}

func (b *Blobs) relocator() Relocator {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.reloc
}

// loadStates reads the compaction states at Open.
func (b *Blobs) loadStates() error {
	if b.usage == nil {
		return nil
	}
	st, err := b.usage.states()
	if err != nil {
		return err
	}
	b.states = st
	return nil
}

func (b *Blobs) volState(vol string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.states[vol]
}

func (b *Blobs) setVolState(vol, st string) error {
	if err := b.usage.setState(vol, st); err != nil {
		return err
	}
	b.mu.Lock()
	b.states[vol] = st
	b.mu.Unlock()
	return nil
}

// Keep reports whether volume hexID's order must be kept (renewed): false
// once compaction is giving it up.
func (b *Blobs) Keep(hexID string) bool {
	st := b.volState(hexID)
	return st != stateRetiring && st != stateRetired
}

// resolve returns ref with the extents its blob was relocated to, when
// one of its extents names a volume compaction worked on.
func (b *Blobs) resolve(ctx context.Context, ref store.BlobRef) (store.BlobRef, error) {
	touched := false
	for _, e := range ref.Extents {
		if b.volState(e.Volume) != "" {
			touched = true
			break
		}
	}
	r := b.relocator()
	if !touched || r == nil {
		return ref, nil
	}
	es, ok, err := r.Relocated(ctx, ref.ID)
	if err != nil {
		return ref, fmt.Errorf("network: blob %s: %w", ref.ID, err)
	}
	if ok {
		ref.Extents = es
	}
	return ref, nil
}

// Compact runs one compaction pass.
func (b *Blobs) Compact(ctx context.Context) (CompactStats, error) {
	return b.compact(ctx, nil)
}

func (b *Blobs) compact(ctx context.Context, hook compactHook) (CompactStats, error) {
	var st CompactStats
	if hook == nil {
		hook = func(string) error { return nil }
	}
	r := b.relocator()
	if b.usage == nil || r == nil {
		return st, errors.New("network: compaction needs the usage db and the metadata (SetRelocator)")
	}
	cc := b.cfg.Compact
	b.mu.Lock()
	open := ""
	if b.open != nil {
		open = b.open.Hex
	}
	states := make(map[string]string, len(b.states))
	for k, v := range b.states {
		states[k] = v
	}
	b.mu.Unlock()
	// Volumes whose cancellation a crash or a chain error interrupted.
	for vol, s := range states {
		if s == stateRetiring {
			done, err := b.retire(ctx, vol)
			if err != nil {
				return st, err
			}
			if done {
				st.Retired++
			}
		}
	}
	if b.fresh {
		// The stream and holes of the volumes this process wrote and
		// that take no more blobs (fresh blobs record neither).
		b.mu.Lock()
		var done []*Volume
		for _, v := range b.vols {
			if v.enc != nil && v != b.open {
				done = append(done, v)
			}
		}
		b.mu.Unlock()
		for _, v := range done {
			if err := b.recordShape(v); err != nil {
				return st, err
			}
		}
	}
	// Volumes recovered without their data: their shape from their
	// hosters, before their dead bytes are counted.
	if err := b.shapeFromHosters(ctx); err != nil {
		return st, err
	}
	us, err := b.usage.all()
	if err != nil {
		return st, err
	}
	var cands []VolumeUsage
	for _, u := range us {
		s := states[u.Volume]
		if u.Volume == open || s == stateRetired || s == stateRetiring || u.Stored() <= 0 {
			continue
		}
		if b.writing(u.Volume) {
			continue
		}
		if s == stateCompacting || float64(u.Dead()) >= cc.Threshold*float64(u.Stored()) {
			cands = append(cands, u)
		}
	}
	// Volumes already being compacted first, then the most dead.
	slices.SortFunc(cands, func(a, c VolumeUsage) int {
		ac, cc := states[a.Volume] == stateCompacting, states[c.Volume] == stateCompacting
		if ac != cc {
			if ac {
				return -1
			}
			return 1
		}
		return int(min(max(c.Dead()-a.Dead(), -1), 1))
	})
	for _, u := range cands {
		if st.Bytes >= cc.MaxBytes || ctx.Err() != nil {
			break
		}
		done, err := b.compactVolume(ctx, r, u.Volume, &st, hook)
		if err != nil {
			return st, err
		}
		if done {
			st.Retired++
		}
	}
	if ctx.Err() == nil {
		n, err := b.sweepOrphans(ctx, r)
		st.Orphans += n
		if err != nil {
			return st, err
		}
	}
	return st, nil
}

// compactVolume moves vol's live blobs (within the pass's budget) and
// retires it when none is left; it reports whether it retired it.
func (b *Blobs) compactVolume(ctx context.Context, r Relocator, vol string, st *CompactStats, hook compactHook) (bool, error) {
	cc := b.cfg.Compact
	blobs, err := b.usage.blobsOf(vol, "", 1<<30)
	if err != nil {
		return false, err
	}
	for _, vb := range blobs {
		if time.Since(vb.commited) < cc.MinAge {
			return false, nil // written recently: a write may still land here
		}
	}
	if b.appendedWithin(vol, cc.MinAge) {
		// A fresh blob appended to it may still wait for the metadata
		// commit that references it (which would be refused from here).
		return false, nil
	}
	if b.volState(vol) != stateCompacting {
		if err := hook("marking " + vol); err != nil {
			return false, err
		}
		if err := b.setVolState(vol, stateCompacting); err != nil {
			return false, err
		}
		if err := hook("marked " + vol); err != nil {
			return false, err
		}
		if b.fresh {
			// From the state's commit on, no metadata commit references
			// a fresh blob of vol (recordFresh): the blobs listed now are
			// all it will ever hold.
			if blobs, err = b.usage.blobsOf(vol, "", 1<<30); err != nil {
				return false, err
			}
		}
	}
	st.Volumes++
	var moves []local.Move
	var copies []copied
	blocked := false
	for _, vb := range blobs {
		if st.Bytes >= cc.MaxBytes {
			blocked = true
			break
		}
		ref, state, err := r.Blob(ctx, vb.id)
		if err != nil {
			return false, err
		}
		switch state {
		case local.BlobUnknown:
			if err := b.usage.dropBlob(vol, vb.id, vb.n); err != nil {
				return false, err
			}
			st.Leftovers++
			b.cfg.Log.Info("compaction: a blob no metadata knows is dead space", "volume", vol, "blob", vb.id, "bytes", vb.n)
			continue
		case local.BlobPending:
			blocked = true
			continue
		}
		if len(ref.Extents) != 1 || ref.Extents[0].Volume != vol {
			// Already moved (a pass stopped after the metadata switch):
			// bring the index up to date.
			if len(ref.Extents) == 1 {
				e := ref.Extents[0]
				if err := b.usage.moved(vb.id, vol, e.Volume, e.Offset, e.Length); err != nil {
					return false, err
				}
			} else if err := b.usage.dropBlob(vol, vb.id, vb.n); err != nil {
				return false, err
			}
			continue
		}
		c, err := b.copyExtent(ctx, ref)
		if err != nil {
			return false, err
		}
		copies = append(copies, c)
		moves = append(moves, local.Move{ID: ref.ID, From: ref.Extents, To: []store.Extent{{Volume: c.v.Hex, Offset: c.off, Length: c.n}}})
		st.Bytes += c.n
	}
	if len(copies) > 0 {
		// One group commit makes every copy durable on the hosters.
		grown := map[*Volume]bool{}
		var werr error
		for i, c := range copies {
			if werr == nil {
				if err := c.v.waitDurable(ctx, c.off+c.n); err != nil {
					werr = fmt.Errorf("network: compaction of volume %s: %w", vol, err)
				}
			}
			// Durable: the block size of the copy's last stripe (short
			// if a flush appended it early) is known.
			moves[i].To[0].Block = c.v.endBlock(c.off + c.n)
			grown[c.v] = true
		}
		if werr != nil {
			return false, werr
		}
		for v := range grown {
			if b.fresh {
				if err := b.recordShape(v); err != nil {
					return false, err
				}
				continue
			}
			if err := b.usage.grew(v.Hex, v.durableLen()); err != nil {
				return false, err
			}
			if err := b.usage.addHoles(v.Hex, v.takeHoles()); err != nil {
				return false, err
			}
		}
		if err := hook("copied"); err != nil {
			return false, err
		}
		applied, err := r.Relocate(ctx, moves)
		if err != nil {
			return false, err
		}
		if err := hook("relocated"); err != nil {
			return false, err
		}
		done := map[string]bool{}
		for _, id := range applied {
			done[id] = true
		}
		var ms []blobMove
		for i, mv := range moves {
			if !done[mv.ID] {
				// Freed or moved meanwhile: this copy is dead space, and
				// the blob is looked at again next pass.
				blocked = true
				continue
			}
			c := copies[i]
			ms = append(ms, blobMove{mv.ID, vol, c.v.Hex, c.off, c.n})
			st.Moved++
		}
		if err := b.usage.movedAll(ms); err != nil {
			return false, err
		}
		b.cfg.Log.Info("compaction: blobs moved", "volume", vol, "blobs", len(applied), "bytes", st.Bytes)
	}
	if blocked {
		return false, nil
	}
	left, err := b.usage.blobsOf(vol, "", 1)
	if err != nil || len(left) > 0 {
		return false, err
	}
	if ok, err := b.relocsShipped(ctx, r, vol); err != nil || !ok {
		return false, err
	}
	if err := b.setVolState(vol, stateRetiring); err != nil {
		return false, err
	}
	if err := hook("retiring"); err != nil {
		return false, err
	}
	return b.retire(ctx, vol)
}

// relocsShipped reports whether the metadata changes that moved every
// blob out of vol (all committed by now: vol's index is empty) are
// shipped, when r is a ShipWatcher. The first call takes the mark to
// wait for; it is kept in memory only (a restarted gateway takes a new
// one, later, which covers the same changes).
func (b *Blobs) relocsShipped(ctx context.Context, r Relocator, vol string) (bool, error) {
	sw, ok := r.(ShipWatcher)
	if !ok {
		return true, nil
	}
	b.mu.Lock()
	mark, ok := b.shipWait[vol]
	b.mu.Unlock()
	if !ok {
		var err error
		if mark, err = sw.CommitMark(ctx); err != nil {
			return false, fmt.Errorf("network: compaction of volume %s: %w", vol, err)
		}
		b.mu.Lock()
		if b.shipWait == nil {
			b.shipWait = map[string]uint64{}
		}
		b.shipWait[vol] = mark
		b.mu.Unlock()
	}
	if !sw.Shipped(mark) {
		b.cfg.Log.Info("compaction: the volume is given up once the metadata log has shipped its relocations", "volume", vol)
		return false, nil
	}
	b.mu.Lock()
	delete(b.shipWait, vol)
	b.mu.Unlock()
	return true, nil
}

// appendedWithin reports whether this process appended a blob to vol
// less than d ago.
func (b *Blobs) appendedWithin(vol string, d time.Duration) bool {
	b.mu.Lock()
	v := b.vols[vol]
	b.mu.Unlock()
	if v == nil || v.enc == nil {
		return false
	}
	v.wmu.Lock()
	defer v.wmu.Unlock()
	return !v.lastAppend.IsZero() && time.Since(v.lastAppend) < d
}

// writing reports whether a blob is being appended to vol or waits for
// its group commit.
func (b *Blobs) writing(vol string) bool {
	b.mu.Lock()
	v := b.vols[vol]
	b.mu.Unlock()
	return v != nil && v.enc != nil && v.err() == nil && v.streamLen() > v.durableLen()
}

type copied struct {
	v      *Volume
	off, n int64
}

// copyExtent appends the stored bytes of a one-extent blob to the open
// volume as one extent (not yet durable).
func (b *Blobs) copyExtent(ctx context.Context, ref store.BlobRef) (copied, error) {
	e := ref.Extents[0]
	// The stored bytes as they are (ciphertext under crypt.Blobs).
	rc, err := b.Open(ctx, store.BlobRef{ID: ref.ID, Size: e.Length, Extents: ref.Extents}, 0, e.Length)
	if err != nil {
		return copied{}, fmt.Errorf("network: compaction: read blob %s: %w", ref.ID, err)
	}
	defer rc.Close()
	v, off, err := b.appendBlob(ctx, readerTo{io.LimitReader(rc, e.Length)}, e.Length)
	if err != nil {
		return copied{}, fmt.Errorf("network: compaction: copy blob %s: %w", ref.ID, err)
	}
	return copied{v: v, off: off, n: e.Length}, nil
}

// retire cancels vol's order and removes its local copy; vol is then
// retired. While a read that began before the metadata switch is still
// open on vol (it may fetch more of it), nothing is done and retire
// reports false: vol stays retiring and a later pass retires it. Reads
// that begin after the switch resolve to the blobs' new extents.
func (b *Blobs) retire(ctx context.Context, vol string) (bool, error) {
	if b.reading(vol) {
		b.cfg.Log.Info("compaction: a read in flight still uses the volume; it is given up by a later pass", "volume", vol)
		return false, nil
	}
	if rt := b.cfg.Compact.Retirer; rt != nil {
		ref, err := b.ref(ctx, vol)
		if err != nil {
			return false, err
		}
		if err := rt.Retire(ctx, ref); err != nil {
			return false, fmt.Errorf("network: give up the order of volume %s: %w", vol, err)
		}
	}
	b.mu.Lock()
	v := b.vols[vol]
	delete(b.vols, vol)
	b.mu.Unlock()
	if v != nil {
		v.close()
	}
	ref, err := b.ref(ctx, vol)
	if err == nil && ref.Dir != "" {
		if err := os.RemoveAll(ref.Dir); err != nil {
			b.cfg.Log.Warn("compaction: remove the local copy of a retired volume", "volume", vol, "err", err)
		}
	}
	if err := b.usage.retired(vol); err != nil {
		return false, err
	}
	b.mu.Lock()
	b.states[vol] = stateRetired
	b.mu.Unlock()
	b.cfg.Log.Info("compaction: volume retired", "volume", vol)
	return true, nil
}
