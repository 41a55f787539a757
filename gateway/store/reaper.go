package store

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Pins counts the readers of each blob, so that a blob freed while a GET
// or a copy still reads it is deleted only after the last reader is done.
type Pins struct {
	mu      sync.Mutex
	readers map[string]int
}

// NewPins returns an empty pin set.
func NewPins() *Pins { return &Pins{readers: map[string]int{}} }

// Pin adds a reader to each of refs.
func (p *Pins) Pin(refs []BlobRef) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range refs {
		p.readers[r.ID]++
	}
}

// Unpin removes a reader from each of refs and returns the ids that no
// reader holds any more.
func (p *Pins) Unpin(refs []BlobRef) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var free []string
	for _, r := range refs {
		p.readers[r.ID]--
		if p.readers[r.ID] <= 0 {
			delete(p.readers, r.ID)
			free = append(free, r.ID)
		}
	}
	return free
}

// Pinned reports whether a reader holds id.
func (p *Pins) Pinned(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.readers[id] > 0
}

// Reaper deletes the bytes of blobs on the metadata's delete queue once
// they are due (freed longer than Grace ago, or pending and never
// committed) and no reader pins them. With Grace 0, Release deletes freed
// blobs at once, in the request that freed them; otherwise Run deletes them
// in the background.
type Reaper struct {
	Meta  MetaStore
	Blobs BlobStore
	Pins  *Pins
	// Grace is how long a freed blob's bytes are kept.
	Grace time.Duration
	// Interval is how often Run looks for due blobs (default 30 s).
	Interval time.Duration
	Log      *slog.Logger
}

// NewReaper returns a reaper over meta and blobs with its own pin set.
func NewReaper(meta MetaStore, blobs BlobStore, grace time.Duration, log *slog.Logger) *Reaper {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Reaper{Meta: meta, Blobs: blobs, Pins: NewPins(), Grace: grace, Log: log}
}

// reapBatch is how many blobs one claim takes.
const reapBatch = 256

// Release is called after a commit that freed refs (already queued in
// that commit). With no grace period, the unpinned ones are deleted now;
// a failure leaves them queued for Run.
func (r *Reaper) Release(ctx context.Context, freed []BlobRef) {
	if r.Grace > 0 || len(freed) == 0 {
		return
	}
	ids := make([]string, len(freed))
	for i, f := range freed {
		ids[i] = f.ID
	}
	r.reapIDs(context.WithoutCancel(ctx), ids)
}

// Unpin releases a reader's pins; blobs freed meanwhile that no reader
// holds any more are deleted now when there is no grace period.
func (r *Reaper) Unpin(ctx context.Context, refs []BlobRef) {
	free := r.Pins.Unpin(refs)
	if r.Grace > 0 || len(free) == 0 {
		return
	}
	r.reapIDs(context.WithoutCancel(ctx), free)
}

// Discard deletes blobs that were committed by a BlobWriter but whose
// metadata commit failed: they are pending, not yet due, and nobody else
// knows them.
func (r *Reaper) Discard(ctx context.Context, refs []BlobRef) {
	ids := make([]string, 0, len(refs))
	for _, f := range refs {
		if f.ID != "" {
			ids = append(ids, f.ID)
		}
	}
	if len(ids) == 0 {
		return
	}
	ctx = context.WithoutCancel(ctx)
	claimed, err := r.Meta.ClaimDeletes(ctx, time.Now().Add(100*365*24*time.Hour), ids, len(ids), nil)
	if err != nil {
		r.Log.Warn("claim discarded blobs", "err", err, "count", len(ids))
		return
	}
	r.delete(ctx, claimed)
}

func (r *Reaper) reapIDs(ctx context.Context, ids []string) {
	refs, err := r.Meta.ClaimDeletes(ctx, time.Now(), ids, len(ids), r.Pins.Pinned)
	if err != nil {
		r.Log.Warn("claim freed blobs", "err", err, "count", len(ids))
		return
	}
	r.delete(ctx, refs)
}

// delete removes claimed blobs' bytes, then forgets them. A failure keeps
// them in the deleting set, which the next ReapDue retries.
func (r *Reaper) delete(ctx context.Context, refs []BlobRef) error {
	if len(refs) == 0 {
		return nil
	}
	if err := r.Blobs.Delete(ctx, refs...); err != nil {
		r.Log.Warn("delete freed blobs", "err", err, "count", len(refs))
		return err
	}
	ids := make([]string, len(refs))
	for i, f := range refs {
		ids[i] = f.ID
	}
	if err := r.Meta.FinishDeletes(ctx, ids); err != nil {
		r.Log.Warn("finish deletes", "err", err, "count", len(refs))
		return err
	}
	return nil
}

// ReapDue deletes every blob that is due now and not pinned, in batches,
// and returns how many it deleted.
func (r *Reaper) ReapDue(ctx context.Context) (int, error) {
	total := 0
	for {
		refs, err := r.Meta.ClaimDeletes(ctx, time.Now().Add(-r.Grace), nil, reapBatch, r.Pins.Pinned)
		if err != nil {
			return total, err
		}
		if len(refs) == 0 {
			return total, nil
		}
		if err := r.delete(ctx, refs); err != nil {
			return total, err
		}
		total += len(refs)
		if len(refs) < reapBatch {
			return total, nil
		}
	}
}

// Run calls ReapDue every Interval until ctx ends.
func (r *Reaper) Run(ctx context.Context) {
	iv := r.Interval
	if iv <= 0 {
		iv = 30 * time.Second
	}
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		if n, err := r.ReapDue(ctx); err != nil && ctx.Err() == nil {
			r.Log.Warn("reap due blobs", "err", err)
		} else if n > 0 {
			r.Log.Debug("deleted freed blobs", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
