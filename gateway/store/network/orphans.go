package network

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/datdot/datdot/gateway/store"
	"github.com/datdot/datdot/gateway/store/local"
	"github.com/datdot/datdot/volume"
)

// Orphan orders: a gateway recovered from the metadata log (gateway
// recover) rebuilds its usage records from the blobs the metadata
// references (usageDB.rebuildChunks), so a volume none of whose blobs is
// referenced any more (one the old machine was giving up, or whose
// objects were all deleted) has no record: compaction never looks at it,
// and its order, adopted by the renewer, would be renewed forever. The
// rebuild therefore leaves a durable mark (usageSweep, in its
// transaction), and while it is there every compaction pass sweeps the
// chain account's orders (sweepOrphans) until none is left to give up.
//
// What decides "unreferenced": an order of the account is an orphan when
// its first core key is the first core key of none of these volumes,
// all computed after the account's orders were listed (so that a volume
// created meanwhile is among them):
//
//   - a volume named by a blob the metadata references (objects, hidden
//     versions, parts of uploads not yet completed or aborted; the
//     extents after relocation: local.ReferencedBlobs);
//   - a volume named by a blob on the delete queue or being deleted
//     (freed, its bytes kept through the delete grace period:
//     local.QueuedBlobs). Such a volume is spared while the blob is
//     there, and the sweep goes on until the reaper removed it;
//   - a volume with a usage record or a compaction state (every volume
//     this process wrote, and every one the rebuild found referenced:
//     compaction gives those up through its own path when they die);
//   - a volume with a local directory (the open volume, one still being
//     written or settled, one fetched by recover --fetch-data): fresh
//     blobs of a PUT or UploadPart whose metadata has not committed yet
//     are only ever in these;
//   - an order CompactConfig.Spare names (the metadata log's
//     generations, which the log's writer gives up itself).
//
// An orphan is given up (CompactConfig.Orders.CancelOrder: the order is
// cancelled, the unspent escrow comes back, the renewer forgets it) only
// when it was found an orphan by a pass at least MinAge after the pass
// that first found it, and the metadata log has shipped every metadata
// change committed before that first pass (ShipWatcher, as compaction
// waits for its relocations): a metadata recovered from the log then
// never names a volume whose order was cancelled. A restarted process
// starts the wait over (the state is in memory). Nothing a commit can
// reference lives in an orphan: the metadata no longer names it, and new
// blobs and relocations only go to volumes with a local directory.
//
// The sweep assumes the chain account is this gateway's alone (the
// gateway sets Orders only when the account is the one derived from the
// master secret) and that the old machine is gone: a second gateway
// running with the same master secret would lose the volumes it wrote
// after the log the recovered one read.

// OrderBook is the chain account's orders, for the sweep of orphans
// (onchain.Shipper).
type OrderBook interface {
	// OwnedOrders returns the account's orders that have not ended, by
	// id, with the key of their first core.
	OwnedOrders(ctx context.Context) (map[uint64][32]byte, error)
	// CancelOrder gives order id up: it cancels it on chain (the unspent
	// escrow is refunded) and stops renewing it. An order that has ended
	// already is not an error.
	CancelOrder(ctx context.Context, id uint64) error
}

// usageSweep, a key in usageRoot, says that the orders of the chain
// account are still to be swept for orphans (set by the rebuild).
var usageSweep = []byte("sweep")

// orphanWait is an orphan order waiting to be given up: when a pass
// first found it and the metadata mark to wait for (ShipWatcher).
type orphanWait struct {
	seen   time.Time
	mark   uint64
	marked bool
}

// sweepPending reports whether the account's orders are still to be
// swept.
func (u *usageDB) sweepPending() (bool, error) {
	if u == nil || u.meta == nil {
		return false, nil
	}
	var on bool
	err := u.view(func(tx *bolt.Tx) error {
		on = tx.Bucket(usageRoot).Get(usageSweep) != nil
		return nil
	})
	return on, err
}

func (u *usageDB) sweepDone() error {
	return u.update(func(tx *bolt.Tx) error { return tx.Bucket(usageRoot).Delete(usageSweep) })
}

// sweepOrphans runs one sweep of the account's orders (see above); it
// returns the orders given up.
func (b *Blobs) sweepOrphans(ctx context.Context, r Relocator) (int, error) {
	cc := b.cfg.Compact
	if cc.Orders == nil || !b.fresh {
		return 0, nil
	}
	if on, err := b.usage.sweepPending(); err != nil || !on {
		return 0, err
	}
	orders, err := cc.Orders.OwnedOrders(ctx)
	if err != nil {
		return 0, fmt.Errorf("network: orders of the chain account: %w", err)
	}
	known, queued, err := b.knownVolumes()
	if err != nil {
		return 0, err
	}
	spare := map[[32]byte]bool{}
	if cc.Spare != nil {
		if spare, err = cc.Spare(); err != nil {
			return 0, fmt.Errorf("network: orders to spare: %w", err)
		}
	}
	now := time.Now()
	waiting, cancelled := 0, 0
	b.mu.Lock()
	if b.orphans == nil {
		b.orphans = map[uint64]orphanWait{}
	}
	for id := range b.orphans {
		if _, ok := orders[id]; !ok {
			delete(b.orphans, id) // ended (cancelled elsewhere, or expired)
		}
	}
	b.mu.Unlock()
	sw, _ := r.(ShipWatcher)
	for id, key := range orders {
		if spare[key] {
			continue
		}
		if _, ok := known[key]; ok {
			if queued[key] {
				waiting++ // held by a freed blob only: swept again once it is reaped
			}
			b.mu.Lock()
			delete(b.orphans, id)
			b.mu.Unlock()
			continue
		}
		b.mu.Lock()
		w, ok := b.orphans[id]
		b.mu.Unlock()
		if !ok {
			w = orphanWait{seen: now}
			if sw != nil {
				if w.mark, err = sw.CommitMark(ctx); err != nil {
					return cancelled, fmt.Errorf("network: orphan order %d: %w", id, err)
				}
				w.marked = true
			}
			b.mu.Lock()
			b.orphans[id] = w
			b.mu.Unlock()
			b.cfg.Log.Info("orphan order: no volume the metadata references is its; given up after the minimum age and once the metadata log has shipped", "order", id)
			waiting++
			continue
		}
		if now.Sub(w.seen) < cc.MinAge || (w.marked && !sw.Shipped(w.mark)) {
			waiting++
			continue
		}
		if err := cc.Orders.CancelOrder(ctx, id); err != nil {
			return cancelled, fmt.Errorf("network: give up orphan order %d: %w", id, err)
		}
		b.mu.Lock()
		delete(b.orphans, id)
		b.mu.Unlock()
		cancelled++
		b.cfg.Log.Info("orphan order given up: its volume holds no blob the metadata references", "order", id)
	}
	if waiting == 0 {
		if err := b.usage.sweepDone(); err != nil {
			return cancelled, err
		}
		b.cfg.Log.Info("orphan orders: sweep done", "given_up", cancelled)
	}
	return cancelled, nil
}

// knownVolumes returns the first core keys of the volumes an order must
// be kept for (see above), each with the volume's hex id; queued marks
// those held only by blobs on the delete queue.
func (b *Blobs) knownVolumes() (known map[[32]byte]string, queued map[[32]byte]bool, err error) {
	vols := map[string]bool{} // hex -> held only by queued blobs
	keep := func(vol string, onlyQueued bool) {
		if vol == "" {
			return
		}
		if q, ok := vols[vol]; !ok || (q && !onlyQueued) {
			vols[vol] = onlyQueued
		}
	}
	err = b.usage.view(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketUsage, bucketState} {
			if err := b.usage.bucket(tx, name).ForEach(func(k, _ []byte) error {
				keep(string(k), false)
				return nil
			}); err != nil {
				return err
			}
		}
		if err := local.ReferencedBlobs(tx, func(ref store.BlobRef) error {
			for _, e := range ref.Extents {
				keep(e.Volume, false)
			}
			return nil
		}); err != nil {
			return err
		}
		return local.QueuedBlobs(tx, func(ref store.BlobRef) error {
			for _, e := range ref.Extents {
				keep(e.Volume, true)
			}
			return nil
		})
	})
	if err != nil {
		return nil, nil, fmt.Errorf("network: volumes the metadata references: %w", err)
	}
	ents, err := os.ReadDir(filepath.Join(b.cfg.Dir, "volumes"))
	if err != nil && !os.IsNotExist(err) {
		return nil, nil, fmt.Errorf("network: %w", err)
	}
	for _, e := range ents {
		if e.IsDir() {
			keep(e.Name(), false)
		}
	}
	b.mu.Lock()
	if b.open != nil {
		keep(b.open.Hex, false)
	}
	for v := range b.vols {
		keep(v, false)
	}
	b.mu.Unlock()
	known = make(map[[32]byte]string, len(vols))
	queued = map[[32]byte]bool{}
	for vol, q := range vols {
		id, err := hex.DecodeString(vol)
		if err != nil || len(id) == 0 || len(id) > volume.MaxVolumeIDSize {
			// Not a volume id: it cannot name an order.
			continue
		}
		priv, err := volume.CoreKey(b.cfg.Master, id, 0)
		if err != nil {
			return nil, nil, err
		}
		k := volume.PublicCoreKey(priv)
		known[k] = vol
		if q {
			queued[k] = true
		}
	}
	return known, queued, nil
}
