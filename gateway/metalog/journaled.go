// Package metalog keeps the gateway's metadata on the network, so that a
// new machine with nothing but the master secret and a chain endpoint can
// rebuild every bucket (Recover).
//
// Every committed change of the metadata database (buckets with their
// ACLs, policies and CORS rules, object versions with their extents and
// wrapped keys, hidden versions) is announced by a mark in the database's
// journal (package local) before it commits. A Writer takes the marks in
// batches with the current state of what they name, and appends that state,
// compressed and encrypted, as frames to the data stream of a volume in the
// format of docs/volume-format.md: n = k+m Hypercore cores whose writer
// keys, like the volume's id, are derived from the master secret
// (secret.MetalogVolumeID). The volume is shipped to hosters like any data
// volume (an order on chain, pushes with hoster/client), under the chain
// account that is also derived from the master secret. Each generation of
// the log starts with a full snapshot; when a generation has grown past
// RotateBytes the next one starts with a new snapshot, so recovery reads
// one snapshot and the changes after it.
package metalog

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/datdot/datdot/gateway/store"
	"github.com/datdot/datdot/gateway/store/local"
	"github.com/datdot/datdot/gateway/store/network"
)

// Journaled is the metadata store the gateway serves from when the
// metadata log is on: every mutating call marks what it changes in the
// journal (durably) before it runs, or in the transaction of the change
// itself (PutObject). Read calls and the delete queue pass
// through.
//
// The mutex makes taking a batch safe: calls hold it shared from their
// mark to their commit; the writer holds it exclusively only while its
// read transaction starts, so every call whose mark it reads has either
// committed before its snapshot or marks again after (a mark is only
// cleared when its counter is unchanged).
type Journaled struct {
	*local.Meta
	mu sync.RWMutex
	// kick, if set, is told that there is something to ship.
	kick func()
	// onDrop, if set, is told that object versions left the metadata
	// (their blobs were freed), so the log must forget their keys.
	dropMu sync.Mutex
	onDrop func()
	// shipped is the journal sequence up to which every change is on the
	// network (the writer's last complete sync; 0 until the first).
	shipped atomic.Uint64
}

// CommitMark implements network.ShipWatcher: the journal's sequence,
// which covers every change committed so far.
func (j *Journaled) CommitMark(ctx context.Context) (uint64, error) {
	return j.Meta.JournalSeq(ctx)
}

// Shipped implements network.ShipWatcher: whether every change covered
// by mark (CommitMark) is in the log on the network (with a shipper: on
// the hosters). It becomes true once the writer completes a sync that
// began after the mark was taken.
func (j *Journaled) Shipped(mark uint64) bool { return j.shipped.Load() >= mark }

// setShipped records that every change up to journal sequence seq is
// shipped.
func (j *Journaled) setShipped(seq uint64) {
	for {
		old := j.shipped.Load()
		if seq <= old || j.shipped.CompareAndSwap(old, seq) {
			return
		}
	}
}

func (j *Journaled) setDropped(fn func()) {
	j.dropMu.Lock()
	j.onDrop = fn
	j.dropMu.Unlock()
}

// freed tells the writer when a call dropped versions, and passes them on.
func (j *Journaled) freed(refs []store.BlobRef) []store.BlobRef {
	if len(refs) == 0 {
		return refs
	}
	j.dropMu.Lock()
	fn := j.onDrop
	j.dropMu.Unlock()
	if fn != nil {
		fn()
	}
	return refs
}

// NewJournaled wraps m.
func NewJournaled(m *local.Meta) *Journaled { return &Journaled{Meta: m} }

func (j *Journaled) run(ctx context.Context, marks []local.Mark, fn func() error) error {
	j.mu.RLock()
	defer j.mu.RUnlock()
	if err := j.Meta.Mark(ctx, marks); err != nil {
		return err
	}
	err := fn()
	if j.kick != nil {
		j.kick()
	}
	return err
}

func keyMark(bucket, key string) []local.Mark {
	return []local.Mark{{Kind: local.MarkKey, Bucket: bucket, Key: key}}
}

func bucketMark(bucket string) []local.Mark {
	return []local.Mark{{Kind: local.MarkBucket, Bucket: bucket}}
}

// CreateBucket implements store.MetaStore.
func (j *Journaled) CreateBucket(ctx context.Context, b store.Bucket) error {
	return j.run(ctx, bucketMark(b.Name), func() error { return j.Meta.CreateBucket(ctx, b) })
}

// UpdateBucket implements store.MetaStore.
func (j *Journaled) UpdateBucket(ctx context.Context, name string, fn func(*store.Bucket) error) error {
	return j.run(ctx, bucketMark(name), func() error { return j.Meta.UpdateBucket(ctx, name, fn) })
}

// DeleteBucket implements store.MetaStore.
func (j *Journaled) DeleteBucket(ctx context.Context, name string) (freed []store.BlobRef, err error) {
	err = j.run(ctx, bucketMark(name), func() error {
		freed, err = j.Meta.DeleteBucket(ctx, name)
		return err
	})
	return j.freed(freed), err
}

// PutObject implements store.MetaStore. The key's mark goes in the same
// transaction as the new version (one commit, not two).
func (j *Journaled) PutObject(ctx context.Context, bucket string, obj store.Object, check store.PutCheck) (out store.Object, freed []store.BlobRef, err error) {
	j.mu.RLock()
	out, freed, err = j.Meta.PutObjectMarked(ctx, bucket, obj, check, keyMark(bucket, obj.Key))
	if j.kick != nil {
		j.kick()
	}
	j.mu.RUnlock()
	return out, j.freed(freed), err
}

// UpdateObject implements store.MetaStore.
func (j *Journaled) UpdateObject(ctx context.Context, bucket, key, versionID string, fn func(*store.Object) error) error {
	return j.run(ctx, keyMark(bucket, key), func() error { return j.Meta.UpdateObject(ctx, bucket, key, versionID, fn) })
}

// DeleteObject implements store.MetaStore.
func (j *Journaled) DeleteObject(ctx context.Context, bucket, key, versionID string) (res store.DeleteResult, freed []store.BlobRef, err error) {
	err = j.run(ctx, keyMark(bucket, key), func() error {
		res, freed, err = j.Meta.DeleteObject(ctx, bucket, key, versionID)
		return err
	})
	return res, j.freed(freed), err
}

// CompleteUpload implements store.MetaStore.
func (j *Journaled) CompleteUpload(ctx context.Context, bucket, key, uploadID string, build func(store.Upload, []store.Part) (store.Object, error), check store.PutCheck) (out store.Object, freed []store.BlobRef, err error) {
	err = j.run(ctx, keyMark(bucket, key), func() error {
		out, freed, err = j.Meta.CompleteUpload(ctx, bucket, key, uploadID, build, check)
		return err
	})
	return out, j.freed(freed), err
}

// RestoreAt is local.Meta.RestoreAt (which marks what it changes itself)
// under the shared lock.
func (j *Journaled) RestoreAt(ctx context.Context, bucket, prefix string, at time.Time) (local.RestoreStats, []store.BlobRef, error) {
	j.mu.RLock()
	defer j.mu.RUnlock()
	st, freed, err := j.Meta.RestoreAt(ctx, bucket, prefix, at)
	return st, j.freed(freed), err
}

// Relocate is local.Meta.Relocate (which marks what it changes itself)
// under the shared lock: compaction's switch of blobs to their new extents
// reaches the log like any other change.
func (j *Journaled) Relocate(ctx context.Context, moves []local.Move) ([]string, error) {
	j.mu.RLock()
	defer j.mu.RUnlock()
	applied, err := j.Meta.Relocate(ctx, moves)
	if j.kick != nil && len(applied) > 0 {
		j.kick()
	}
	return applied, err
}

// ExpireHistory is local.Meta.ExpireHistory under the shared lock.
func (j *Journaled) ExpireHistory(ctx context.Context, now time.Time, limit int) (int, []store.BlobRef, error) {
	j.mu.RLock()
	defer j.mu.RUnlock()
	n, freed, err := j.Meta.ExpireHistory(ctx, now, limit)
	return n, j.freed(freed), err
}

// take reads a batch of marks and their state; the exclusive lock is held
// only until the read transaction has started.
func (j *Journaled) take(ctx context.Context, limit, maxBytes int) (*local.JournalBatch, error) {
	j.mu.Lock()
	var once sync.Once
	return j.Meta.TakeJournal(ctx, limit, maxBytes, func() { once.Do(j.mu.Unlock) })
}

var (
	_ store.MetaStore     = (*Journaled)(nil)
	_ network.ShipWatcher = (*Journaled)(nil)
)
