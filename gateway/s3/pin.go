package s3

import (
	"context"
	"slices"
	"sync"

	"github.com/datdot/datdot/gateway/s3err"
	"github.com/datdot/datdot/gateway/store"
)

// pins keeps blobs that requests are reading from being deleted under them:
// a blob freed by a commit while it is pinned is deleted when the last
// reader unpins it.
type pins struct {
	mu      sync.Mutex
	readers map[string]int
	pending map[string]store.BlobRef
}

func newPins() *pins {
	return &pins{readers: map[string]int{}, pending: map[string]store.BlobRef{}}
}

func (p *pins) pin(refs []store.BlobRef) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range refs {
		p.readers[r.ID]++
	}
}

// unpin releases refs and returns the freed blobs nobody reads any more.
func (p *pins) unpin(refs []store.BlobRef) []store.BlobRef {
	p.mu.Lock()
	defer p.mu.Unlock()
	var del []store.BlobRef
	for _, r := range refs {
		p.readers[r.ID]--
		if p.readers[r.ID] > 0 {
			continue
		}
		delete(p.readers, r.ID)
		if f, ok := p.pending[r.ID]; ok {
			delete(p.pending, r.ID)
			del = append(del, f)
		}
	}
	return del
}

// release returns the freed blobs that can go now; pinned ones wait.
func (p *pins) release(refs []store.BlobRef) []store.BlobRef {
	p.mu.Lock()
	defer p.mu.Unlock()
	var now []store.BlobRef
	for _, r := range refs {
		if p.readers[r.ID] > 0 {
			p.pending[r.ID] = r
			continue
		}
		now = append(now, r)
	}
	return now
}

// pinObject pins the blobs of obj for reading and checks that obj is still
// stored with those blobs (a commit between the lookup and the pin may have
// freed them). It returns the unpin function, or errReplaced.
func (q *request) pinObject(bucket string, obj *store.Object) (func(), error) {
	refs := obj.Blobs()
	q.s.pins.pin(refs)
	unpin := func() { q.deleteBlobs(q.s.pins.unpin(refs)) }
	cur, err := q.s.cfg.Meta.GetObject(q.ctx, bucket, obj.Key, obj.VersionID)
	if err != nil || !slices.Equal(cur.Blobs(), refs) {
		unpin()
		return nil, errReplaced
	}
	return unpin, nil
}

// errReplaced: the object changed between lookup and pin; look it up again.
var errReplaced = s3err.InternalError.With("The object changed while it was being read; please retry.")

// free deletes blobs that a committed metadata change no longer references,
// or leaves them to the last reader still reading them.
func (q *request) free(refs []store.BlobRef) {
	q.deleteBlobs(q.s.pins.release(refs))
}

// deleteBlobs removes blobs; a failure only leaves orphans, which the
// startup sweep removes.
func (q *request) deleteBlobs(refs []store.BlobRef) {
	if len(refs) == 0 {
		return
	}
	if err := q.s.cfg.Blobs.Delete(context.WithoutCancel(q.ctx), refs...); err != nil {
		q.s.log.Warn("delete freed blobs", "err", err, "count", len(refs))
	}
}
